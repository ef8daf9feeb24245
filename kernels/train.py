"""Whole-network passes and whole training loops, each one compiled call.

Buffers (all one dtype, allocated once by the caller and reused every step):
* ``params`` / ``grads`` / ``backup``: [W0 (n0*n1, row-major), b0 (n1), W1, b1, ...];
* ``xbuf`` (n0 * m): a batch's inputs, feature-major (n0, m) -- or sample-major (n, n0) when
  the first layer is a BLAS product (``inputs_sample_major``): BLAS reads the transposed view
  for free, and a mini-batch gather then copies whole rows instead of transposing them;
* ``ybuf`` (K * m): the batch's targets, feature-major;
* ``zbuf`` / ``abuf`` / ``dbuf``: every layer's pre-activations, activations and deltas, layer l
  occupying a (sizes[l+1], m) block -- in the training passes a hidden layer's zbuf block is
  scratch (``forward_layers``' ``keep_z``: every hidden derivative comes from the activations).
Feature-major rows hold m = ``row_length(sizes, n, itemsize)`` values for n samples: n rounded up
to whole cache lines when every layer runs the loop kernels, which run measurably faster on rows
that start on a cache line (docs/decisions.md).  The passes compute the padding columns along,
as a zero input to every layer (the inputs' padding is zero, and so is every hidden layer's
activation there, set after its pass: the pre-activations there are the biases, never an
overflow), and the output delta is set to zero there, so every delta is zero there and they add
exactly nothing to a gradient; the losses count the first n columns only.  m = n when a layer is
a BLAS product.
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

from .activations import IDENTITY, SOFTMAX, softmax_columns
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
from .config import delta_sample_major, kernel, use_blas
from .dense import bias_activation, dense_forward
from .products import product
from .sync import SLOT, barrier, monotonic_ns
from .update import copy_into, optimizer_step_blocks, restore_range
from .views import matrix

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

# What early stopping monitors (Validation.stop[4]).
NO_MONITOR = 0
VAL_LOSS = 1
VAL_SCORE = 2
TRAIN_LOSS = 3



@kernel(python=False)
def layer_params(buf, sizes, layer):
    """Views (W (n_in, n_out), b (n_out,)) of one layer inside a flat parameter buffer."""
    offset = 0
    for l in range(layer):
        offset += sizes[l] * sizes[l + 1] + sizes[l + 1]
    n_in = sizes[layer]
    n_out = sizes[layer + 1]
    W = matrix(buf, offset, n_in, n_out)
    b = buf[offset + n_in * n_out:offset + n_in * n_out + n_out]
    return W, b


@kernel
def row_length(sizes, n, itemsize):
    """Values per feature-major row for a batch of n samples (see the module docstring): n, or
    n rounded up to a multiple of 64 bytes when no layer of ``sizes`` is a BLAS product."""
    for l in range(sizes.size - 1):
        if use_blas(sizes[l], sizes[l + 1]):
            return n
    per_line = 64 // itemsize
    return (n + per_line - 1) // per_line * per_line


@kernel(inline=True)
def layer_block(buf, sizes, layer, n):
    """The (sizes[layer+1], n) block of layer ``layer`` inside a flat per-layer workspace
    (n: the row length)."""
    offset = 0
    for l in range(layer):
        offset += sizes[l + 1]
    return matrix(buf, offset * n, sizes[layer + 1], n)


@kernel(inline=True)
def input_block(buf, width, n):
    """The (width, n) block at the start of a flat buffer (inputs or targets; n: the row
    length)."""
    return matrix(buf, 0, width, n)


@kernel
def inputs_sample_major(sizes):
    """True when xbuf holds the inputs sample-major: the first layer is a BLAS product."""
    return use_blas(sizes[0], sizes[1])


@kernel(inline=True)
def sample_block(buf, n, width):
    """The (n, width) sample-major block at the start of a flat buffer."""
    return matrix(buf, 0, n, width)


@kernel(inline=True)
def delta_scratch(dbuf, sizes, layer, n):
    """Where weight_gradient may lay layer ``layer``'s delta out sample-major: an (n, n_out) view
    of the space of layer ``layer - 1``'s delta (n_out <= n_in, so it fits), which
    propagate_delta fills only after that product -- when ``config.delta_sample_major`` says so;
    else an empty view."""
    n_in, n_out = sizes[layer], sizes[layer + 1]
    if layer > 0 and delta_sample_major(n_in, n_out, n, dbuf.itemsize == 4):
        offset = 0
        for l in range(layer - 1):
            offset += sizes[l + 1]
        return matrix(dbuf, offset * n, n, n_out)
    return matrix(dbuf, 0, 0, 0)


@kernel(python=False, linked=False)
def forward_layers(params, sizes, codes, xbuf, zbuf, abuf, n, keep_z):
    """Forward through every layer for a batch of n samples (inputs already in xbuf), padding
    columns included: a hidden layer's activations are set to zero there, so every padding
    column is the zero input to each layer (its pre-activations the biases, always finite).
    The output layer's pre-activations are always kept in zbuf (its loss reads them); the hidden
    layers' only with ``keep_z`` (a recorded pass, whose pre-activations the API shows): the
    training passes take every hidden derivative from the activations, and skipping those
    stores is much of what a thin layer's pass costs."""
    samples = n
    n = row_length(sizes, samples, xbuf.itemsize)
    last = sizes.size - 2
    for l in range(sizes.size - 1):
        W, b = layer_params(params, sizes, l)
        Z = layer_block(zbuf, sizes, l, n)
        A_out = layer_block(abuf, sizes, l, n)
        keep = keep_z or l == last
        if l == 0 and inputs_sample_major(sizes):  # dense_forward's BLAS path, transposed batch
            product(W.T, sample_block(xbuf, n, sizes[0]).T, Z)
            bias_activation(Z, b, A_out, codes[0], keep)
        else:  # (one call site: dense_forward is inlined, so compiled once)
            A_in = input_block(xbuf, sizes[0], n) if l == 0 else layer_block(abuf, sizes, l - 1, n)
            dense_forward(W, b, A_in, Z, A_out, codes[l], keep)
        if l < last:
            for o in range(A_out.shape[0]):
                for k in range(samples, n):
                    A_out[o, k] = 0
    if codes[last] == SOFTMAX:  # the output layer's softmax over each sample's outputs
        softmax_columns(layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n))


@kernel(python=False, linked=False)
def gradient_layers(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, n_mean, tutorial):
    """Backward from the stored forward pass into ``grads`` (exact gradient, or the tutorial's step).

    The n samples' share of the mean over ``n_mean`` samples (n_mean = n unless the n samples are
    one worker's part of a larger batch: then the workers' ``grads`` sum to the batch's).
    """
    last = sizes.size - 2
    samples = n
    n = row_length(sizes, samples, xbuf.itemsize)
    A = layer_block(abuf, sizes, last, n)
    D = layer_block(dbuf, sizes, last, n)
    Y = input_block(ybuf, sizes[last + 1], n)
    if tutorial:
        output_delta_tutorial(A, Y, D, n_mean, samples)
        bias_scale = 1.0 / n_mean
    else:
        output_delta(A, Y, D, n_mean, codes[last], samples)
        bias_scale = 1.0
    _, db = layer_params(grads, sizes, last)
    bias_gradient(D, db, bias_scale)
    for l in range(last, -1, -1):
        dW, _ = layer_params(grads, sizes, l)
        if l == 0 and inputs_sample_major(sizes):  # weight_gradient's BLAS path, transposed batch
            product(sample_block(xbuf, n, sizes[0]).T, D.T, dW)
        else:  # (one call site: weight_gradient is inlined, so compiled once)
            A_in = input_block(xbuf, sizes[0], n) if l == 0 else layer_block(abuf, sizes, l - 1, n)
            weight_gradient(A_in, D, dW, delta_scratch(dbuf, sizes, l, n), n)
        if l > 0:
            W, _ = layer_params(params, sizes, l)
            _, db_prev = layer_params(grads, sizes, l - 1)
            D_prev = layer_block(dbuf, sizes, l - 1, n)
            propagate_delta(W, D, layer_block(abuf, sizes, l - 1, n), D_prev, db_prev,
                            bias_scale, codes[l - 1])
            D = D_prev


@kernel
def forward_pass(params, sizes, codes, xbuf, zbuf, abuf, n):
    """forward_layers callable from Python (the step-by-step engine, predict): compiled when
    first called, so the training loops' first compilation does not pay for a Python wrapper."""
    forward_layers(params, sizes, codes, xbuf, zbuf, abuf, n, True)


@kernel
def gradient_pass(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, n_mean, tutorial):
    """gradient_layers callable from Python (the step-by-step engine)."""
    gradient_layers(params, grads, sizes, codes, xbuf, ybuf, zbuf, abuf, dbuf, n, n_mean, tutorial)


@kernel
def network_loss(params, sizes, codes, xbuf, ybuf, zbuf, abuf, n, tutorial):
    """Forward pass, then (mean loss of the head, number of correct predictions)."""
    forward_layers(params, sizes, codes, xbuf, zbuf, abuf, n, False)
    last = sizes.size - 2
    m = row_length(sizes, n, xbuf.itemsize)
    return output_loss(layer_block(zbuf, sizes, last, m), layer_block(abuf, sizes, last, m),
                       input_block(ybuf, sizes[last + 1], m), tutorial, codes[last], n)


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


@kernel(python=False, linked=False)
def job_pass(net, x, y, z, a, d, grads, n, n_mean, tutorial, with_gradient):
    """Forward and loss of the n samples in buffers x, y (z, a, d their workspace); with
    ``with_gradient``, their share of the gradient of the mean over ``n_mean`` samples into
    ``grads`` too.  Returns (loss sum, correct count).  Both training loops call it -- for their
    blocks and for the validation set alike -- so the passes are compiled once for all."""
    sizes, codes = net.sizes, net.codes
    last = sizes.size - 2
    forward_layers(net.params, sizes, codes, x, z, a, n, False)
    m = row_length(sizes, n, x.itemsize)
    result = output_loss_sum(layer_block(z, sizes, last, m), layer_block(a, sizes, last, m),
                             input_block(y, sizes[last + 1], m), tutorial, codes[last], n)
    if with_gradient:
        gradient_layers(net.params, grads, sizes, codes, x, y, z, a, d, n, n_mean, tutorial)
    return result


@kernel(inline=True)
def publish(shared, b, loss_sum, correct):
    """Block b's loss sum and correct count, on its slot of the shared board."""
    shared[b * SLOT + LOSS] = loss_sum
    shared[b * SLOT + CORRECT] = correct


@kernel(python=False, linked=False)
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
def monitor_epoch(net, val, epoch, loss_sum, correct, train_loss):
    """Worker 0, after ``epoch``: the validation set's mean loss and accuracy (from its pass's
    ``loss_sum`` and ``correct``) into val.losses and val.accuracies when there is a validation
    set; then early stopping's bookkeeping.  Returns True when training should stop.

    ``val.stop`` = [best, epochs since, patience, min_delta, monitor, R^2 scale]: the monitored
    value is the validation loss (VAL_LOSS), minus the validation score (VAL_SCORE: accuracy, or
    for an identity head R^2 = 1 - loss * scale) or the epoch's training loss (TRAIN_LOSS).  An
    epoch that does not improve on the best by more than min_delta counts one more; any new best
    is kept (for the validation monitors with a copy of the parameters in ``val.best``).
    """
    sizes, codes = net.sizes, net.codes
    last = sizes.size - 2
    state = val.stop
    loss = 0.0
    accuracy = 0.0
    if val.n > 0:
        values = head_values(sizes[last + 1], val.n, codes[last])
        loss = loss_sum / values
        accuracy = correct / values
        val.losses[epoch] = loss
        val.accuracies[epoch] = accuracy
    monitor = state[4]
    if monitor == NO_MONITOR:
        return False
    if monitor == TRAIN_LOSS:
        value = train_loss
    elif monitor == VAL_LOSS:
        value = loss
    elif codes[last] == IDENTITY:
        value = loss * state[5] - 1.0
    else:
        value = -accuracy
    if value < state[0] - state[3]:
        state[1] = 0.0
    else:
        state[1] += 1.0
    if value < state[0]:
        state[0] = value
        if monitor != TRAIN_LOSS:
            copy_into(val.best, net.params)
    return state[1] >= state[2]


@kernel(inline=True)
def signal_stop(team, steps):
    """Worker 0 stops early: raise the STOP flag and meet the others at the barrier they wait at
    (the first of step ``steps``), where they see it."""
    if team.n_workers > 1:
        team.shared[STOP] = 1.0
        barrier(team.board, 0, team.n_workers, 2 * steps + 1)


@kernel
def train_full_batch(worker, net, blocks, team, settings, opt, state, val, n_total, t0,
                     restorable, lrs, losses, accuracies):
    """Full-batch gradient descent for ``losses.size`` epochs, epoch e at rate ``lrs[e]``; one
    worker's part of it.

    Block b holds samples share(n_total, b, n_blocks) in its buffers (loaded by the caller).
    Each epoch every worker computes its blocks, then finish_step: barrier, each worker updates
    its share of the parameters (optimizer step ``t0 + epoch + 1``) from the blocks' gradients,
    barrier.  With one worker the barriers cost nothing.  Worker 0 records each epoch's loss and
    accuracy (before its update), and -- at the start of the next pass, before its blocks -- the
    validation set's after it (``val``), which may stop the training early.

    Returns (epochs recorded, status); on a non-finite loss or update the parameters are restored
    to the last state whose loss was finite (``restorable``: ``backup`` already holds the state
    before the latest update).
    """
    sizes = net.sizes
    last = sizes.size - 2
    n_values = head_values(sizes[last + 1], n_total, net.codes[last])
    n_blocks = blocks.grads.shape[0]
    first_block, end_block = share(n_blocks, worker, team.n_workers, 1)
    monitors = worker == 0 and (val.n > 0 or val.stop[4] == TRAIN_LOSS)
    window_start = monotonic_ns() if team.n_workers > 1 else 0
    waited = 0
    done, ending = losses.size, FINISHED  # when a pass only validates, and what it returns
    epoch = 0
    while True:
        closing = epoch == done
        stop = False
        # the jobs of this pass: -1, the validation of the last epoch (worker 0), then blocks
        first_job = first_block - 1 if monitors and epoch > 0 else first_block
        for job in range(first_job, first_block if closing else end_block):
            if job < 0:
                x, y, z, a, d = val.x, val.y, val.z, val.a, val.z
                n, grads = val.n, blocks.grads[0]  # (no gradient is computed)
            else:
                start, stop_at = share(n_total, job, n_blocks, 1)
                n = stop_at - start
                x, y, z, a, d = blocks.x[job], blocks.y[job], blocks.z[job], blocks.a[job], blocks.d[job]
                grads = blocks.grads[job]
                if n == 0:
                    grads[:] = 0
                    publish(team.shared, job, 0.0, 0.0)
                    continue
            loss_sum, correct = 0.0, 0.0
            if n > 0:  # (a job -1 with no validation set only monitors the training loss)
                loss_sum, correct = job_pass(net, x, y, z, a, d, grads, n, n_total,
                                             settings.tutorial, job >= 0)
            if job < 0:
                stop = monitor_epoch(net, val, epoch - 1, loss_sum, correct, losses[epoch - 1])
            else:
                publish(team.shared, job, loss_sum, correct)
        if closing:
            return done, STOPPED if stop else ending
        if stop:
            signal_stop(team, epoch)
            return epoch, STOPPED
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
        restorable = True
        epoch += 1
        if status == TOO_SLOW:  # after a complete epoch: validate it, then hand over
            done, ending = epoch, TOO_SLOW


@kernel
def gather_batch(X, Y, order, start, n, m, sample_major, xbuf, ybuf):
    """Copy samples order[start:start+n] of X (N, n0) and Y (N, K) into the batch buffers, whose
    feature-major rows hold m >= n values (row_length): the inputs' padding columns are zeroed.

    Targets go feature-major; inputs sample-major (whole rows) when ``sample_major``, otherwise
    feature-major: a transpose of rows picked at random, done in 8-sample x 64-feature tiles so
    the reads of eight rows and the writes of eight columns both stay in cache (row by row, the
    writes would not).
    """
    n_in = X.shape[1]
    n_out = Y.shape[1]
    zero = xbuf.dtype.type(0.0)
    if sample_major:
        Xs = sample_block(xbuf, n, n_in)
        for k in range(n):
            row = order[start + k]
            for i in range(n_in):
                Xs[k, i] = X[row, i]
    else:
        Xb = input_block(xbuf, n_in, m)
        for i in range(n_in):
            for k in range(n, m):
                Xb[i, k] = zero
        for k0 in range(0, n, 8):
            k1 = min(k0 + 8, n)
            for i0 in range(0, n_in, 64):
                i1 = min(i0 + 64, n_in)
                for k in range(k0, k1):
                    row = order[start + k]
                    for i in range(i0, i1):
                        Xb[i, k] = X[row, i]
    Yb = input_block(ybuf, n_out, m)
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
    records per epoch the mean loss per sample over its batches (each batch's loss before its
    update, weighted by its size) and the accuracy over those batches, and -- in the next
    epoch's first step -- the validation set's loss and accuracy after the epoch.  Returns
    (epochs recorded, status).
    """
    N = X.shape[0]
    n_blocks = blocks.grads.shape[0]
    n_outputs = Y.shape[1]
    head = net.codes[net.sizes.size - 2]
    sample_major = inputs_sample_major(net.sizes)
    first_block, end_block = share(n_blocks, worker, team.n_workers, 1)
    monitors = worker == 0 and (val.n > 0 or val.stop[4] == TRAIN_LOSS)
    steps = 0
    window_start = monotonic_ns() if team.n_workers > 1 else 0
    waited = 0
    done, ending = order.shape[0], FINISHED
    epoch = 0
    while True:
        closing = epoch == done
        loss_total = 0.0  # the batches' losses, each weighted by its samples
        correct_total = 0.0
        too_slow = False
        start = 0
        while True:  # the epoch's steps; closing: one pass with only the validation
            n_batch = 0 if closing else min(batch_size, N - start)
            stop = False
            first_job = first_block - 1 if monitors and epoch > 0 and start == 0 else first_block
            for job in range(first_job, first_block if closing else end_block):
                if job < 0:
                    x, y, z, a, d = val.x, val.y, val.z, val.a, val.z
                    n, n_mean, grads = val.n, val.n, blocks.grads[0]  # (no gradient)
                else:
                    begin, end = share(n_batch, job, n_blocks, 1)
                    n, n_mean = end - begin, n_batch
                    x, y, z, a, d = blocks.x[job], blocks.y[job], blocks.z[job], blocks.a[job], blocks.d[job]
                    grads = blocks.grads[job]
                    if n == 0:  # a last batch smaller than the number of blocks
                        grads[:] = 0
                        publish(team.shared, job, 0.0, 0.0)
                        continue
                    gather_batch(X, Y, order[epoch], start + begin, n,
                                 row_length(net.sizes, n, x.itemsize), sample_major, x, y)
                loss_sum, correct = 0.0, 0.0
                if n > 0:  # (a job -1 with no validation set only monitors the training loss)
                    loss_sum, correct = job_pass(net, x, y, z, a, d, grads, n, n_mean,
                                                 settings.tutorial, job >= 0)
                if job < 0:
                    stop = monitor_epoch(net, val, epoch - 1, loss_sum, correct,
                                         losses[epoch - 1])
                else:
                    publish(team.shared, job, loss_sum, correct)
            if closing:
                return done, STOPPED if stop else ending
            if stop:
                signal_stop(team, steps)
                return epoch, STOPPED
            status, loss, correct, window_start, waited = finish_step(
                worker, net, blocks, team, settings, opt, state, lrs[epoch], t0 + steps + 1,
                restorable, steps, head_values(n_outputs, n_batch, head), window_start, waited)
            steps += 1
            if status == TOO_SLOW:  # all workers see it at the same step: finish the epoch
                too_slow = True
            elif status != FINISHED:
                return epoch, status
            loss_total += loss * n_batch
            correct_total += correct
            restorable = True
            start += batch_size
            if start >= N:
                break
        if worker == 0:
            losses[epoch] = loss_total / N
            accuracies[epoch] = correct_total / head_values(n_outputs, N, head)
        epoch += 1
        if too_slow:  # after a complete epoch: validate it, then hand over
            done, ending = epoch, TOO_SLOW
