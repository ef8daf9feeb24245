"""Compiled loops for ``python -m fastbp phases`` (fastbp/bench/phases.py): each repeats one phase of
a full-batch training step ``reps`` times inside one compiled call, so that timing them counts
no Python dispatch.  Profiling helpers only: the training itself never calls them.

Buffers and ``sizes``/``codes`` as in ``train`` (see its docstring).
"""
from .backward import output_loss, transpose_into
from .blas import gemm
from .config import kernel
from .products import product
from .train import (
    delta_scratch,
    forward_layers,
    gather_batch,
    gradient_layers,
    input_block,
    inputs_sample_major,
    layer_block,
    layer_params,
    row_length,
    sample_block,
)
from .update import sgd_step


@kernel
def forward_loop(params, sizes, codes, xbuf, zbuf, abuf, n, reps):
    """``reps`` forward passes."""
    for _ in range(reps):
        forward_layers(params, sizes, codes, xbuf, zbuf, abuf, n, False)


@kernel
def loss_loop(sizes, codes, ybuf, zbuf, abuf, n, reps):
    """``reps`` evaluations of the output layer's loss; returns their sum."""
    last = sizes.size - 2
    m = row_length(sizes, n, zbuf.itemsize)
    total = 0.0
    for _ in range(reps):
        total += output_loss(layer_block(zbuf, sizes, last, m), layer_block(abuf, sizes, last, m),
                             input_block(ybuf, sizes[last + 1], m), False, codes[last], n)[0]
    return total


@kernel
def gradient_loop(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, reps):
    """``reps`` gradient passes (exact mode) over the last forward pass's buffers."""
    for _ in range(reps):
        gradient_layers(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, n, False)


@kernel
def update_loop(params, grads, backup, reps):
    """``reps`` SGD updates with lr 0 (the parameters stay as they are)."""
    for _ in range(reps):
        sgd_step(params, grads, 0.0, backup)


@kernel
def products_loop(params, grads, sizes, xbuf, zbuf, abuf, dbuf, n, reps):
    """``reps`` times the step's products alone: every layer's forward, weight-gradient and delta
    BLAS product (``products.product``) into the step's buffers, whatever kernel the layer uses
    in training (the weight gradient through a sample-major copy of the delta where training
    makes one)."""
    n = row_length(sizes, n, zbuf.itemsize)
    for _ in range(reps):
        for l in range(sizes.size - 1):
            W, _ = layer_params(params, sizes, l)
            dW, _ = layer_params(grads, sizes, l)
            Z = layer_block(zbuf, sizes, l, n)
            D = layer_block(dbuf, sizes, l, n)
            if l == 0 and inputs_sample_major(sizes):
                X = sample_block(xbuf, n, sizes[0])
                product(W.T, X.T, Z)
                product(X.T, D.T, dW)
            else:
                A = input_block(xbuf, sizes[0], n) if l == 0 else layer_block(abuf, sizes, l - 1, n)
                product(W.T, A, Z)
                T = delta_scratch(dbuf, sizes, l, n)
                if T.size > 0:
                    transpose_into(D, T)
                    product(A, T, dW)
                else:
                    gemm(A, D.T, dW)
            if l > 0:
                product(W, D, layer_block(dbuf, sizes, l - 1, n))


@kernel
def gather_loop(X, Y, order, n, m, sample_major, xbuf, ybuf, reps):
    """``reps`` copies of a batch of ``n`` samples, in ``order``, out of the data set into the
    batch buffers, rows of m values (a mini-batch step's gather)."""
    for r in range(reps):
        gather_batch(X, Y, order, (r * n) % (order.size - n + 1), n, m, sample_major, xbuf, ybuf)
