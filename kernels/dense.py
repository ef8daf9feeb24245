"""Dense forward pass with bias and activation fused: ``Z = W.T @ A_in + b``, ``A_out = act(Z)``."""
import numpy as np

from .activations import activate_row
from .config import kernel, use_blas


@kernel
def accumulate_rows(Z, o, W, j, A, start, k0, k1):
    """Z[o] = start + sum_i W[i, j] * A[i] over columns k0:k1 (a reduction over W's rows).

    The inputs are taken four at a time, so each pass over Z[o] does four multiply-adds per
    store -- loads are cheap, stores are what limit an axpy -- and the first pass assigns, so Z[o]
    needs no separate initialisation.
    """
    n_in = W.shape[0]
    i = 0
    while i < n_in:
        width = min(4, n_in - i)
        w0 = W[i, j]
        w1 = W[i + 1, j] if width > 1 else w0 * 0
        w2 = W[i + 2, j] if width > 2 else w0 * 0
        w3 = W[i + 3, j] if width > 3 else w0 * 0
        if width == 4:
            if i == 0:
                for k in range(k0, k1):
                    Z[o, k] = start + ((w0 * A[i, k] + w1 * A[i + 1, k])
                                       + (w2 * A[i + 2, k] + w3 * A[i + 3, k]))
            else:
                for k in range(k0, k1):
                    Z[o, k] += (w0 * A[i, k] + w1 * A[i + 1, k]) + (w2 * A[i + 2, k] + w3 * A[i + 3, k])
        elif width >= 2:
            if i == 0:
                for k in range(k0, k1):
                    Z[o, k] = start + (w0 * A[i, k] + w1 * A[i + 1, k])
            else:
                for k in range(k0, k1):
                    Z[o, k] += w0 * A[i, k] + w1 * A[i + 1, k]
            width = 2
        else:
            if i == 0:
                for k in range(k0, k1):
                    Z[o, k] = start + w0 * A[i, k]
            else:
                for k in range(k0, k1):
                    Z[o, k] += w0 * A[i, k]
        i += width


@kernel
def dense_forward_columns(W, b, A_in, Z, A_out, activation, k0, k1):
    """Explicit-loop forward over batch columns k0:k1 (feature-major, unit-stride inner loops)."""
    zero = Z.dtype.type(0.0)
    for o in range(W.shape[1]):
        accumulate_rows(Z, o, W, o, A_in, b[o], k0, k1)
        activate_row(Z, A_out, o, zero, activation, k0, k1)


@kernel
def dense_forward(W, b, A_in, Z, A_out, activation):
    """One layer, feature-major.

    W: (n_in, n_out), b: (n_out,), A_in: (n_in, n) -> Z, A_out: (n_out, n), all one dtype.
    Thin layers: explicit loops (``dense_forward_columns``).  Others: one BLAS GEMM into Z, then
    one fused bias + activation pass per row.
    """
    n_in, n_out = W.shape
    n = A_in.shape[1]
    if use_blas(n_in, n_out):
        np.dot(W.T, A_in, Z)
        for o in range(n_out):
            activate_row(Z, A_out, o, b[o], activation, 0, n)
    else:
        dense_forward_columns(W, b, A_in, Z, A_out, activation, 0, n)
