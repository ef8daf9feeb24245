"""Activation functions and their derivatives, applied in place over feature-major rows.

Run-time codes select the function (one compiled loop serves every network): hidden layers use
``RELU``, ``LEAKY_RELU`` (slope ``LEAKY_SLOPE`` below zero), ``TANH``, ``SIGMOID`` or
``IDENTITY``; the output layer's code is its head -- ``SIGMOID`` (binary cross-entropy),
``SOFTMAX`` (categorical cross-entropy) or ``IDENTITY`` (mean squared error).  The branch sits
outside the loops so each loop stays a plain vectorisable pass.  Constants are built in the
array's own dtype, so float32 arrays never widen to float64; only the sigmoid and tanh are
evaluated in float64 (``vecmath.sigmoid``, ``vecmath.tanh``, vectorised) and stored in the array's
dtype.
"""
import numpy as np

from .config import kernel
from .vecmath import exp_neg_any, sigmoid, tanh

IDENTITY = 0
RELU = 1
SIGMOID = 2
TANH = 3
LEAKY_RELU = 4
SOFTMAX = 5

LEAKY_SLOPE = 0.01
SIGMOID_LIMIT = 500.0  # the tutorial's clip of z


@kernel(python=False, linked=False)
def activate_row(Z, A, o, bias, activation, keep_z):
    """A[o] = activation(Z[o] + bias) (one pass, the row in cache).  Z, A: (n_out, n).

    With ``keep_z`` Z[o] is left holding the pre-activations (Z[o] += bias); without, it is not
    written: stores are what bound this pass, and the training passes take every hidden
    derivative from A (``derivative_row``).  SOFTMAX rows are left to ``softmax_columns`` (a
    softmax needs every row of a sample): here A[o] = Z[o].
    """
    n = Z.shape[1]
    zero = Z.dtype.type(0.0)
    store = keep_z and bias != zero
    if activation == RELU and store:
        for k in range(n):
            z = Z[o, k] + bias
            Z[o, k] = z
            A[o, k] = zero if z < zero else z
    elif activation == RELU:
        for k in range(n):
            z = Z[o, k] + bias
            A[o, k] = zero if z < zero else z
    elif activation == SIGMOID and store:
        for k in range(n):
            z = Z[o, k] + bias
            Z[o, k] = z
            A[o, k] = sigmoid(z, SIGMOID_LIMIT)
    elif activation == SIGMOID:
        for k in range(n):
            A[o, k] = sigmoid(Z[o, k] + bias, SIGMOID_LIMIT)
    else:
        if store:
            for k in range(n):
                Z[o, k] += bias
            bias = zero
        if activation == TANH:
            for k in range(n):
                A[o, k] = tanh(Z[o, k] + bias)
        else:  # LEAKY_RELU; IDENTITY and SOFTMAX (finished by softmax_columns) as slope 1
            slope = Z.dtype.type(LEAKY_SLOPE if activation == LEAKY_RELU else 1.0)
            for k in range(n):
                z = Z[o, k] + bias
                A[o, k] = z * slope if z < zero else z


@kernel(python=False, linked=False)
def softmax_columns(Z, A):
    """A[:, k] = softmax(Z[:, k]) for every sample k (stable: shifted by the column's maximum).
    Z, A: (K, n).

    Row by row, so the exponentials are vector passes over the samples
    (``vecmath.exp_neg_any`` of max - z, in float64, reaching 0 where libm's exp does): A[0]
    first holds each column's maximum, then rows 1.. their exponentials, then row 0 its own;
    a last pass per sample divides by the column's sum.
    """
    K, n = Z.shape
    top = A[0]
    for k in range(n):
        top[k] = Z[0, k]
    for o in range(1, K):
        for k in range(n):
            top[k] = max(top[k], Z[o, k])
    for o in range(1, K):
        for k in range(n):
            A[o, k] = exp_neg_any(np.float64(top[k]) - np.float64(Z[o, k]))
    for k in range(n):
        top[k] = exp_neg_any(np.float64(top[k]) - np.float64(Z[0, k]))
    one = A.dtype.type(1.0)
    for k in range(n):
        total = A.dtype.type(0.0)
        for o in range(K):
            total += A[o, k]
        scale = one / total
        for o in range(K):
            A[o, k] *= scale


@kernel(python=False)
def derivative_row(D, A, i, activation):
    """D[i] *= activation'(Z[i]), from the activations A = activation(Z); returns the sum of the
    new D[i] -- the layer's bias gradient -- from the same pass.  D, A: (rows, n).  Products, as
    the reference computes them: NaN stays NaN.  Two loops serve the five activations: the ReLU
    family (slope 1 above zero, 0 or LEAKY_SLOPE below; a > 0 exactly where z > 0, NaN
    included), the others as c0 + c1 a + c2 a^2 (tanh: 1 - a^2; sigmoid: a - a^2; identity: 1).
    No pre-activation is read: the training passes need not store them (``activate_row``)."""
    zero = D.dtype.type(0.0)
    one = D.dtype.type(1.0)
    total = zero
    n = D.shape[1]
    if activation == RELU or activation == LEAKY_RELU:
        slope = D.dtype.type(LEAKY_SLOPE) if activation == LEAKY_RELU else zero
        for k in range(n):
            d = D[i, k] * (one if A[i, k] > zero else slope)
            D[i, k] = d
            total += d
        return total
    c0 = zero if activation == SIGMOID else one
    c1 = one if activation == SIGMOID else zero
    c2 = zero if activation == IDENTITY else -one
    for k in range(n):
        a = A[i, k]
        d = D[i, k] * (c0 + a * (c1 + a * c2))
        D[i, k] = d
        total += d
    return total


@kernel
def softmax(Z, A):
    """softmax_columns callable from Python (tests and benchmarks)."""
    softmax_columns(Z, A)
