"""Activation functions and their derivatives, applied in place over feature-major blocks.

Codes (``IDENTITY``, ``RELU``, ``SIGMOID``) select the function; the branch sits outside the
loops so each loop stays a plain vectorisable pass.  Constants are built in the array's own
dtype, so float32 never widens to float64.
"""
import numpy as np

from .config import kernel

IDENTITY = 0
RELU = 1
SIGMOID = 2


@kernel
def bias_activation(Z, A, b, activation, add_bias):
    """Z += b[:, None] (if ``add_bias``), then A = activation(Z).  Z, A: (n_out, n); b: (n_out,)."""
    n_out, n = Z.shape
    zero = Z.dtype.type(0.0)
    one = Z.dtype.type(1.0)
    limit = Z.dtype.type(500.0)
    for o in range(n_out):
        bias = b[o] if add_bias else zero
        if activation == RELU:
            for k in range(n):
                z = Z[o, k] + bias
                Z[o, k] = z
                A[o, k] = zero if z < zero else z
        elif activation == SIGMOID:
            for k in range(n):
                z = Z[o, k] + bias
                Z[o, k] = z
                A[o, k] = one / (one + np.exp(-min(max(z, -limit), limit)))
        else:
            for k in range(n):
                z = Z[o, k] + bias
                Z[o, k] = z
                A[o, k] = z


@kernel
def multiply_by_derivative(D, Z, A, activation):
    """D *= activation'(Z), using the stored A where cheaper.  D, Z, A: (n, m)."""
    rows, n = D.shape
    zero = D.dtype.type(0.0)
    one = D.dtype.type(1.0)
    for i in range(rows):
        if activation == RELU:
            for k in range(n):
                D[i, k] *= one if Z[i, k] > zero else zero
        elif activation == SIGMOID:
            for k in range(n):
                a = A[i, k]
                D[i, k] *= a * (one - a)
