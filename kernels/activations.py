"""Activation functions and the hidden layers' derivative, applied in place over feature-major rows.

Codes (``RELU`` for hidden layers, ``SIGMOID`` for the output layer) select the function; the
branch sits outside the loops so each loop stays a plain vectorisable pass.  Constants are built
in the array's own dtype, so float32 arrays never widen to float64; only the sigmoid itself is
evaluated in float64 (``vecmath.sigmoid``, vectorised) and stored in the array's dtype.
"""

from .config import kernel
from .vecmath import sigmoid

RELU = 1
SIGMOID = 2

SIGMOID_LIMIT = 500.0  # the tutorial's clip of z


@kernel(python=False)
def activate_row(Z, A, o, bias, activation):
    """Z[o] += bias, then A[o] = activation(Z[o]) (RELU or SIGMOID; one pass, the row in cache).

    Z, A: (n_out, n).  A zero bias leaves Z unwritten: stores are what bound this pass.
    """
    n = Z.shape[1]
    zero = Z.dtype.type(0.0)
    if bias == zero:
        if activation == RELU:
            for k in range(n):
                z = Z[o, k]
                A[o, k] = zero if z < zero else z
        else:
            for k in range(n):
                A[o, k] = sigmoid(Z[o, k], SIGMOID_LIMIT)
    elif activation == RELU:
        for k in range(n):
            z = Z[o, k] + bias
            Z[o, k] = z
            A[o, k] = zero if z < zero else z
    else:
        for k in range(n):
            z = Z[o, k] + bias
            Z[o, k] = z
            A[o, k] = sigmoid(z, SIGMOID_LIMIT)


@kernel(python=False)
def relu_derivative_row(D, Z, i):
    """D[i] *= relu'(Z[i]) (hidden layers are ReLU); returns the sum of the new D[i], the layer's
    bias gradient, from the same pass.  D, Z: (rows, n)."""
    zero = D.dtype.type(0.0)
    one = D.dtype.type(1.0)
    total = zero
    for k in range(D.shape[1]):
        d = D[i, k] * (one if Z[i, k] > zero else zero)  # a product, as the reference: NaN stays NaN
        D[i, k] = d
        total += d
    return total
