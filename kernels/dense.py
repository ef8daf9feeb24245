"""Dense forward pass with bias and activation fused: ``Z = W.T @ A_in + b``, ``A_out = act(Z)``."""
import numpy as np

from .activations import activate_row
from .config import kernel, use_blas


@kernel
def accumulate_rows(Z, o, W, j, A, start):
    """Z[o] = start + sum_i W[i, j] * A[i]: a reduction over W's rows.  Z: (rows, n), A: (n_in, n).

    The inputs are taken four at a time, so each pass over Z[o] does four multiply-adds per
    store -- loads are cheap, stores are what limit an axpy -- and the first pass assigns, so Z[o]
    needs no separate initialisation.
    """
    n_in = W.shape[0]
    n = Z.shape[1]
    i = 0
    while i < n_in:
        width = min(4, n_in - i)
        w0 = W[i, j]
        w1 = W[i + 1, j] if width > 1 else w0 * 0
        w2 = W[i + 2, j] if width > 2 else w0 * 0
        w3 = W[i + 3, j] if width > 3 else w0 * 0
        if width == 4:
            if i == 0:
                for k in range(n):
                    Z[o, k] = start + ((w0 * A[i, k] + w1 * A[i + 1, k])
                                       + (w2 * A[i + 2, k] + w3 * A[i + 3, k]))
            else:
                for k in range(n):
                    Z[o, k] += (w0 * A[i, k] + w1 * A[i + 1, k]) + (w2 * A[i + 2, k] + w3 * A[i + 3, k])
        elif width >= 2:
            if i == 0:
                for k in range(n):
                    Z[o, k] = start + (w0 * A[i, k] + w1 * A[i + 1, k])
            else:
                for k in range(n):
                    Z[o, k] += w0 * A[i, k] + w1 * A[i + 1, k]
            width = 2
        else:
            if i == 0:
                for k in range(n):
                    Z[o, k] = start + w0 * A[i, k]
            else:
                for k in range(n):
                    Z[o, k] += w0 * A[i, k]
        i += width


@kernel
def dense_forward(W, b, A_in, Z, A_out, activation):
    """One layer, feature-major.

    W: (n_in, n_out), b: (n_out,), A_in: (n_in, n) -> Z, A_out: (n_out, n), all one dtype.
    Thin layers: explicit loops over the batch, the bias as the accumulation's start.  Others: one
    BLAS GEMM into Z.  Then one fused (bias +) activation pass per row, while it is in cache.
    """
    n_in, n_out = W.shape
    blas = use_blas(n_in, n_out)
    if blas:
        np.dot(W.T, A_in, Z)
    zero = Z.dtype.type(0.0)
    for o in range(n_out):
        if not blas:
            accumulate_rows(Z, o, W, o, A_in, b[o])
        activate_row(Z, A_out, o, b[o] if blas else zero, activation)
