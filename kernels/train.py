"""Whole-network passes and whole training loops, each one compiled call.

Buffers (all 1-D, one dtype, allocated once by the caller and reused every step):
* ``params`` / ``grads`` / ``backup``: [W0 (n0*n1, row-major), b0 (n1), W1, b1, ...];
* ``xbuf`` (n0 * n): the batch's inputs, feature-major (n0, n) -- or sample-major (n, n0) when
  the first layer is a BLAS product (``inputs_sample_major``): BLAS reads the transposed view
  for free, and a mini-batch gather then copies whole rows instead of transposing them (the
  60000x784 mini-batch epoch: 40 vs 132 us per 128-sample batch);
* ``ybuf`` (K * n): the batch's targets, feature-major;
* ``zbuf`` / ``abuf`` / ``dbuf``: every layer's pre-activations, activations and deltas, layer l
  occupying a (sizes[l+1], n) block.
``sizes`` (L+1,) and ``activations`` (L,) are int64 arrays describing the network.
Status codes returned by the loops: 0 finished, 1 the loss became NaN/inf, 2 an update did.
"""
import numpy as np

from .backward import (
    bias_gradient,
    output_delta,
    output_delta_tutorial,
    output_loss,
    propagate_delta,
    weight_gradient,
)
from .config import kernel, use_blas
from .dense import bias_activation, dense_forward
from .update import restore, sgd_step

FINISHED = 0
LOSS_NOT_FINITE = 1
UPDATE_NOT_FINITE = 2


@kernel
def layer_params(buf, sizes, layer):
    """Views (W (n_in, n_out), b (n_out,)) of one layer inside a flat parameter buffer."""
    offset = 0
    for l in range(layer):
        offset += sizes[l] * sizes[l + 1] + sizes[l + 1]
    n_in = sizes[layer]
    n_out = sizes[layer + 1]
    W = buf[offset:offset + n_in * n_out].reshape((n_in, n_out))
    b = buf[offset + n_in * n_out:offset + n_in * n_out + n_out]
    return W, b


@kernel
def layer_block(buf, sizes, layer, n):
    """The (sizes[layer+1], n) block of layer ``layer`` inside a flat per-layer workspace."""
    offset = 0
    for l in range(layer):
        offset += sizes[l + 1]
    return buf[offset * n:(offset + sizes[layer + 1]) * n].reshape((sizes[layer + 1], n))


@kernel
def input_block(buf, width, n):
    """The (width, n) block at the start of a flat buffer (inputs or targets)."""
    return buf[:width * n].reshape((width, n))


@kernel
def inputs_sample_major(sizes):
    """True when xbuf holds the inputs sample-major: the first layer is a BLAS product."""
    return use_blas(sizes[0], sizes[1])


@kernel(inline=True)
def sample_block(buf, n, width):
    """The (n, width) sample-major block at the start of a flat buffer."""
    return buf[:n * width].reshape((n, width))


@kernel(inline=True)
def forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n):
    """Forward through every layer for a batch of n samples (inputs already in xbuf)."""
    for l in range(sizes.size - 1):
        W, b = layer_params(params, sizes, l)
        Z = layer_block(zbuf, sizes, l, n)
        A_out = layer_block(abuf, sizes, l, n)
        if l > 0:
            dense_forward(W, b, layer_block(abuf, sizes, l - 1, n), Z, A_out, activations[l])
        elif inputs_sample_major(sizes):  # dense_forward's BLAS path on the transposed batch
            np.dot(W.T, sample_block(xbuf, n, sizes[0]).T, Z)
            bias_activation(Z, b, A_out, activations[0])
        else:
            dense_forward(W, b, input_block(xbuf, sizes[0], n), Z, A_out, activations[0])


@kernel(inline=True)
def gradient_pass(params, grads, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial):
    """Backward from the stored forward pass into ``grads`` (exact gradient, or the tutorial's step)."""
    last = sizes.size - 2
    A = layer_block(abuf, sizes, last, n)
    D = layer_block(dbuf, sizes, last, n)
    Y = input_block(ybuf, sizes[last + 1], n)
    if tutorial:
        output_delta_tutorial(A, Y, D)
        bias_scale = 1.0 / n
    else:
        output_delta(A, Y, D)
        bias_scale = 1.0
    _, db = layer_params(grads, sizes, last)
    bias_gradient(D, db, bias_scale)
    for l in range(last, -1, -1):
        dW, _ = layer_params(grads, sizes, l)
        if l == 0 and inputs_sample_major(sizes):  # weight_gradient's BLAS path, transposed batch
            np.dot(sample_block(xbuf, n, sizes[0]).T, D.T, dW)
        elif l == 0:
            weight_gradient(input_block(xbuf, sizes[0], n), D, dW)
        else:
            weight_gradient(layer_block(abuf, sizes, l - 1, n), D, dW)
            W, _ = layer_params(params, sizes, l)
            _, db_prev = layer_params(grads, sizes, l - 1)
            D_prev = layer_block(dbuf, sizes, l - 1, n)
            propagate_delta(W, D, layer_block(zbuf, sizes, l - 1, n), D_prev, db_prev, bias_scale)
            D = D_prev


@kernel
def network_loss(params, sizes, activations, xbuf, ybuf, zbuf, abuf, n, tutorial):
    """Forward pass, then (mean loss, number of correct predictions)."""
    forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n)
    last = sizes.size - 2
    return output_loss(layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n),
                       input_block(ybuf, sizes[last + 1], n), tutorial)


@kernel
def train_full_batch(params, grads, backup, sizes, activations, xbuf, ybuf, zbuf, abuf, dbuf,
                     n, lr, tutorial, restorable, losses, accuracies):
    """Full-batch gradient descent for ``losses.size`` epochs on the n samples in xbuf/ybuf.

    Records each epoch's loss and accuracy before its update.  Returns (epochs recorded, status);
    on a non-finite loss or update the parameters are restored to the last state whose loss was
    finite (``restorable``: ``backup`` already holds the state before the latest update).
    """
    n_outputs = sizes[sizes.size - 1]
    last = sizes.size - 2
    Z = layer_block(zbuf, sizes, last, n)
    A = layer_block(abuf, sizes, last, n)
    Y = input_block(ybuf, n_outputs, n)
    for epoch in range(losses.size):
        forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n)
        loss, correct = output_loss(Z, A, Y, tutorial)
        if not np.isfinite(loss):
            if restorable:
                restore(params, backup)
            return epoch, LOSS_NOT_FINITE
        losses[epoch] = loss
        accuracies[epoch] = correct / (n * n_outputs)
        gradient_pass(params, grads, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial)
        if not sgd_step(params, grads, lr, backup):
            restore(params, backup)
            return epoch + 1, UPDATE_NOT_FINITE
        restorable = True
    return losses.size, FINISHED


@kernel
def gather_batch(X, Y, order, start, n, sample_major, xbuf, ybuf):
    """Copy samples order[start:start+n] of X (N, n0) and Y (N, K) into the batch buffers.

    Targets go feature-major; inputs sample-major (whole rows) when ``sample_major``, otherwise
    feature-major: a transpose of rows picked at random, done in 8-sample x 64-feature tiles so
    the reads of eight rows and the writes of eight columns both stay in cache (2x faster than
    row by row).
    """
    n_in = X.shape[1]
    n_out = Y.shape[1]
    if sample_major:
        Xs = sample_block(xbuf, n, n_in)
        for k in range(n):
            row = order[start + k]
            for i in range(n_in):
                Xs[k, i] = X[row, i]
    else:
        Xb = input_block(xbuf, n_in, n)
        for k0 in range(0, n, 8):
            k1 = min(k0 + 8, n)
            for i0 in range(0, n_in, 64):
                i1 = min(i0 + 64, n_in)
                for k in range(k0, k1):
                    row = order[start + k]
                    for i in range(i0, i1):
                        Xb[i, k] = X[row, i]
    Yb = input_block(ybuf, n_out, n)
    for k in range(n):
        row = order[start + k]
        for o in range(n_out):
            Yb[o, k] = Y[row, o]


@kernel
def train_minibatch(params, grads, backup, sizes, activations, X, Y, order, batch_size,
                    xbuf, ybuf, zbuf, abuf, dbuf, lr, tutorial, restorable, losses, accuracies):
    """Mini-batch SGD, one epoch per row of ``order`` (epochs, N): each batch steps on its mean gradient.

    X: (N, n0), Y: (N, K) sample-major.  Records per epoch the mean of the batch losses (each before
    its batch's update) and the accuracy over those batches.  Returns (epochs recorded, status).
    """
    N = X.shape[0]
    n_outputs = Y.shape[1]
    sample_major = inputs_sample_major(sizes)
    for epoch in range(order.shape[0]):
        loss_sum = 0.0
        correct = 0
        n_batches = 0
        epoch_order = order[epoch]
        for start in range(0, N, batch_size):
            n = min(batch_size, N - start)
            gather_batch(X, Y, epoch_order, start, n, sample_major, xbuf, ybuf)
            forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n)
            loss, batch_correct = output_loss(layer_block(zbuf, sizes, sizes.size - 2, n),
                                              layer_block(abuf, sizes, sizes.size - 2, n),
                                              input_block(ybuf, n_outputs, n), tutorial)
            if not np.isfinite(loss):
                if restorable:
                    restore(params, backup)
                return epoch, LOSS_NOT_FINITE
            loss_sum += loss
            correct += batch_correct
            n_batches += 1
            gradient_pass(params, grads, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial)
            if not sgd_step(params, grads, lr, backup):
                restore(params, backup)
                return epoch, UPDATE_NOT_FINITE
            restorable = True
        losses[epoch] = loss_sum / n_batches
        accuracies[epoch] = correct / (N * n_outputs)
    return order.shape[0], FINISHED
