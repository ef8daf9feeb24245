"""Whole-network passes and whole training loops, each one compiled call.

Buffers (all 1-D, one dtype, allocated once by the caller and reused every step):
* ``params`` / ``grads`` / ``backup``: [W0 (n0*n1, row-major), b0 (n1), W1, b1, ...];
* ``xbuf`` (n0 * n), ``ybuf`` (K * n): the batch's inputs and targets, feature-major;
* ``zbuf`` / ``abuf`` / ``dbuf``: every layer's pre-activations, activations and deltas, layer l
  occupying a (sizes[l+1], n) block.
``sizes`` (L+1,) and ``activations`` (L,) are int64 arrays describing the network.
Status codes returned by the loops: 0 finished, 1 the loss became NaN/inf, 2 an update did.
"""
import numba
import numpy as np

from .backward import (
    output_delta,
    output_delta_tutorial,
    output_loss,
    output_loss_sum,
    propagate_delta,
    propagate_delta_columns,
    weight_gradient,
    weight_gradient_columns,
)
from .config import kernel, parallel_kernel
from .dense import dense_forward, dense_forward_columns
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
def forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n):
    """Forward through every layer for a batch of n samples (inputs already in xbuf)."""
    A_in = input_block(xbuf, sizes[0], n)
    for l in range(sizes.size - 1):
        W, b = layer_params(params, sizes, l)
        A_out = layer_block(abuf, sizes, l, n)
        dense_forward(W, b, A_in, layer_block(zbuf, sizes, l, n), A_out, activations[l])
        A_in = A_out


@kernel
def gradient_pass(params, grads, sizes, activations, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial):
    """Backward from the stored forward pass into ``grads`` (exact gradient, or the tutorial's step)."""
    last = sizes.size - 2
    Z = layer_block(zbuf, sizes, last, n)
    A = layer_block(abuf, sizes, last, n)
    D = layer_block(dbuf, sizes, last, n)
    Y = input_block(ybuf, sizes[last + 1], n)
    if tutorial:
        output_delta_tutorial(A, Y, D, 0, n)
        bias_scale = 1.0 / n
    else:
        output_delta(Z, A, Y, D, 0, n)
        bias_scale = 1.0
    for l in range(last, -1, -1):
        dW, db = layer_params(grads, sizes, l)
        if l == 0:
            weight_gradient(input_block(xbuf, sizes[0], n), D, dW, db, bias_scale)
        else:
            weight_gradient(layer_block(abuf, sizes, l - 1, n), D, dW, db, bias_scale)
            W, _ = layer_params(params, sizes, l)
            D_prev = layer_block(dbuf, sizes, l - 1, n)
            propagate_delta(W, D, layer_block(zbuf, sizes, l - 1, n),
                            layer_block(abuf, sizes, l - 1, n), D_prev, activations[l - 1])
            D = D_prev


@kernel
def step_columns(params, grads, sizes, activations, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial,
                 k0, k1):
    """Forward, loss and gradient of batch columns k0:k1, explicit loops only (no BLAS).

    ``grads`` receives this slice's share of the batch gradient (the sum over its columns of the
    mode's per-sample terms); other slices write other columns of the workspaces.  Returns the
    slice's (summed loss, number correct).
    """
    last = sizes.size - 2
    A_in = input_block(xbuf, sizes[0], n)
    for l in range(last + 1):
        W, b = layer_params(params, sizes, l)
        A_out = layer_block(abuf, sizes, l, n)
        dense_forward_columns(W, b, A_in, layer_block(zbuf, sizes, l, n), A_out, activations[l],
                              k0, k1)
        A_in = A_out
    Z = layer_block(zbuf, sizes, last, n)
    A = layer_block(abuf, sizes, last, n)
    D = layer_block(dbuf, sizes, last, n)
    Y = input_block(ybuf, sizes[last + 1], n)
    loss_sum, correct = output_loss_sum(Z, A, Y, tutorial, k0, k1)
    if tutorial:
        output_delta_tutorial(A, Y, D, k0, k1)
        bias_scale = 1.0 / n
    else:
        output_delta(Z, A, Y, D, k0, k1)
        bias_scale = 1.0
    for l in range(last, -1, -1):
        dW, db = layer_params(grads, sizes, l)
        if l == 0:
            weight_gradient_columns(input_block(xbuf, sizes[0], n), D, dW, db, bias_scale, k0, k1)
        else:
            weight_gradient_columns(layer_block(abuf, sizes, l - 1, n), D, dW, db, bias_scale,
                                    k0, k1)
            W, _ = layer_params(params, sizes, l)
            D_prev = layer_block(dbuf, sizes, l - 1, n)
            propagate_delta_columns(W, D, layer_block(zbuf, sizes, l - 1, n),
                                    layer_block(abuf, sizes, l - 1, n), D_prev, activations[l - 1],
                                    k0, k1)
            D = D_prev
    return loss_sum, correct


@parallel_kernel
def split_step(params, partial_grads, sizes, activations, xbuf, ybuf, zbuf, abuf, dbuf, n,
               tutorial, losses, corrects):
    """One step with the batch split into partial_grads.shape[0] column slices, one per thread.

    Slice t writes partial_grads[t], losses[t] and corrects[t]; the caller adds them up.
    """
    slices = partial_grads.shape[0]
    for t in numba.prange(slices):
        loss_sum, correct = step_columns(params, partial_grads[t], sizes, activations, xbuf, ybuf,
                                         zbuf, abuf, dbuf, n, tutorial, t * n // slices,
                                         (t + 1) * n // slices)
        losses[t] = loss_sum
        corrects[t] = correct


@kernel
def sum_rows(partial, total):
    """total = partial.sum(axis=0), in row order (deterministic for a given slice count)."""
    for k in range(total.size):
        total[k] = partial[0, k]
    for t in range(1, partial.shape[0]):
        for k in range(total.size):
            total[k] += partial[t, k]


@kernel
def train_full_batch_split(params, grads, backup, partial_grads, sizes, activations, xbuf, ybuf,
                           zbuf, abuf, dbuf, n, lr, tutorial, restorable, losses, accuracies):
    """train_full_batch with every step split across threads by batch columns (split_step).

    For narrow networks, where explicit loops on each thread beat one BLAS call per layer.
    Same contract as train_full_batch.
    """
    n_outputs = sizes[sizes.size - 1]
    slices = partial_grads.shape[0]
    slice_losses = np.zeros(slices)
    slice_corrects = np.zeros(slices, dtype=np.int64)
    for epoch in range(losses.size):
        split_step(params, partial_grads, sizes, activations, xbuf, ybuf, zbuf, abuf, dbuf, n,
                   tutorial, slice_losses, slice_corrects)
        loss = slice_losses.sum() / (n * n_outputs)
        if not np.isfinite(loss):
            if restorable:
                restore(params, backup)
            return epoch, LOSS_NOT_FINITE
        losses[epoch] = loss
        accuracies[epoch] = slice_corrects.sum() / (n * n_outputs)
        sum_rows(partial_grads, grads)
        if not sgd_step(params, grads, lr, backup):
            restore(params, backup)
            return epoch + 1, UPDATE_NOT_FINITE
        restorable = True
    return losses.size, FINISHED


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
    for epoch in range(losses.size):
        loss, correct = network_loss(params, sizes, activations, xbuf, ybuf, zbuf, abuf, n, tutorial)
        if not np.isfinite(loss):
            if restorable:
                restore(params, backup)
            return epoch, LOSS_NOT_FINITE
        losses[epoch] = loss
        accuracies[epoch] = correct / (n * n_outputs)
        gradient_pass(params, grads, sizes, activations, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial)
        if not sgd_step(params, grads, lr, backup):
            restore(params, backup)
            return epoch + 1, UPDATE_NOT_FINITE
        restorable = True
    return losses.size, FINISHED


@kernel
def gather_batch(X, Y, order, start, n, xbuf, ybuf):
    """Copy samples order[start:start+n] of X (N, n0) and Y (N, K) into feature-major blocks."""
    n_in = X.shape[1]
    n_out = Y.shape[1]
    Xb = input_block(xbuf, n_in, n)
    Yb = input_block(ybuf, n_out, n)
    for k in range(n):
        row = order[start + k]
        for i in range(n_in):
            Xb[i, k] = X[row, i]
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
    for epoch in range(order.shape[0]):
        loss_sum = 0.0
        correct = 0
        n_batches = 0
        epoch_order = order[epoch]
        for start in range(0, N, batch_size):
            n = min(batch_size, N - start)
            gather_batch(X, Y, epoch_order, start, n, xbuf, ybuf)
            loss, batch_correct = network_loss(params, sizes, activations, xbuf, ybuf, zbuf, abuf,
                                               n, tutorial)
            if not np.isfinite(loss):
                if restorable:
                    restore(params, backup)
                return epoch, LOSS_NOT_FINITE
            loss_sum += loss
            correct += batch_correct
            n_batches += 1
            gradient_pass(params, grads, sizes, activations, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial)
            if not sgd_step(params, grads, lr, backup):
                restore(params, backup)
                return epoch, UPDATE_NOT_FINITE
            restorable = True
        losses[epoch] = loss_sum / n_batches
        accuracies[epoch] = correct / (N * n_outputs)
    return order.shape[0], FINISHED
