"""Dense forward pass with bias and activation fused: ``Z = W.T @ A_in + b``, ``A_out = act(Z)``."""

from .activations import RELU, activate_row
from .config import kernel, use_blas
from .products import product


@kernel(inline=True)
def weight_block(W, i, o):
    """W[i:i + 4, o:o + 4] as sixteen scalars, row by row (product_loops' four-by-four passes)."""
    return (W[i, o], W[i, o + 1], W[i, o + 2], W[i, o + 3],
            W[i + 1, o], W[i + 1, o + 1], W[i + 1, o + 2], W[i + 1, o + 3],
            W[i + 2, o], W[i + 2, o + 1], W[i + 2, o + 2], W[i + 2, o + 3],
            W[i + 3, o], W[i + 3, o + 1], W[i + 3, o + 2], W[i + 3, o + 3])


@kernel(python=False, linked=False)
def product_loops(W, A, Z, b, Y, relu_out):
    """Z = W.T @ A + b with explicit loops over the batch.  W: (n_in, n_out), A: (n_in, n),
    b: (n_out,), or empty for no bias -> Z: (n_out, n).

    Register blocks of four outputs by four inputs: each pass over the batch loads four input
    rows once for all four outputs and does 16 multiply-adds per 4 stores (one output row at a
    time is bound by its loads and stores); a block's first pass assigns, starting
    from the bias, so it needs no initialisation pass and the activation pass no bias.  The last
    n_out % 4 rows go one at a time, four inputs per pass.
    With ``relu_out`` the product goes on through a ReLU into Y (n_out, n): the last pass of
    each block of four outputs stores relu(z) into Y instead of z into Z -- the same values as an
    activation pass after it, without a pass over the rows nor their stores of z (Z is left
    holding partial sums there); the last n_out % 4 rows get their ReLU pass after the product.
    Callers pass W with any layout (``W[::1]`` or ``W.T[::1]``, typed 'A'): one compiled version
    serves the forward pass and the transposed product of the backward pass.
    """
    n_in, n_out = W.shape
    n = A.shape[1]
    zero = Z.dtype.type(0.0)
    with_bias = b.size > 0
    rem = n_in % 4
    last = 0  # inputs of the last pass when it stores relu(z) into Y: 4, 2 or 1
    if relu_out:
        last = 4 if rem == 0 else (2 if rem == 2 else 1)
    end4 = n_in - rem - (4 if last == 4 else 0)  # the plain four-input passes cover [0, end4)
    o = 0
    while o + 4 <= n_out:
        z0, z1, z2, z3 = Z[o], Z[o + 1], Z[o + 2], Z[o + 3]
        y0, y1, y2, y3 = Y[o], Y[o + 1], Y[o + 2], Y[o + 3]
        s0, s1, s2, s3 = zero, zero, zero, zero
        if with_bias:
            s0, s1, s2, s3 = b[o], b[o + 1], b[o + 2], b[o + 3]
        i = 0
        while i + 4 <= end4:
            a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
            (w00, w01, w02, w03, w10, w11, w12, w13,
             w20, w21, w22, w23, w30, w31, w32, w33) = weight_block(W, i, o)
            if i == 0:
                for k in range(n):
                    x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                    z0[k] = s0 + ((w00 * x0 + w10 * x1) + (w20 * x2 + w30 * x3))
                    z1[k] = s1 + ((w01 * x0 + w11 * x1) + (w21 * x2 + w31 * x3))
                    z2[k] = s2 + ((w02 * x0 + w12 * x1) + (w22 * x2 + w32 * x3))
                    z3[k] = s3 + ((w03 * x0 + w13 * x1) + (w23 * x2 + w33 * x3))
            else:
                for k in range(n):
                    x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                    z0[k] += (w00 * x0 + w10 * x1) + (w20 * x2 + w30 * x3)
                    z1[k] += (w01 * x0 + w11 * x1) + (w21 * x2 + w31 * x3)
                    z2[k] += (w02 * x0 + w12 * x1) + (w22 * x2 + w32 * x3)
                    z3[k] += (w03 * x0 + w13 * x1) + (w23 * x2 + w33 * x3)
            i += 4
        if last == 4:  # the last four inputs, through the ReLU into Y
            a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
            (w00, w01, w02, w03, w10, w11, w12, w13,
             w20, w21, w22, w23, w30, w31, w32, w33) = weight_block(W, i, o)
            if i == 0:
                for k in range(n):
                    x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                    t0 = s0 + ((w00 * x0 + w10 * x1) + (w20 * x2 + w30 * x3))
                    t1 = s1 + ((w01 * x0 + w11 * x1) + (w21 * x2 + w31 * x3))
                    t2 = s2 + ((w02 * x0 + w12 * x1) + (w22 * x2 + w32 * x3))
                    t3 = s3 + ((w03 * x0 + w13 * x1) + (w23 * x2 + w33 * x3))
                    y0[k] = zero if t0 < zero else t0
                    y1[k] = zero if t1 < zero else t1
                    y2[k] = zero if t2 < zero else t2
                    y3[k] = zero if t3 < zero else t3
            else:
                for k in range(n):
                    x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                    t0 = z0[k] + ((w00 * x0 + w10 * x1) + (w20 * x2 + w30 * x3))
                    t1 = z1[k] + ((w01 * x0 + w11 * x1) + (w21 * x2 + w31 * x3))
                    t2 = z2[k] + ((w02 * x0 + w12 * x1) + (w22 * x2 + w32 * x3))
                    t3 = z3[k] + ((w03 * x0 + w13 * x1) + (w23 * x2 + w33 * x3))
                    y0[k] = zero if t0 < zero else t0
                    y1[k] = zero if t1 < zero else t1
                    y2[k] = zero if t2 < zero else t2
                    y3[k] = zero if t3 < zero else t3
            i += 4
        if i + 2 <= n_in:  # two of the last n_in % 4 inputs in one pass (2-wide input layers)
            a0, a1 = A[i], A[i + 1]
            w00, w01, w02, w03 = W[i, o], W[i, o + 1], W[i, o + 2], W[i, o + 3]
            w10, w11, w12, w13 = W[i + 1, o], W[i + 1, o + 1], W[i + 1, o + 2], W[i + 1, o + 3]
            if last == 2 and i == 0:
                for k in range(n):
                    x0, x1 = a0[k], a1[k]
                    t0 = s0 + (w00 * x0 + w10 * x1)
                    t1 = s1 + (w01 * x0 + w11 * x1)
                    t2 = s2 + (w02 * x0 + w12 * x1)
                    t3 = s3 + (w03 * x0 + w13 * x1)
                    y0[k] = zero if t0 < zero else t0
                    y1[k] = zero if t1 < zero else t1
                    y2[k] = zero if t2 < zero else t2
                    y3[k] = zero if t3 < zero else t3
            elif last == 2:
                for k in range(n):
                    x0, x1 = a0[k], a1[k]
                    t0 = z0[k] + (w00 * x0 + w10 * x1)
                    t1 = z1[k] + (w01 * x0 + w11 * x1)
                    t2 = z2[k] + (w02 * x0 + w12 * x1)
                    t3 = z3[k] + (w03 * x0 + w13 * x1)
                    y0[k] = zero if t0 < zero else t0
                    y1[k] = zero if t1 < zero else t1
                    y2[k] = zero if t2 < zero else t2
                    y3[k] = zero if t3 < zero else t3
            elif i == 0:
                for k in range(n):
                    x0, x1 = a0[k], a1[k]
                    z0[k] = s0 + (w00 * x0 + w10 * x1)
                    z1[k] = s1 + (w01 * x0 + w11 * x1)
                    z2[k] = s2 + (w02 * x0 + w12 * x1)
                    z3[k] = s3 + (w03 * x0 + w13 * x1)
            else:
                for k in range(n):
                    x0, x1 = a0[k], a1[k]
                    z0[k] += w00 * x0 + w10 * x1
                    z1[k] += w01 * x0 + w11 * x1
                    z2[k] += w02 * x0 + w12 * x1
                    z3[k] += w03 * x0 + w13 * x1
            i += 2
        if i < n_in:  # the last odd input
            a0 = A[i]
            w0, w1, w2, w3 = W[i, o], W[i, o + 1], W[i, o + 2], W[i, o + 3]
            if last == 1 and i == 0:
                for k in range(n):
                    x = a0[k]
                    t0, t1, t2, t3 = s0 + w0 * x, s1 + w1 * x, s2 + w2 * x, s3 + w3 * x
                    y0[k] = zero if t0 < zero else t0
                    y1[k] = zero if t1 < zero else t1
                    y2[k] = zero if t2 < zero else t2
                    y3[k] = zero if t3 < zero else t3
            elif last == 1:
                for k in range(n):
                    x = a0[k]
                    t0, t1, t2, t3 = z0[k] + w0 * x, z1[k] + w1 * x, z2[k] + w2 * x, z3[k] + w3 * x
                    y0[k] = zero if t0 < zero else t0
                    y1[k] = zero if t1 < zero else t1
                    y2[k] = zero if t2 < zero else t2
                    y3[k] = zero if t3 < zero else t3
            elif i == 0:
                for k in range(n):
                    x = a0[k]
                    z0[k], z1[k], z2[k], z3[k] = s0 + w0 * x, s1 + w1 * x, s2 + w2 * x, s3 + w3 * x
            else:
                for k in range(n):
                    x = a0[k]
                    z0[k] += w0 * x
                    z1[k] += w1 * x
                    z2[k] += w2 * x
                    z3[k] += w3 * x
        o += 4
    while o < n_out:  # the last n_out % 4 rows, one at a time, four inputs per pass
        z = Z[o]
        start = b[o] if with_bias else zero
        for k in range(n):
            z[k] = start
        i = 0
        while i + 4 <= n_in:
            a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
            w0, w1, w2, w3 = W[i, o], W[i + 1, o], W[i + 2, o], W[i + 3, o]
            for k in range(n):
                z[k] += (w0 * a0[k] + w1 * a1[k]) + (w2 * a2[k] + w3 * a3[k])
            i += 4
        while i < n_in:
            a0 = A[i]
            w0 = W[i, o]
            for k in range(n):
                z[k] += w0 * a0[k]
            i += 1
        if relu_out:
            y = Y[o]
            for k in range(n):
                y[k] = zero if z[k] < zero else z[k]
        o += 1


@kernel(inline=True)
def bias_activation(Z, b, A_out, activation, keep_z):
    """A_out = activation(Z + b) (per row), and Z += b when ``keep_z``: one pass per row.
    Z, A_out: (n_out, n), b: (n_out,), or empty when Z already holds the bias."""
    zero = Z.dtype.type(0.0)
    for o in range(Z.shape[0]):
        activate_row(Z, A_out, o, b[o] if b.size > 0 else zero, activation, keep_z)


@kernel(inline=True)
def dense_forward(W, b, A_in, Z, A_out, activation, keep_z):
    """One layer, feature-major.

    W: (n_in, n_out), b: (n_out,), A_in: (n_in, n) -> A_out: (n_out, n), and Z (n_out, n) the
    pre-activations when ``keep_z`` (else Z is scratch: the training passes, whose derivatives
    come from A_out), all one dtype.
    Thin layers: explicit loops over the batch, starting from the bias -- a ReLU layer whose Z
    is not kept takes its activation in the product's last pass, others then get an activation
    pass that stores A only; wide layers: one BLAS GEMM into Z, then one fused bias + activation
    pass per row.  A SOFTMAX layer's A holds Z here: the caller finishes it (softmax_columns,
    once per network rather than in every inlined copy of this function).
    """
    n_in, n_out = W.shape
    if use_blas(n_in, n_out):
        product(W.T, A_in, Z)
        bias_activation(Z, b, A_out, activation, keep_z)
    elif activation == RELU and not keep_z:
        product_loops(W[::1], A_in, Z, b, A_out, True)
    else:
        product_loops(W[::1], A_in, Z, b, A_out, False)
        bias_activation(Z, b[:0], A_out, activation, keep_z)
