"""Backward pass: the output delta with the loss fused in, delta propagation with the activation
derivative fused in, and the weight/bias gradient reductions.  All arrays feature-major.

Output heads (the output layer's activation code), each loss computed stably from the logits z:
* ``SIGMOID``: binary cross-entropy, mean over all n * K outputs: max(z, 0) - z*y + log1p(exp(-|z|));
  delta = (a - y) / (n K).  In tutorial mode (``tutorial=True``) the tutorial's
  ``bce_derivative(y, a) * sigmoid_derivative(z)`` (clipped, divided by n only) and its clipped loss.
* ``SOFTMAX``: categorical cross-entropy, mean over the n samples: logsumexp(z) - sum(y z) for
  target rows y that sum to 1; delta = (a - y) / n.
* ``IDENTITY``: mean squared error over all n * K outputs: (z - y)^2; delta = 2 (z - y) / (n K).
"""
import numpy as np

from .activations import IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SOFTMAX, derivative_row
from .blas import blas_threads, gemm
from .config import kernel, product_rows, use_blas
from .dense import product_loops
from .products import product
from .vecmath import log_half_to_one


@kernel(python=False)
def bce_clip_bounds(A):
    """The tutorial's clip range [1e-15, 1 - 1e-15] in A's dtype, kept strictly inside (0, 1)."""
    lo = A.dtype.type(1e-15)
    one = A.dtype.type(1.0)
    hi = one - lo
    if hi == one:  # float32: 1 - 1e-15 rounds to 1, which would make log(1 - a) = -inf
        hi = one - A.dtype.type(2.0**-24)
    return lo, hi


@kernel(inline=True)
def head_values(K, n, head):
    """How many values a head's loss is a mean over: samples (softmax) or outputs (the others)."""
    return n if head == SOFTMAX else K * n


@kernel
def output_loss(Z, A, Y, tutorial, head, n):
    """Mean loss of the head over the first n samples and their number of correct predictions.
    Z, A, Y: (K, >= n)."""
    total, correct = output_loss_sum(Z, A, Y, tutorial, head, n)
    return total / head_values(Z.shape[0], n, head), correct


@kernel(python=False, linked=False)
def output_loss_sum(Z, A, Y, tutorial, head, n):
    """Summed loss (float64) and the number of correct predictions: outputs with (a > 0.5) == y
    (sigmoid), samples whose largest output is the target's largest (softmax), none (identity).
    Z, A, Y: (K, >= n); the first n samples (columns) count."""
    if head == SOFTMAX:
        return softmax_loss_sum(Z, A, Y, n)
    if head == IDENTITY:
        total = 0.0
        for o in range(Z.shape[0]):
            for k in range(n):
                e = np.float64(Z[o, k]) - np.float64(Y[o, k])
                total += e * e
        return total, 0
    return bce_loss_sum(Z, A, Y, tutorial, n)


@kernel(python=False, linked=False)
def softmax_loss_sum(Z, A, Y, n):
    """Summed categorical cross-entropy (float64) and the number of samples whose largest
    probability is at the target's largest entry.  Z, A, Y: (K, >= n), the first n samples."""
    K = Z.shape[0]
    total = 0.0
    correct = 0
    for k in range(n):
        top = np.float64(Z[0, k])
        best, target = 0, 0
        for o in range(1, K):
            top = max(top, np.float64(Z[o, k]))
            if A[o, k] > A[best, k]:
                best = o
            if Y[o, k] > Y[target, k]:
                target = o
        exps = 0.0
        dot = 0.0
        mass = 0.0
        for o in range(K):
            z = np.float64(Z[o, k])
            y = np.float64(Y[o, k])
            exps += np.exp(z - top)
            dot += y * z
            mass += y
        total += mass * (top + np.log(exps)) - dot
        correct += best == target
    return total, correct


@kernel(python=False)
def bce_loss_sum(Z, A, Y, tutorial, n):
    """Summed BCE (float64) and the number of correct predictions (a > 0.5) == y over the first n
    samples.  Z, A, Y: (K, >= n)."""
    K = Z.shape[0]
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
                a = A[o, k]
                c = min(max(a, lo), hi)
                total -= y * np.log(c) + (one - y) * np.log(one - c)
                correct += (one if a > half else zero) == y
        else:
            # log1p(exp(-|z|)) = -log(sigmoid(|z|)) = -log(max(a, 1 - a)): one log per sample
            # instead of exp + log1p, from the activation the forward pass already computed; the
            # argument lies in [0.5, 1], so nothing cancels (absolute error ~1e-16 per sample),
            # and on that range a vectorisable log serves.
            for k in range(n):
                z = Z[o, k]
                a = A[o, k]
                y = Y[o, k]
                total += max(z, zero) - z * y - log_half_to_one(np.float64(max(a, one - a)))
                correct += (one if a > half else zero) == y
    return total, correct


@kernel(python=False, linked=False)
def output_delta(A, Y, D, n_mean, head, n):
    """Exact output delta D = dLoss/dZ of the head: (A - Y) / (K n_mean) (sigmoid),
    (A - Y) / n_mean (softmax), 2 (A - Y) / (K n_mean) (identity, A = Z), for the first n
    samples; 0 in the columns past them (a block's padding).  A, Y, D: (K, >= n).

    ``n_mean``: the number of samples the loss is a mean over -- n, or the whole batch when these
    n samples are one block's share of it.
    """
    K, width = A.shape
    if head == SOFTMAX:
        scale = A.dtype.type(1.0) / A.dtype.type(n_mean)
    elif head == IDENTITY:
        scale = A.dtype.type(2.0) / A.dtype.type(K * n_mean)
    else:
        scale = A.dtype.type(1.0) / A.dtype.type(K * n_mean)
    zero = A.dtype.type(0.0)
    for o in range(K):
        for k in range(n):
            D[o, k] = (A[o, k] - Y[o, k]) * scale
        for k in range(n, width):
            D[o, k] = zero


@kernel(python=False, linked=False)
def output_delta_tutorial(A, Y, D, n_mean, n):
    """The tutorial's output delta: bce_derivative(y, a) * a (1 - a), divided by n_mean (rows)
    only, for the first n samples; 0 past them.  A, Y, D: (K, >= n)."""
    K, width = A.shape
    one = A.dtype.type(1.0)
    inv_n = one / A.dtype.type(n_mean)
    lo, hi = bce_clip_bounds(A)
    for o in range(K):
        for k in range(n):
            y = Y[o, k]
            a = A[o, k]
            c = min(max(a, lo), hi)
            D[o, k] = -(y / c - (one - y) / (one - c)) * inv_n * (a * (one - a))
        for k in range(n, width):
            D[o, k] = A.dtype.type(0.0)


@kernel(inline=True)
def propagate_delta(W, D, A_prev, D_prev, db_prev, bias_scale, activation):
    """D_prev = (W @ D) * activation'(Z_prev) (into a hidden layer whose activations are
    A_prev = activation(Z_prev): the derivative is taken from them, derivative_row), and that
    layer's bias gradient from the same pass: db_prev = bias_scale * D_prev.sum(axis=1) (see
    bias_gradient).

    W: (n_in, n_out), D: (n_out, n) -> D_prev: (n_in, n), db_prev: (n_in,).
    """
    n_in, n_out = W.shape
    scale = D.dtype.type(bias_scale)
    if use_blas(n_in, n_out):
        product(W, D, D_prev)
    elif n_out <= 2 and (activation == RELU or activation == LEAKY_RELU):
        gated_delta(W, D, A_prev, D_prev, db_prev, LEAKY_SLOPE if activation == LEAKY_RELU else 0.0)
        for i in range(n_in):
            db_prev[i] *= scale
        return
    else:
        product_loops(W.T[::1], D, D_prev, D[0, :0], D_prev, False)  # no bias
    for i in range(n_in):
        db_prev[i] = derivative_row(D_prev, A_prev, i, activation) * scale


@kernel(python=False, linked=False)
def gated_delta(W, D, A_prev, D_prev, sums, slope):
    """D_prev = (W @ D) * (1 where A_prev > 0, else ``slope``) -- a delta into a ReLU-family
    layer, its derivative taken from the activations -- and sums = D_prev.sum(axis=1), in one
    pass over the batch for every block of four rows: for a layer of one or two outputs (W:
    (n_in, 1 or 2)), whose product is a single pass, so that a separate derivative pass would
    read and write every row again.  D: (n_out, n) -> D_prev: (n_in, n), sums: (n_in,).
    One output is computed as two with the second weight 0 (exactly the same values for finite
    deltas; a non-finite delta gives a non-finite row either way).  Kept apart from
    product_loops, whose other loops ran slower with more of them in one function
    (docs/decisions.md).
    """
    n_in, n_out = W.shape
    n = D.shape[1]
    zero = D.dtype.type(0.0)
    one = D.dtype.type(1.0)
    below = D.dtype.type(slope)
    e0 = D[0]
    e1 = D[n_out - 1]
    i = 0
    while i < n_in:
        rows = min(4, n_in - i)
        i0, i1, i2, i3 = i, i + min(1, rows - 1), i + min(2, rows - 1), i + min(3, rows - 1)
        v00, v10, v20, v30 = W[i0, 0], W[i1, 0], W[i2, 0], W[i3, 0]
        v01, v11, v21, v31 = zero, zero, zero, zero
        if n_out == 2:
            v01, v11, v21, v31 = W[i0, 1], W[i1, 1], W[i2, 1], W[i3, 1]
        g0, g1, g2, g3 = A_prev[i0], A_prev[i1], A_prev[i2], A_prev[i3]
        d0, d1, d2, d3 = D_prev[i0], D_prev[i1], D_prev[i2], D_prev[i3]
        c0, c1, c2, c3 = zero, zero, zero, zero
        for k in range(n):
            x0, x1 = e0[k], e1[k]
            t0 = (v00 * x0 + v01 * x1) * (one if g0[k] > zero else below)
            t1 = (v10 * x0 + v11 * x1) * (one if g1[k] > zero else below)
            t2 = (v20 * x0 + v21 * x1) * (one if g2[k] > zero else below)
            t3 = (v30 * x0 + v31 * x1) * (one if g3[k] > zero else below)
            d3[k] = t3
            d2[k] = t2
            d1[k] = t1
            d0[k] = t0
            c0, c1, c2, c3 = c0 + t0, c1 + t1, c2 + t2, c3 + t3
        sums[i3], sums[i2], sums[i1], sums[i0] = c3, c2, c1, c0
        i += rows


@kernel(python=False, linked=False)
def weight_gradient_loops(A_in, D, dW, n):
    """dW = A_in[:, :n] @ D[:, :n].T with explicit loops: a block of two inputs by four outputs per
    pass over the batch, eight running sums in registers (an odd last input is paired with
    itself, its copy discarded).  A_in: (n_in, >= n), D: (n_out, >= n) -> dW: (n_in, n_out).
    Training passes a block's whole padded rows (zero inputs and deltas there, train.py)."""
    n_in = A_in.shape[0]
    n_out = D.shape[0]
    zero = D.dtype.type(0.0)
    for i in range(0, n_in, 2):
        pair = i + 1 < n_in
        a0 = A_in[i]
        a1 = A_in[i + 1] if pair else a0
        o = 0
        while o + 4 <= n_out:
            d0, d1, d2, d3 = D[o], D[o + 1], D[o + 2], D[o + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
            for k in range(n):
                x0, x1 = a0[k], a1[k]
                e0, e1, e2, e3 = d0[k], d1[k], d2[k], d3[k]
                s00 += x0 * e0
                s01 += x0 * e1
                s02 += x0 * e2
                s03 += x0 * e3
                s10 += x1 * e0
                s11 += x1 * e1
                s12 += x1 * e2
                s13 += x1 * e3
            dW[i, o], dW[i, o + 1], dW[i, o + 2], dW[i, o + 3] = s00, s01, s02, s03
            if pair:
                dW[i + 1, o], dW[i + 1, o + 1], dW[i + 1, o + 2], dW[i + 1, o + 3] = s10, s11, s12, s13
            o += 4
        while o < n_out:
            d0 = D[o]
            s0 = s1 = zero
            for k in range(n):
                s0 += a0[k] * d0[k]
                s1 += a1[k] * d0[k]
            dW[i, o] = s0
            if pair:
                dW[i + 1, o] = s1
            o += 1


@kernel(inline=True)
def bias_gradient(D, db, bias_scale):
    """db = bias_scale * D.sum(axis=1).  D: (n_out, n) -> db: (n_out,).

    ``bias_scale`` is 1 for the exact gradient and 1/n for the tutorial's ``delta.mean(axis=0)``.
    """
    zero = D.dtype.type(0.0)
    scale = D.dtype.type(bias_scale)
    for o in range(D.shape[0]):
        acc = zero
        for k in range(D.shape[1]):
            acc += D[o, k]
        db[o] = acc * scale


@kernel(python=False, linked=False)
def transpose_into(D, T):
    """T = D.T: D (rows, n) -> T (n, rows), row by row of T."""
    rows, n = D.shape
    for k in range(n):
        t = T[k]
        for o in range(rows):
            t[o] = D[o, k]


@kernel(inline=True)
def weight_gradient(A_in, D, dW, T, n):
    """dW = A_in @ D.T over the first n columns.  A_in: (n_in, >= n), D: (n_out, >= n) -> dW:
    (n_in, n_out); a BLAS product's operands hold exactly n columns (row_length).

    T: an (n, n_out) buffer for a BLAS product to lay D out sample-major in first (then
    ``A_in @ T``; ``config.delta_sample_major`` says where that is faster), or an empty array.
    A product past the small-matrix permit is laid out so for its blocks of rows only: on a
    pool of several BLAS threads (no blocks, products.product) it goes whole as it is.
    The bias gradient comes from bias_gradient (output layer) or propagate_delta (hidden layers,
    fused into the derivative pass).
    """
    n_in = A_in.shape[0]
    n_out = D.shape[0]
    if use_blas(n_in, n_out):
        threaded = product_rows(n_in, n_out, n, dW.itemsize) < n_in and blas_threads(dW) > 1
        if T.size > 0 and not threaded:
            transpose_into(D, T)
            product(A_in, T, dW)
        else:
            gemm(A_in, D.T, dW)
    else:
        weight_gradient_loops(A_in, D, dW, n)


@kernel
def head_delta(A, Y, D, n_mean, head, tutorial):
    """output_delta (or output_delta_tutorial) callable from Python, for tests and benchmarks:
    compiled only when called, so the training loops' first compilation does not pay for a
    Python wrapper."""
    if tutorial:
        output_delta_tutorial(A, Y, D, n_mean, A.shape[1])
    else:
        output_delta(A, Y, D, n_mean, head, A.shape[1])
