"""Backward pass: the output delta with the loss fused in, delta propagation with the activation
derivative fused in, and the weight/bias gradient reductions.  All arrays feature-major.

Output head: sigmoid + binary cross-entropy, in two modes.
* exact (``tutorial=False``): delta = (a - y) / (n * K), the exact gradient of the mean BCE; the
  loss is computed stably from the logits: max(z, 0) - z*y + log1p(exp(-|z|)).
* tutorial (``tutorial=True``): the tutorial's ``bce_derivative(y, a) * sigmoid_derivative(z)``
  (clipped, divided by n only) and its clipped BCE loss.
"""
import numpy as np

from .activations import derivative_row
from .config import kernel, use_blas
from .dense import accumulate_rows


@kernel
def bce_clip_bounds(A):
    """The tutorial's clip range [1e-15, 1 - 1e-15] in A's dtype, kept strictly inside (0, 1)."""
    lo = A.dtype.type(1e-15)
    one = A.dtype.type(1.0)
    hi = one - lo
    if hi == one:  # float32: 1 - 1e-15 rounds to 1, which would make log(1 - a) = -inf
        hi = one - A.dtype.type(2.0**-24)
    return lo, hi


@kernel
def output_loss(Z, A, Y, tutorial):
    """Mean BCE and the number of correct predictions (a > 0.5) == y.  Z, A, Y: (K, n)."""
    K, n = Z.shape
    zero = Z.dtype.type(0.0)
    one = Z.dtype.type(1.0)
    half = Z.dtype.type(0.5)
    lo, hi = bce_clip_bounds(A)
    total = 0.0  # float64 accumulator, whatever the dtype
    correct = 0
    for o in range(K):
        if tutorial:
            for k in range(n):
                y = Y[o, k]
                a = min(max(A[o, k], lo), hi)
                total -= y * np.log(a) + (one - y) * np.log(one - a)
        else:
            # log1p(exp(-|z|)) = -log(sigmoid(|z|)) = -log(max(a, 1 - a)): one log per sample
            # instead of exp + log1p, from the activation the forward pass already computed; the
            # argument lies in [0.5, 1], so nothing cancels (absolute error ~1e-16 per sample).
            for k in range(n):
                z = Z[o, k]
                a = A[o, k]
                total += max(z, zero) - z * Y[o, k] - np.log(max(a, one - a))
        for k in range(n):
            predicted = one if A[o, k] > half else zero
            correct += predicted == Y[o, k]
    return total / (K * n), correct


@kernel
def output_delta(Z, A, Y, D):
    """Exact output delta D = (A - Y) / (K n).  Z, A, Y, D: (K, n)."""
    K, n = A.shape
    scale = A.dtype.type(1.0) / A.dtype.type(K * n)
    for o in range(K):
        for k in range(n):
            D[o, k] = (A[o, k] - Y[o, k]) * scale


@kernel
def output_delta_tutorial(A, Y, D):
    """The tutorial's output delta: bce_derivative(y, a) * a (1 - a), divided by n (rows) only."""
    K, n = A.shape
    one = A.dtype.type(1.0)
    inv_n = one / A.dtype.type(n)
    lo, hi = bce_clip_bounds(A)
    for o in range(K):
        for k in range(n):
            y = Y[o, k]
            a = A[o, k]
            c = min(max(a, lo), hi)
            D[o, k] = -(y / c - (one - y) / (one - c)) * inv_n * (a * (one - a))


@kernel
def propagate_delta(W, D, Z_prev, A_prev, D_prev, activation):
    """D_prev = (W @ D) * act'(Z_prev).  W: (n_in, n_out), D: (n_out, n) -> D_prev: (n_in, n)."""
    n_in, n_out = W.shape
    blas = use_blas(n_in, n_out)
    if blas:
        np.dot(W, D, D_prev)
    zero = D.dtype.type(0.0)
    WT = W.T
    for i in range(n_in):
        if not blas:  # four deltas at a time: D_prev[i] = sum_o W[i, o] D[o]
            accumulate_rows(D_prev, i, WT, i, D, zero)
        derivative_row(D_prev, Z_prev, A_prev, i, activation)


@kernel
def weight_gradient_loops(A_in, D, dW):
    """dW = A_in @ D.T with explicit loops: four outputs at a time, each pass over the batch keeping
    four running sums in registers."""
    n_in, n = A_in.shape
    n_out = D.shape[0]
    zero = D.dtype.type(0.0)
    for i in range(n_in):
        o = 0
        while o + 4 <= n_out:
            acc0 = zero
            acc1 = zero
            acc2 = zero
            acc3 = zero
            for k in range(n):
                a = A_in[i, k]
                acc0 += a * D[o, k]
                acc1 += a * D[o + 1, k]
                acc2 += a * D[o + 2, k]
                acc3 += a * D[o + 3, k]
            dW[i, o] = acc0
            dW[i, o + 1] = acc1
            dW[i, o + 2] = acc2
            dW[i, o + 3] = acc3
            o += 4
        while o < n_out:
            acc = zero
            for k in range(n):
                acc += A_in[i, k] * D[o, k]
            dW[i, o] = acc
            o += 1


@kernel
def weight_gradient(A_in, D, dW, db, bias_scale):
    """dW = A_in @ D.T and db = bias_scale * D.sum(axis=1).

    A_in: (n_in, n), D: (n_out, n) -> dW: (n_in, n_out), db: (n_out,).  ``bias_scale`` is 1 for the
    exact gradient and 1/n for the tutorial's ``delta.mean(axis=0)``.
    """
    n_in, n = A_in.shape
    n_out = D.shape[0]
    if use_blas(n_in, n_out):
        np.dot(A_in, D.T, dW)
    else:
        weight_gradient_loops(A_in, D, dW)
    zero = D.dtype.type(0.0)
    scale = D.dtype.type(bias_scale)
    for o in range(n_out):
        acc = zero
        for k in range(n):
            acc += D[o, k]
        db[o] = acc * scale
