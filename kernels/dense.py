"""Dense forward pass with bias and activation fused: ``Z = W.T @ A_in + b``, ``A_out = act(Z)``."""
import numpy as np

from .activations import bias_activation
from .config import BLAS_MIN_FLOPS, kernel


@kernel
def dense_forward(W, b, A_in, Z, A_out, activation):
    """One layer, feature-major.

    W: (n_in, n_out), b: (n_out,), A_in: (n_in, n) -> Z, A_out: (n_out, n), all one dtype.
    Small layers: explicit loops whose inner loop runs over the batch (unit stride), bias as the
    accumulator's start and the activation applied while the row is in cache.  Large layers: one
    BLAS GEMM into Z, then one fused bias + activation pass.
    """
    n_in, n_out = W.shape
    n = A_in.shape[1]
    if n_in * n_out * n >= BLAS_MIN_FLOPS:
        np.dot(W.T, A_in, Z)
        bias_activation(Z, A_out, b, activation, True)
        return
    for o in range(n_out):
        bias = b[o]
        for k in range(n):
            Z[o, k] = bias
        for i in range(n_in):
            w = W[i, o]
            for k in range(n):
                Z[o, k] += w * A_in[i, k]
    bias_activation(Z, A_out, b, activation, False)
