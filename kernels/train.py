"""Whole-network passes and whole training loops, each one compiled call.

Buffers (all one dtype, allocated once by the caller and reused every step):
* ``params`` / ``grads`` / ``backup``: [W0 (n0*n1, row-major), b0 (n1), W1, b1, ...];
* ``xbuf`` (n0 * n): a batch's inputs, feature-major (n0, n) -- or sample-major (n, n0) when
  the first layer is a BLAS product (``inputs_sample_major``): BLAS reads the transposed view
  for free, and a mini-batch gather then copies whole rows instead of transposing them;
* ``ybuf`` (K * n): the batch's targets, feature-major;
* ``zbuf`` / ``abuf`` / ``dbuf``: every layer's pre-activations, activations and deltas, layer l
  occupying a (sizes[l+1], n) block.
``sizes`` (L+1,) and ``codes`` (L,, the activation codes) are int64 arrays describing the network.

The training loops take three records (named tuples, so the loops keep short signatures):
* ``Net(params, backup, sizes, codes)`` -- the network;
* ``Blocks(x, y, z, a, d, grads)`` -- the fixed partition of every batch into ``n_blocks`` blocks
  (``policy.reduction_blocks``): row b of each (n_blocks, ...) array is block b's workspace, and
  ``grads[b]`` its share of the gradient;
* ``Team(board, shared, n_workers)`` -- the barrier board and the shared loss/flag slots of the
  ``n_workers`` threads that run the loop together (``fastbp.team``); and
* ``Settings(tutorial, wait_window_ns, wait_limit)`` -- the loop's constants;
* ``Optimizer(code, momentum, nesterov, beta1, beta2, eps, weight_decay)`` and
  ``OptimizerState(velocity, m, v, decay)`` -- the update rule and its state (``update.py``);
* ``Validation(x, y, z, a, n, losses, accuracies, stop, best)`` -- the validation set's buffers
  (n = 0: none), its per-epoch results, and early stopping's state and best parameters.

Reproducibility: every step sums the blocks' losses and gradients in block order, whichever
worker computed a block, so a fit gives the same bits with one worker or several, and when the
team hands over to one worker mid-fit.  Worker w computes blocks ``share(n_blocks, w, n_workers)``
and updates its share of the parameters; the workers meet at spin barriers (``sync.barrier``)
twice per step -- so the whole loop stays one compiled call per thread.

Status codes returned by the loops: 0 finished, 1 the loss became NaN/inf, 2 an update did,
3 aborted (another worker failed), 4 too slow (the workers stopped after a complete epoch
because they spent much of their time waiting for a worker without a core; the caller
continues on one), 5 stopped early (after a complete epoch).
"""
from collections import namedtuple

import numpy as np

from .activations import SOFTMAX, softmax_columns
from .backward import (
    bias_gradient,
    head_values,
    output_delta,
    output_delta_tutorial,
    output_loss,
    output_loss_sum,
    propagate_delta,
    weight_gradient,
)
from .blas import gemm
from .config import kernel, use_blas
from .dense import bias_activation, dense_forward
from .sync import SLOT, barrier, monotonic_ns
from .update import copy_into, optimizer_step_blocks, restore_range

Net = namedtuple("Net", "params backup sizes codes")
Blocks = namedtuple("Blocks", "x y z a d grads")
Team = namedtuple("Team", "board shared n_workers")
Settings = namedtuple("Settings", "tutorial wait_window_ns wait_limit")
Validation = namedtuple("Validation", "x y z a n losses accuracies stop best")

FINISHED = 0
LOSS_NOT_FINITE = 1
UPDATE_NOT_FINITE = 2
ABORTED = 3  # another worker failed outside compiled code
TOO_SLOW = 4  # the workers spent much of their time waiting: continue on one worker
STOPPED = 5  # early stopping: the validation loss stopped improving

# Fields of the slots on the shared float64 board: block b's loss and correct count in slot b,
# worker w's flags and waiting times in slot w.
LOSS = 0
CORRECT = 1
FINITE = 2
WAITED = 3   # nanoseconds the worker waited at barriers in the current window
ELAPSED = 4  # nanoseconds since the current window started, for that worker
STOP = 5     # (slot 0 only) worker 0 stopped early: the others return at their next barrier



@kernel(python=False)
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


@kernel(python=False)
def layer_block(buf, sizes, layer, n):
    """The (sizes[layer+1], n) block of layer ``layer`` inside a flat per-layer workspace."""
    offset = 0
    for l in range(layer):
        offset += sizes[l + 1]
    return buf[offset * n:(offset + sizes[layer + 1]) * n].reshape((sizes[layer + 1], n))


@kernel(python=False)
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
def forward_pass(params, sizes, codes, xbuf, zbuf, abuf, n):
    """Forward through every layer for a batch of n samples (inputs already in xbuf)."""
    for l in range(sizes.size - 1):
        W, b = layer_params(params, sizes, l)
        Z = layer_block(zbuf, sizes, l, n)
        A_out = layer_block(abuf, sizes, l, n)
        if l > 0:
            dense_forward(W, b, layer_block(abuf, sizes, l - 1, n), Z, A_out, codes[l])
        elif inputs_sample_major(sizes):  # dense_forward's BLAS path on the transposed batch
            gemm(W.T, sample_block(xbuf, n, sizes[0]).T, Z)
            bias_activation(Z, b, A_out, codes[0])
        else:
            dense_forward(W, b, input_block(xbuf, sizes[0], n), Z, A_out, codes[0])
    last = sizes.size - 2
    if codes[last] == SOFTMAX:  # the output layer's softmax over each sample's outputs
        softmax_columns(layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n))


@kernel(inline=True)
def gradient_pass(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, n_mean, tutorial):
    """Backward from the stored forward pass into ``grads`` (exact gradient, or the tutorial's step).

    The n samples' share of the mean over ``n_mean`` samples (n_mean = n unless the n samples are
    one worker's part of a larger batch: then the workers' ``grads`` sum to the batch's).
    """
    last = sizes.size - 2
    A = layer_block(abuf, sizes, last, n)
    D = layer_block(dbuf, sizes, last, n)
    Y = input_block(ybuf, sizes[last + 1], n)
    if tutorial:
        output_delta_tutorial(A, Y, D, n_mean)
        bias_scale = 1.0 / n_mean
    else:
        output_delta(A, Y, D, n_mean, codes[last])
        bias_scale = 1.0
    _, db = layer_params(grads, sizes, last)
    bias_gradient(D, db, bias_scale)
    for l in range(last, -1, -1):
        dW, _ = layer_params(grads, sizes, l)
        if l == 0 and inputs_sample_major(sizes):  # weight_gradient's BLAS path, transposed batch
            gemm(sample_block(xbuf, n, sizes[0]).T, D.T, dW)
        elif l == 0:
            weight_gradient(input_block(xbuf, sizes[0], n), D, dW)
        else:
            weight_gradient(layer_block(abuf, sizes, l - 1, n), D, dW)
            W, _ = layer_params(params, sizes, l)
            _, db_prev = layer_params(grads, sizes, l - 1)
            D_prev = layer_block(dbuf, sizes, l - 1, n)
            propagate_delta(W, D, layer_block(zbuf, sizes, l - 1, n),
                            layer_block(abuf, sizes, l - 1, n), D_prev, db_prev, bias_scale,
                            codes[l - 1])
            D = D_prev


@kernel
def network_loss(params, sizes, codes, xbuf, ybuf, zbuf, abuf, n, tutorial):
    """Forward pass, then (mean loss of the head, number of correct predictions)."""
    forward_pass(params, sizes, codes, xbuf, zbuf, abuf, n)
    last = sizes.size - 2
    return output_loss(layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n),
                       input_block(ybuf, sizes[last + 1], n), tutorial, codes[last])


@kernel
def loss_and_gradient(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, tutorial):
    """Forward pass, the gradient into ``grads``, and (mean loss, number correct): one call."""
    forward_pass(params, sizes, codes, xbuf, zbuf, abuf, n)
    last = sizes.size - 2
    result = output_loss(layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n),
                         input_block(ybuf, sizes[last + 1], n), tutorial, codes[last])
    gradient_pass(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, n, tutorial)
    return result


@kernel(inline=True)
def share(count, part, n_parts, multiple):
    """[start, stop) of ``part``'s share of range(count) split in ``n_parts``: contiguous, inner
    bounds multiples of ``multiple`` (1 for samples and blocks; 16 for parameters, so no two
    workers write one cache line)."""
    start = (count * part // n_parts) // multiple * multiple
    stop = count if part == n_parts - 1 else (count * (part + 1) // n_parts) // multiple * multiple
    return start, stop


@kernel(inline=True)
def combine(shared, n_slots, field):
    """Sum of ``field`` over the first ``n_slots`` slots of the shared board, in slot order."""
    total = 0.0
    for s in range(n_slots):
        total += shared[s * SLOT + field]
    return total


@kernel(inline=True)
def block_step(net, blocks, b, n, n_mean, tutorial, shared):
    """Forward, loss and gradient of block b's n samples (already in its buffers), the gradient
    as this block's share of the mean over ``n_mean`` samples; the block's loss sum and correct
    count published in its slot."""
    sizes = net.sizes
    if n == 0:  # a last batch smaller than the number of blocks
        blocks.grads[b][:] = 0
        shared[b * SLOT + LOSS] = 0.0
        shared[b * SLOT + CORRECT] = 0.0
        return
    x, y, z, a, d = blocks.x[b], blocks.y[b], blocks.z[b], blocks.a[b], blocks.d[b]
    forward_pass(net.params, sizes, net.codes, x, z, a, n)
    last = sizes.size - 2
    loss_sum, correct = output_loss_sum(layer_block(z, sizes, last, n), layer_block(a, sizes, last, n),
                                        input_block(y, sizes[last + 1], n), tutorial,
                                        net.codes[last])
    gradient_pass(net.params, blocks.grads[b], sizes, net.codes, x, y, z, a, d, n, n_mean, tutorial)
    shared[b * SLOT + LOSS] = loss_sum
    shared[b * SLOT + CORRECT] = correct


@kernel(inline=True)
def finish_step(worker, net, blocks, team, settings, opt, state, lr, t, restorable, steps,
                n_values, window_start, waited):
    """The end of one training step for one worker, after it computed its blocks (block_step):
    barrier, combine every block's loss (over ``n_values`` values) and correct count in block
    order; if the loss is finite, update this worker's share of the parameters with the blocks'
    gradients summed in block order (``optimizer_step_blocks``: step ``t`` of the optimizer at
    rate ``lr``), barrier.  ``steps``: the steps this worker finished before (two barriers each);
    ``window_start`` and ``waited``: the start of its current waiting window (monotonic_ns) and
    its barrier waits in it, in nanoseconds.

    Returns (status, loss, correct, window_start, waited): FINISHED; TOO_SLOW (finished, but in
    the window that just closed some worker waited more than ``wait_limit`` of the time: the
    rest should run on one worker); LOSS_NOT_FINITE (nothing updated; the worker's share restored
    from ``backup`` if ``restorable``); UPDATE_NOT_FINITE (some share of the update was not
    finite: every worker restored its share); ABORTED; STOPPED (worker 0 stopped early).
    """
    n_workers = team.n_workers
    shared = team.shared
    params = net.params
    slot = worker * SLOT
    n_blocks = blocks.grads.shape[0]
    wait = barrier(team.board, worker, n_workers, 2 * steps + 1)
    if wait < 0:
        return ABORTED, 0.0, 0.0, window_start, waited
    if shared[STOP] != 0.0:  # worker 0 stopped early after the last epoch
        return STOPPED, 0.0, 0.0, window_start, waited
    waited += wait
    loss = combine(shared, n_blocks, LOSS) / n_values
    correct_total = combine(shared, n_blocks, CORRECT)
    first, stop = share(params.size, worker, n_workers, 16)
    if not np.isfinite(loss):
        if restorable:
            restore_range(params, net.backup, first, stop)
        return LOSS_NOT_FINITE, loss, correct_total, window_start, waited
    finite = optimizer_step_blocks(params, blocks.grads, lr, net.backup, first, stop, opt, state, t)
    now = monotonic_ns() if n_workers > 1 else 0
    shared[slot + FINITE] = 1.0 if finite else 0.0
    shared[slot + WAITED] = waited
    shared[slot + ELAPSED] = now - window_start
    wait = barrier(team.board, worker, n_workers, 2 * steps + 2)
    if wait < 0:
        return ABORTED, loss, correct_total, window_start, waited
    if combine(shared, n_workers, FINITE) < n_workers:
        restore_range(params, net.backup, first, stop)
        return UPDATE_NOT_FINITE, loss, correct_total, window_start, waited + wait
    if n_workers == 1:
        return FINISHED, loss, correct_total, window_start, waited
    # Every worker reads the same published values here, so all decide alike.
    if shared[ELAPSED] < settings.wait_window_ns:  # worker 0's window is still open
        return FINISHED, loss, correct_total, window_start, waited + wait
    for w in range(n_workers):
        if shared[w * SLOT + WAITED] > settings.wait_limit * shared[w * SLOT + ELAPSED]:
            return TOO_SLOW, loss, correct_total, now, wait
    return FINISHED, loss, correct_total, now, wait


@kernel(inline=True)
def validate(net, val, epoch, tutorial):
    """Worker 0, after an epoch: the validation set's mean loss and accuracy into val.losses[epoch]
    and val.accuracies[epoch]; then early stopping's bookkeeping (``val.stop``: best loss, epochs
    since, patience, min_delta, on): an improvement over the best by more than min_delta keeps a
    copy of the parameters in ``val.best``.  Returns True when training should stop."""
    sizes, codes = net.sizes, net.codes
    n = val.n
    last = sizes.size - 2
    # network_loss: compiled once, called (not a second inlined copy of the forward pass)
    loss, correct = network_loss(net.params, sizes, codes, val.x, val.y, val.z, val.a, n, tutorial)
    val.losses[epoch] = loss
    val.accuracies[epoch] = correct / head_values(sizes[last + 1], n, codes[last])
    state = val.stop
    if state[4] == 0.0:
        return False
    if loss < state[0] - state[3]:
        state[0] = loss
        state[1] = 0.0
        copy_into(val.best, net.params)
    else:
        state[1] += 1.0
    return state[1] >= state[2]


@kernel(inline=True)
def end_of_epoch(worker, net, team, val, settings, epoch, steps, others_go_on):
    """Worker 0's validation after an epoch (nothing for the others, nor without validation data).
    When early stopping says stop, worker 0 raises the STOP flag and -- if the others go on to
    another step (``others_go_on``) -- meets them at their next barrier, where they see it;
    returns True then."""
    if worker != 0 or val.n == 0:
        return False
    if not validate(net, val, epoch, settings.tutorial):
        return False
    if team.n_workers > 1 and others_go_on:
        team.shared[STOP] = 1.0
        barrier(team.board, 0, team.n_workers, 2 * steps + 1)
    return True


@kernel
def train_full_batch(worker, net, blocks, team, settings, opt, state, val, n_total, t0,
                     restorable, lrs, losses, accuracies):
    """Full-batch gradient descent for ``losses.size`` epochs, epoch e at rate ``lrs[e]``; one
    worker's part of it.

    Block b holds samples share(n_total, b, n_blocks) in its buffers (loaded by the caller).
    Each epoch every worker computes its blocks, then finish_step: barrier, each worker updates
    its share of the parameters (optimizer step ``t0 + epoch + 1``) from the blocks' gradients,
    barrier.  With one worker the barriers cost nothing.  Worker 0 records each epoch's loss and
    accuracy (before its update), and the validation set's after it (``val``).

    Returns (epochs recorded, status); on a non-finite loss or update the parameters are restored
    to the last state whose loss was finite (``restorable``: ``backup`` already holds the state
    before the latest update).
    """
    sizes = net.sizes
    last = sizes.size - 2
    n_values = head_values(sizes[last + 1], n_total, net.codes[last])
    n_blocks = blocks.grads.shape[0]
    first_block, end_block = share(n_blocks, worker, team.n_workers, 1)
    window_start = monotonic_ns() if team.n_workers > 1 else 0
    waited = 0
    for epoch in range(losses.size):
        for b in range(first_block, end_block):
            start, stop = share(n_total, b, n_blocks, 1)
            block_step(net, blocks, b, stop - start, n_total, settings.tutorial, team.shared)
        status, loss, correct, window_start, waited = finish_step(
            worker, net, blocks, team, settings, opt, state, lrs[epoch], t0 + epoch + 1,
            restorable, epoch, n_values, window_start, waited)
        if status == LOSS_NOT_FINITE or status == ABORTED or status == STOPPED:
            return epoch, status
        if worker == 0:
            losses[epoch] = loss
            accuracies[epoch] = correct / n_values
        if status == UPDATE_NOT_FINITE:
            return epoch + 1, status
        go_on = status == FINISHED and epoch + 1 < losses.size
        if end_of_epoch(worker, net, team, val, settings, epoch, epoch + 1, go_on):
            return epoch + 1, STOPPED
        if status == TOO_SLOW:  # after a complete epoch
            return epoch + 1, status
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
def train_minibatch(worker, net, blocks, team, settings, opt, state, val, X, Y, order, batch_size,
                    t0, restorable, lrs, losses, accuracies):
    """Mini-batch training, one epoch per row of ``order`` (epochs, N) at rate ``lrs[epoch]``:
    each batch steps on its mean gradient (optimizer steps counted on from ``t0``); one worker's
    part of it.

    X: (N, n0), Y: (N, K) sample-major, shared.  Every batch is split into the blocks as
    train_full_batch splits the samples (each block's share gathered into its buffers, which
    hold ceil(batch_size / n_blocks) samples), with the same two barriers per step.  Worker 0
    records per epoch the mean of the batch losses (each before its batch's update), the
    accuracy over those batches, and the validation set's loss and accuracy after the epoch.
    Returns (epochs recorded, status).
    """
    N = X.shape[0]
    n_blocks = blocks.grads.shape[0]
    n_outputs = Y.shape[1]
    head = net.codes[net.sizes.size - 2]
    sample_major = inputs_sample_major(net.sizes)
    first_block, end_block = share(n_blocks, worker, team.n_workers, 1)
    steps = 0
    window_start = monotonic_ns() if team.n_workers > 1 else 0
    waited = 0
    too_slow = False
    for epoch in range(order.shape[0]):
        loss_sum = 0.0
        correct_sum = 0.0
        n_batches = 0
        epoch_order = order[epoch]
        for start in range(0, N, batch_size):
            n_batch = min(batch_size, N - start)
            for b in range(first_block, end_block):
                begin, end = share(n_batch, b, n_blocks, 1)
                if end > begin:
                    gather_batch(X, Y, epoch_order, start + begin, end - begin, sample_major,
                                 blocks.x[b], blocks.y[b])
                block_step(net, blocks, b, end - begin, n_batch, settings.tutorial, team.shared)
            status, loss, correct, window_start, waited = finish_step(
                worker, net, blocks, team, settings, opt, state, lrs[epoch], t0 + steps + 1,
                restorable, steps, head_values(n_outputs, n_batch, head), window_start, waited)
            steps += 1
            if status == TOO_SLOW:  # all workers see it at the same step: finish the epoch
                too_slow = True
            elif status != FINISHED:
                return epoch, status
            loss_sum += loss
            correct_sum += correct
            n_batches += 1
            restorable = True
        if worker == 0:
            losses[epoch] = loss_sum / n_batches
            accuracies[epoch] = correct_sum / head_values(n_outputs, N, head)
        go_on = not too_slow and epoch + 1 < order.shape[0]
        if end_of_epoch(worker, net, team, val, settings, epoch, steps, go_on):
            return epoch + 1, STOPPED
        if too_slow:
            return epoch + 1, TOO_SLOW
    return order.shape[0], FINISHED
