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
Status codes returned by the loops: 0 finished, 1 the loss became NaN/inf, 2 an update did,
3 aborted (another worker failed), 4 too slow (the workers stopped after a complete epoch
because they spent much of their time waiting for a worker without a core; the caller
continues on one).

The training loops are data-parallel: each of n_workers threads (run by the engine) calls the
same loop on its own share of every batch and its own workspace; they meet at spin barriers
(``sync.barrier``) inside the compiled loop, twice per step -- so the whole loop stays one
compiled call per thread, with no Python between steps.
"""
import numpy as np

from .backward import (
    bias_gradient,
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
from .update import restore_range, sgd_step_shared

FINISHED = 0
LOSS_NOT_FINITE = 1
UPDATE_NOT_FINITE = 2
ABORTED = 3  # another worker failed outside compiled code
TOO_SLOW = 4  # the workers spent much of their time waiting: continue on one worker

# Fields of a worker's slot on the shared float64 board.
LOSS = 0
CORRECT = 1
FINITE = 2
WAITED = 3   # nanoseconds the worker waited at barriers in the current window
ELAPSED = 4  # nanoseconds since the current window started, for that worker

# The workers judge their waiting over windows of at least WAIT_WINDOW_NS: when in one window
# some worker waited at barriers for more than WAIT_LIMIT of it, another worker had no core
# (a busy process on it; more workers than cores), and one worker does better than the team
# (two workers reach ~1.6x one worker on the circle: waiting 40% of the time is about even).
WAIT_WINDOW_NS = 5_000_000
WAIT_LIMIT = 0.4


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
def forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n):
    """Forward through every layer for a batch of n samples (inputs already in xbuf)."""
    for l in range(sizes.size - 1):
        W, b = layer_params(params, sizes, l)
        Z = layer_block(zbuf, sizes, l, n)
        A_out = layer_block(abuf, sizes, l, n)
        if l > 0:
            dense_forward(W, b, layer_block(abuf, sizes, l - 1, n), Z, A_out, activations[l])
        elif inputs_sample_major(sizes):  # dense_forward's BLAS path on the transposed batch
            gemm(W.T, sample_block(xbuf, n, sizes[0]).T, Z)
            bias_activation(Z, b, A_out, activations[0])
        else:
            dense_forward(W, b, input_block(xbuf, sizes[0], n), Z, A_out, activations[0])


@kernel(inline=True)
def gradient_pass(params, grads, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, n_mean, tutorial):
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
        output_delta(A, Y, D, n_mean)
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
            propagate_delta(W, D, layer_block(zbuf, sizes, l - 1, n), D_prev, db_prev, bias_scale)
            D = D_prev


@kernel
def network_loss(params, sizes, activations, xbuf, ybuf, zbuf, abuf, n, tutorial):
    """Forward pass, then (mean loss, number of correct predictions)."""
    forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n)
    last = sizes.size - 2
    return output_loss(layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n),
                       input_block(ybuf, sizes[last + 1], n), tutorial)


@kernel(inline=True)
def share(count, worker, n_workers, multiple):
    """[start, stop) of worker's share of range(count): contiguous, inner bounds multiples of
    ``multiple`` (1 for samples; 16 for parameters, so no two workers write one cache line)."""
    start = (count * worker // n_workers) // multiple * multiple
    stop = count if worker == n_workers - 1 else (count * (worker + 1) // n_workers) // multiple * multiple
    return start, stop


@kernel(inline=True)
def combine(shared, n_workers, field):
    """Sum of every worker's ``field`` entry on the shared board (in worker order)."""
    total = 0.0
    for w in range(n_workers):
        total += shared[w * SLOT + field]
    return total


@kernel(inline=True)
def finish_step(worker, board, shared, params, grads, others, backup, lr, restorable, steps,
                loss_sum, correct, n_values, window_start, waited):
    """The end of one training step for one worker, after its forward pass (``loss_sum``,
    ``correct`` of its samples) and its share of the gradient: publish them, barrier, combine
    everybody's into the step's mean loss (over ``n_values`` outputs) and correct count; if the
    loss is finite, update this worker's share of the parameters (sgd_step_shared), barrier.
    ``steps``: the steps this worker finished before (two barriers each); ``window_start`` and
    ``waited``: the start of its current waiting window (monotonic_ns) and its barrier waits
    in it, in nanoseconds.

    Returns (status, loss, correct, window_start, waited): FINISHED; TOO_SLOW (finished, but in
    the window that just closed some worker waited more than WAIT_LIMIT of the time: the rest
    should run on one worker); LOSS_NOT_FINITE (nothing updated; the worker's share restored
    from ``backup`` if ``restorable``); UPDATE_NOT_FINITE (some share of the update was not
    finite: every worker restored its share); ABORTED.
    """
    n_workers = others.shape[0] + 1
    slot = worker * SLOT
    shared[slot + LOSS] = loss_sum
    shared[slot + CORRECT] = correct
    wait = barrier(board, worker, n_workers, 2 * steps + 1)
    if wait < 0:
        return ABORTED, 0.0, 0.0, window_start, waited
    waited += wait
    loss = combine(shared, n_workers, LOSS) / n_values
    correct_total = combine(shared, n_workers, CORRECT)
    first, stop = share(params.size, worker, n_workers, 16)
    if not np.isfinite(loss):
        if restorable:
            restore_range(params, backup, first, stop)
        return LOSS_NOT_FINITE, loss, correct_total, window_start, waited
    finite = sgd_step_shared(params, grads, others, lr, backup, first, stop)
    now = monotonic_ns() if n_workers > 1 else 0
    shared[slot + FINITE] = 1.0 if finite else 0.0
    shared[slot + WAITED] = waited
    shared[slot + ELAPSED] = now - window_start
    wait = barrier(board, worker, n_workers, 2 * steps + 2)
    if wait < 0:
        return ABORTED, loss, correct_total, window_start, waited
    if combine(shared, n_workers, FINITE) < n_workers:
        restore_range(params, backup, first, stop)
        return UPDATE_NOT_FINITE, loss, correct_total, window_start, waited + wait
    # Every worker reads the same published values here, so all decide alike.
    if shared[ELAPSED] < WAIT_WINDOW_NS:  # worker 0's window is still open
        return FINISHED, loss, correct_total, window_start, waited + wait
    for w in range(n_workers):
        if shared[w * SLOT + WAITED] > WAIT_LIMIT * shared[w * SLOT + ELAPSED]:
            return TOO_SLOW, loss, correct_total, now, wait
    return FINISHED, loss, correct_total, now, wait


@kernel
def train_full_batch(worker, board, shared, params, grads, others, backup, sizes, activations,
                     xbuf, ybuf, zbuf, abuf, dbuf, n, n_total, lr, tutorial, restorable, losses,
                     accuracies):
    """Full-batch gradient descent for ``losses.size`` epochs; one worker's part of it.

    ``others.shape[0] + 1`` workers (threads) each run this on their own n of the n_total
    samples (their own xbuf/ybuf/zbuf/abuf/dbuf) into their own share of the gradient: worker 0
    into ``grads``, worker w into ``others[w - 1]`` (n_workers - 1, P).  They share ``params``,
    ``grads``, ``backup``, the loss and flag slots of ``shared`` (float64, n_workers * SLOT) and
    the barrier ``board`` (int64, zeros, (n_workers + 1) * SLOT).  Each epoch: forward and
    gradient of the own samples, then finish_step: barrier, each worker updates its share of the
    parameters from the sum of the shares of the gradient, barrier.  With one worker (``others``
    empty) the barriers cost nothing.  Worker 0 records each epoch's loss and accuracy (before its update).

    Returns (epochs recorded, status); on a non-finite loss or update the parameters are restored
    to the last state whose loss was finite (``restorable``: ``backup`` already holds the state
    before the latest update).
    """
    n_outputs = sizes[sizes.size - 1]
    last = sizes.size - 2
    Z = layer_block(zbuf, sizes, last, n)
    A = layer_block(abuf, sizes, last, n)
    Y = input_block(ybuf, n_outputs, n)
    own = grads if worker == 0 else others[worker - 1]
    window_start = monotonic_ns() if others.shape[0] > 0 else 0
    waited = 0
    for epoch in range(losses.size):
        forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n)
        loss_sum, correct = output_loss_sum(Z, A, Y, tutorial)
        gradient_pass(params, own, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, n_total, tutorial)
        status, loss, correct, window_start, waited = finish_step(
            worker, board, shared, params, grads, others, backup, lr, restorable, epoch,
            loss_sum, correct, n_total * n_outputs, window_start, waited)
        if status == LOSS_NOT_FINITE or status == ABORTED:
            return epoch, status
        if worker == 0:
            losses[epoch] = loss
            accuracies[epoch] = correct / (n_total * n_outputs)
        if status != FINISHED:  # UPDATE_NOT_FINITE, or TOO_SLOW after a complete epoch
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
def train_minibatch(worker, board, shared, params, grads, others, backup, sizes, activations,
                    X, Y, order, batch_size, xbuf, ybuf, zbuf, abuf, dbuf, lr, tutorial,
                    restorable, losses, accuracies):
    """Mini-batch SGD, one epoch per row of ``order`` (epochs, N): each batch steps on its mean
    gradient; one worker's part of it.

    X: (N, n0), Y: (N, K) sample-major, shared.  Every batch is split between the workers as
    train_full_batch splits the samples (each worker gathers its share into its own buffers,
    which hold ceil(batch_size / n_workers) samples), with the same two barriers per step.  Worker 0 records per
    epoch the mean of the batch losses (each before its batch's update) and the accuracy over
    those batches.  Returns (epochs recorded, status).
    """
    N = X.shape[0]
    n_workers = others.shape[0] + 1
    n_outputs = Y.shape[1]
    last = sizes.size - 2
    sample_major = inputs_sample_major(sizes)
    own = grads if worker == 0 else others[worker - 1]
    steps = 0
    window_start = monotonic_ns() if n_workers > 1 else 0
    waited = 0
    too_slow = False
    for epoch in range(order.shape[0]):
        loss_sum = 0.0
        correct_sum = 0.0
        n_batches = 0
        epoch_order = order[epoch]
        for start in range(0, N, batch_size):
            n_batch = min(batch_size, N - start)
            begin, end = share(n_batch, worker, n_workers, 1)
            n = end - begin
            if n > 0:
                gather_batch(X, Y, epoch_order, start + begin, n, sample_major, xbuf, ybuf)
                forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n)
                batch_loss, batch_correct = output_loss_sum(
                    layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n),
                    input_block(ybuf, n_outputs, n), tutorial)
                gradient_pass(params, own, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, n_batch,
                              tutorial)
            else:  # a last batch smaller than the number of workers
                batch_loss, batch_correct = 0.0, 0
                own[:] = 0
            status, loss, correct, window_start, waited = finish_step(
                worker, board, shared, params, grads, others, backup, lr, restorable, steps,
                batch_loss, batch_correct, n_batch * n_outputs, window_start, waited)
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
            accuracies[epoch] = correct_sum / (N * n_outputs)
        if too_slow:
            return epoch + 1, TOO_SLOW
    return order.shape[0], FINISHED
