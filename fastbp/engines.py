"""The engines behind :class:`fastbp.NeuralNetwork`: one small interface, two implementations.

* ``"numpy"`` (:class:`NumpyEngine`): the pure-NumPy reference (:mod:`fastbp.reference`), loops in Python;
* ``"numba"`` (:class:`NumbaEngine`): the compiled kernels (:mod:`fastbp.kernels`), whole training
  loops inside one compiled call.

Both read and write the network's :class:`~fastbp.parameters.Parameters` buffer, so editing
``nn.weights[i]`` in place is seen by either.  Inputs arrive validated: X (N, n_in), Y (N, K), in
the network's dtype and C-contiguous.  The API layer serialises the calls that change the
network; the others (``output``, ``gradients``, ``loss``) may run in many threads at once and
share nothing writable.  ``BACKENDS`` is the table of engines by backend name.

The interface:

* ``record(X, split)`` -> (output, layers): a forward pass kept for ``step``, its
  (N, K) output (a new array) and ``layers()`` -> (activations, pre_activations), made on demand;
  ``split`` (:class:`fastbp.policy.StepPlan`) says into how many blocks the numba engine splits
  the batch and how many workers compute them;
* ``recorded_samples()``; ``step(Y, lr)``: the gradient from the recorded pass into
  ``params.grads`` and an SGD step, False (parameters unchanged) if it would not be finite;
  ``update(lr)``: that SGD step from ``params.grads``;
* ``free_workspaces()``: drop the buffers kept between calls;
* ``output(X)`` -> the network's (N, K) output, a new array;
* ``gradients(X, Y)`` -> a new flat gradient in the parameter layout; ``loss(X, Y)`` -> (loss, accuracy);
  ``objective(X, Y, plan)`` -> a callable returning (loss, accuracy, flat gradient) at the
  current parameters, for L-BFGS (the numba engine computes it over ``plan``'s blocks);
* ``train_full_batch(X, Y, lrs, restorable, plan, run)`` and
  ``train_minibatch(X, Y, order, batch_size, lrs, restorable, plan, run)`` -> :class:`Trained`:
  one compiled call (or Python loop) of ``len(lrs)`` epochs (epoch e at rate ``lrs[e]``)
  following ``plan`` (:class:`fastbp.policy.FitPlan`), the optimizer, validation and early
  stopping as ``run`` (:class:`Run`) says.
"""
import contextlib
import dataclasses
import threading

import numpy as np

from . import helpers, kernels, reference, team
from .kernels.train import FINISHED, LOSS_NOT_FINITE, STOPPED, UPDATE_NOT_FINITE
from .parameters import aligned_empty


@dataclasses.dataclass
class Run:
    """What a fit's training calls share, owned by the API layer for the fit.

    ``optimizer``: a ``kernels.Optimizer`` record; ``state``: the network's
    ``kernels.OptimizerState`` (updated in place); ``steps``: optimizer steps taken before this
    call; ``validation``: (Xv, Yv) or None; ``stop``: early stopping's float64 state (see
    ``kernels.train.monitor_epoch``); ``best``: the parameters at the best validation epoch.
    """

    optimizer: tuple
    state: tuple
    steps: int = 0
    validation: tuple = None
    stop: np.ndarray = None
    best: np.ndarray = None


@dataclasses.dataclass
class Trained:
    """One training call's results: per-epoch lists and the status code (kernels.train)."""

    losses: list
    accuracies: list
    val_losses: list
    val_accuracies: list
    status: int


class NumpyEngine:
    """The reference engine: :mod:`fastbp.reference` step by step."""

    name = "numpy"

    def __init__(self, params, tutorial):
        self.params = params
        self.tutorial = tutorial
        self._recorded = None  # (activations, pre_activations) of the last recorded forward

    def _forward(self, X):
        p = self.params
        return reference.forward(p.weights, p.biases, X, p.hidden, p.head)

    def record(self, X, split):
        """A recorded pass keeps its own copy of X (as the compiled engine's workspace does), so
        the caller changing X before ``backward`` changes neither engine's step."""
        self._recorded = recorded = self._forward(X.copy())
        return np.array(recorded[0][-1], order="C"), lambda: recorded

    def recorded_samples(self):
        return None if self._recorded is None else len(self._recorded[0][0])

    def step(self, Y, lr):
        activations, pre_activations = self._recorded
        np.copyto(self.params.grads, self._step(activations, pre_activations, Y))
        return self.update(lr)

    def output(self, X):
        return np.array(self._forward(X)[0][-1], order="C")

    def gradients(self, X, Y):
        activations, pre_activations = self._forward(X)
        return self._step(activations, pre_activations, Y)

    def loss(self, X, Y):
        return self._evaluate(X, Y)[:2]

    def _evaluate(self, X, Y):
        """(loss, accuracy, activations, pre_activations): one forward pass serves the loss and
        the step from it (``_step``)."""
        activations, pre_activations = self._forward(X)
        head = self.params.head
        return (reference.loss(pre_activations[-1], activations[-1], Y, self.tutorial, head),
                reference.accuracy(activations[-1], Y, head), activations, pre_activations)

    def objective(self, X, Y, plan):
        """(loss, accuracy, gradient) at the current parameters, on demand."""
        def evaluate():
            loss, accuracy, activations, pre_activations = self._evaluate(X, Y)
            return loss, accuracy, self._step(activations, pre_activations, Y)
        return evaluate

    def update(self, lr):
        """SGD step with the stored gradients; False (nothing changed) if it would not be finite."""
        np.copyto(self.params.backup, self.params.flat)
        return reference.sgd_update(self.params.flat, self.params.grads, lr)

    def _optimizer_step(self, grads, lr, run, t):
        p, opt = self.params, run.optimizer
        np.copyto(p.backup, p.flat)
        state = {name: getattr(run.state, name) for name in ("velocity", "m", "v")
                 if getattr(run.state, name).size}
        before = {name: value.copy() for name, value in state.items()}
        ok = reference.optimizer_update(
            p.flat, grads, lr, state, t, optimizer="adam" if opt.code == kernels.ADAM else "sgd",
            momentum=opt.momentum, nesterov=opt.nesterov, betas=(opt.beta1, opt.beta2),
            eps=opt.eps, weight_decay=opt.weight_decay, decay=p.decay)
        for name, value in state.items():  # the state arrays are the network's: write back
            getattr(run.state, name)[...] = value if ok else before[name]
        return ok

    def free_workspaces(self):
        """The reference allocates its workspaces per call: only the step buffers to drop."""
        self.params.release_step_buffers()

    def _monitor(self, run, out):
        """After an epoch: the validation loss and accuracy, then early stopping's rule (as
        ``kernels.train.monitor_epoch``); True when it says stop."""
        loss = accuracy = 0.0
        if run.validation is not None:
            loss, accuracy = self.loss(*run.validation)
            out.val_losses.append(loss)
            out.val_accuracies.append(accuracy)
        best, _, patience, min_delta, monitor, scale = run.stop
        if monitor == kernels.NO_MONITOR:
            return False
        value = {kernels.TRAIN_LOSS: out.losses[-1], kernels.VAL_LOSS: loss,
                 kernels.VAL_SCORE: loss * scale - 1.0 if self.params.head == "identity"
                 else -accuracy}[monitor]
        run.stop[1] = 0 if value < best - min_delta else run.stop[1] + 1
        if value < best:
            run.stop[0] = value
            if monitor != kernels.TRAIN_LOSS:
                np.copyto(run.best, self.params.flat)
        return run.stop[1] >= patience

    @np.errstate(over="ignore", invalid="ignore")  # divergence is detected and reported instead
    def train_full_batch(self, X, Y, lrs, restorable, plan, run):
        """As the compiled loop does, one Python step per epoch."""
        out = Trained([], [], [], [], FINISHED)
        for epoch, lr in enumerate(lrs):
            loss, accuracy, activations, pre_activations = self._evaluate(X, Y)
            if not np.isfinite(loss):
                return self._stop(out, restorable, LOSS_NOT_FINITE)
            out.losses.append(loss)
            out.accuracies.append(accuracy)
            grads = self._step(activations, pre_activations, Y)
            if not self._optimizer_step(grads, lr, run, run.steps + epoch + 1):
                out.status = UPDATE_NOT_FINITE
                return out
            restorable = True
            if self._monitor(run, out):
                out.status = STOPPED
                return out
        return out

    @np.errstate(over="ignore", invalid="ignore")
    def train_minibatch(self, X, Y, order, batch_size, lrs, restorable, plan, run):
        out = Trained([], [], [], [], FINISHED)
        n_samples, t = len(X), run.steps
        head = self.params.head
        for epoch_order, lr in zip(order, lrs):
            batch_losses, correct = [], 0.0
            for start in range(0, n_samples, batch_size):
                rows = epoch_order[start:start + batch_size]
                X_batch, Y_batch = X[rows], Y[rows]
                loss, accuracy, activations, pre_activations = self._evaluate(X_batch, Y_batch)
                if not np.isfinite(loss):
                    return self._stop(out, restorable, LOSS_NOT_FINITE)
                batch_losses.append(loss * len(rows))
                correct += accuracy * (len(rows) if head == "softmax" else Y_batch.size)
                t += 1
                grads = self._step(activations, pre_activations, Y_batch)
                if not self._optimizer_step(grads, lr, run, t):
                    out.status = UPDATE_NOT_FINITE
                    return out
                restorable = True
            out.losses.append(float(np.sum(batch_losses) / n_samples))
            out.accuracies.append(correct / (n_samples if head == "softmax" else Y.size))
            if self._monitor(run, out):
                out.status = STOPPED
                return out
        return out

    def _step(self, activations, pre_activations, Y):
        p = self.params
        dWs, dbs = reference.backward(p.weights, activations, pre_activations, Y, self.tutorial,
                                      p.hidden, p.head)
        flat = np.empty_like(p.flat)
        weights, biases = p.views(flat)
        for target, value in zip(weights + biases, dWs + dbs):
            target[...] = value
        return flat

    def _stop(self, out, restorable, status):
        if restorable:
            np.copyto(self.params.flat, self.params.backup)
        out.status = status
        return out


def row_length(sizes, n, dtype):
    """Values per feature-major row of a block of n samples (``kernels.row_length``)."""
    return int(kernels.row_length(sizes, n, np.dtype(dtype).itemsize))


class Workspace:
    """The compiled engine's buffers for one batch of up to ``capacity`` samples: feature-major,
    the inputs sample-major when the first layer is a BLAS product (see fastbp.kernels.train)."""

    def __init__(self, sizes, capacity, dtype):
        self.capacity = capacity
        self.sizes = sizes
        self.dtype = np.dtype(dtype)
        self.inputs_sample_major = bool(kernels.inputs_sample_major(sizes))
        width = int(sizes[1:].sum())
        rows = row_length(sizes, capacity, dtype)
        self.x = aligned_empty(int(sizes[0]) * rows, dtype)  # (loads zero the inputs' padding)
        self.y = aligned_empty(int(sizes[-1]) * rows, dtype)
        self.z = aligned_empty(width * rows, dtype)
        self.a = aligned_empty(width * rows, dtype)
        self.d = aligned_empty(width * rows, dtype)
        self.n = 0  # samples held by the last forward pass
        self.m = 0  # their rows' length (row_length)
        self._views = None

    def load(self, X, Y=None):
        """Copy X (n, n_in) -- and Y (n, K) -- into the input blocks (see fastbp.kernels.train)."""
        if len(X) != self.n:
            self.n = len(X)
            self.m = row_length(self.sizes, self.n, self.dtype)
            self._views = None
        load_inputs(self.x, X, self.inputs_sample_major, self.m)
        if Y is not None:
            load_targets(self.y, Y, self.m)

    def load_targets(self, Y):
        """Copy Y (n, K), n the samples of the last ``load``, into the targets' block."""
        load_targets(self.y, Y, self.m)

    def layer_views(self):
        """(activations, pre-activations): sample-major (n, size) views of every layer's block,
        made once per batch size."""
        if self._views is None:
            self._views = (self._layers(self.a), self._layers(self.z))
        return self._views

    def _layers(self, buffer):
        return layer_views(buffer, self.sizes, self.n, self.m)


def layer_views(buffer, sizes, n, m):
    """Sample-major (n, size) views of every layer's (size, m) block in a workspace buffer (m:
    the row length, ``row_length``)."""
    views, offset = [], 0
    for size in sizes[1:]:
        size = int(size)
        views.append(buffer[offset * m:(offset + size) * m].reshape(size, m)[:, :n].T)
        offset += size
    return views


def load_inputs(xbuf, X, sample_major, m):
    """X (n, n_in) into an input block: sample-major, or feature-major in rows of m values (the
    padding past n zeroed)."""
    if sample_major:
        xbuf[:X.size].reshape(X.shape)[...] = X
    else:
        block = xbuf[:X.shape[1] * m].reshape(X.shape[1], m)
        block[:, :len(X)] = X.T
        block[:, len(X):] = 0


def load_targets(ybuf, Y, m):
    """Y (n, K) into a target block, feature-major in rows of m values."""
    ybuf[:Y.shape[1] * m].reshape(Y.shape[1], m)[:, :len(Y)] = Y.T


class _WorkspacePool:
    """Workspaces for the calls that may run in many threads at once (output, gradients, loss):
    each call borrows one of its own, and returns it for the next call to reuse."""

    KEEP = 2  # idle workspaces kept (the largest): more threads at once allocate their own

    def __init__(self, sizes, dtype):
        self._sizes, self._dtype = sizes, dtype
        self._idle = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self, n):
        with self._lock:
            fitting = [ws for ws in self._idle if ws.capacity >= n]
            ws = min(fitting, key=lambda w: w.capacity) if fitting else None
            if ws is not None:
                self._idle.remove(ws)
        if ws is None:
            ws = Workspace(self._sizes, n, self._dtype)
        try:
            yield ws
        finally:
            with self._lock:
                self._idle.append(ws)
                self._idle.sort(key=lambda w: -w.capacity)
                del self._idle[self.KEEP:]


class TrainingBlocks:
    """A training call's reduction blocks (see fastbp.kernels.train): a workspace per block, as
    rows of 2-D arrays padded to whole cache lines, and a gradient row per block."""

    def __init__(self, params, n_blocks, capacity):
        sizes, dtype = params.sizes, params.dtype
        self.n_blocks, self.capacity = n_blocks, capacity
        self._shares_of = None
        self.sample_major = bool(kernels.inputs_sample_major(sizes))
        width = int(sizes[1:].sum())

        m = row_length(sizes, capacity, dtype)
        self._sizes, self._dtype = sizes, dtype

        def rows(length):
            line = 64 // dtype.itemsize
            padded = -(-length // line) * line
            return aligned_empty(n_blocks * padded, dtype).reshape(n_blocks, padded)

        self.record = kernels.Blocks(
            x=rows(int(sizes[0]) * m), y=rows(int(sizes[-1]) * m),
            z=rows(width * m), a=rows(width * m), d=rows(width * m),
            grads=rows(params.flat.size))

    def load(self, X, Y):
        """Split X, Y into the blocks (full batch: each block's share of the samples)."""
        self.load_inputs(X)
        self.load_targets(Y)

    def shares(self, n):
        """[(start, stop)] of each block's samples in a batch of n (kept for the last n)."""
        if self._shares_of != n:
            self._shares = [block_share(n, b, self.n_blocks) for b in range(self.n_blocks)]
            self._shares_of = n
        return self._shares

    def row_length(self, n):
        """Values per feature-major row of a block of n samples."""
        return row_length(self._sizes, n, self._dtype)

    def load_inputs(self, X):
        for b, (start, stop) in enumerate(self.shares(len(X))):
            load_inputs(self.record.x[b], X[start:stop], self.sample_major,
                        self.row_length(stop - start))

    def load_targets(self, Y):
        for b, (start, stop) in enumerate(self.shares(len(Y))):
            load_targets(self.record.y[b], Y[start:stop], self.row_length(stop - start))


class NumbaEngine:
    """The compiled engine: fastbp.kernels over one network's parameter buffer."""

    name = "numba"

    def __init__(self, params, tutorial):
        self.params = params
        self.tutorial = tutorial
        self._recorded = None  # the last recorded forward (what backward reads): its workspace,
        #                        or (split, n) when its blocks hold it
        self._recorded_ws = None
        self._step_job = None  # helpers.Job over the blocks of recorded passes split in blocks
        self._step_blocks = None
        self._pool = _WorkspacePool(params.sizes, params.dtype)
        self._blocks = None    # the last training call's blocks, reused by the next

    def _network(self):
        """The kernels' Net record of the parameters (and their backup, made if need be)."""
        p = self.params
        return kernels.Net(p.flat, p.backup, p.sizes, p.codes)

    def _run_forward(self, ws, X):
        p = self.params
        ws.load(X)
        kernels.forward_pass(p.flat, p.sizes, p.codes, ws.x, ws.z, ws.a, ws.n)

    def record(self, X, split):
        self._recorded = None  # e.g. Ctrl-C during the first compilation: no pass to step from
        if split.n_blocks > 1:
            return self._record_blocks(X, split)
        ws = self._recorded_ws
        if ws is None or ws.capacity < len(X):
            ws = self._recorded_ws = Workspace(self.params.sizes, len(X), self.params.dtype)
        self._run_forward(ws, X)
        self._recorded = ws
        activations, pre_activations = ws.layer_views()
        return (np.array(activations[-1], order="C"),
                lambda: ([X] + activations, list(pre_activations)))

    def _record_blocks(self, X, split):
        """The forward pass in ``split.n_blocks`` blocks, shared with helpers (fastbp.helpers)."""
        n, p = len(X), self.params
        job = self._step_job
        if (job is None or self._step_blocks.n_blocks != split.n_blocks
                or self._step_blocks.capacity < -(-n // split.n_blocks)):
            blocks = TrainingBlocks(p, split.n_blocks, -(-n // split.n_blocks))
            job = self._step_job = helpers.new_job(self._network(), blocks.record, p.grads)
            self._step_blocks = blocks
        output = np.empty((n, int(p.sizes[-1])), p.dtype)
        helpers.HELPERS.run(kernels.FORWARD, job, _read_only(X), output, n, self.tutorial,
                            split.n_workers, split.one_blas)
        self._recorded = (split, n)
        return output, lambda: self._recorded_layers(X, n)

    def _recorded_layers(self, X, n):
        blocks = self._step_blocks
        sizes = self.params.sizes
        layers = []
        for buffer in (blocks.record.a, blocks.record.z):
            per_block = [layer_views(buffer[b], sizes, stop - start, blocks.row_length(stop - start))
                         for b, (start, stop) in enumerate(blocks.shares(n))]
            layers.append([np.concatenate(views) for views in zip(*per_block)])
        return [X] + layers[0], layers[1]

    def recorded_samples(self):
        recorded = self._recorded
        if recorded is None:
            return None
        return recorded[1] if isinstance(recorded, tuple) else recorded.n

    def step(self, Y, lr):
        """The gradient from the last recorded pass into ``params.grads`` and an SGD step at
        ``lr``; False (the parameters unchanged) when the step would make one NaN or infinite."""
        recorded, p = self._recorded, self.params
        if not isinstance(recorded, tuple):
            self._gradient_pass(recorded, Y, p.grads)
            return self.update(lr)
        split, n = recorded
        unused = self._step_blocks.record.x  # (STEP writes no output)
        if helpers.HELPERS.run(kernels.STEP, self._step_job, _read_only(Y), unused, n,
                               self.tutorial, split.n_workers, split.one_blas, lr):
            return True
        np.copyto(p.flat, p.backup)
        return False

    def output(self, X):
        with self._pool.borrow(len(X)) as ws:
            self._run_forward(ws, X)
            return np.array(ws.layer_views()[0][-1], order="C")

    def gradients(self, X, Y):
        grads = np.empty_like(self.params.flat)
        with self._pool.borrow(len(X)) as ws:
            self._run_forward(ws, X)
            self._gradient_pass(ws, Y, grads)
        return grads

    def _gradient_pass(self, ws, Y, grads):
        p = self.params
        ws.load_targets(Y)
        kernels.gradient_pass(p.flat, grads, p.sizes, p.codes, ws.x, ws.y, ws.z, ws.a, ws.d,
                              ws.n, ws.n, self.tutorial)

    def loss(self, X, Y):
        p = self.params
        with self._pool.borrow(len(X)) as ws:
            ws.load(X, Y)
            loss, correct = kernels.network_loss(p.flat, p.sizes, p.codes, ws.x, ws.y, ws.z,
                                                 ws.a, ws.n, self.tutorial)
        return float(loss), correct / (len(Y) if self.params.head == "softmax" else Y.size)

    def objective(self, X, Y, plan):
        """(loss, accuracy, gradient) at the current parameters, on demand: X, Y loaded into
        ``plan.n_blocks`` blocks once, each evaluation computed by ``plan.n_workers`` workers (the
        caller and awake helpers, fastbp.helpers), the blocks' losses and gradients summed in
        block order -- the same bits with one worker or several."""
        p, n = self.params, len(X)
        blocks = self._blocks_for(plan.n_blocks, -(-n // plan.n_blocks))
        blocks.load(X, Y)
        unused = np.empty(0, p.dtype)  # (EVALUATE neither updates nor undoes: no step buffers)
        job = helpers.new_job(kernels.Net(p.flat, unused, p.sizes, p.codes), blocks.record, unused)
        n_values = len(Y) if p.head == "softmax" else Y.size
        losses = job.scalars[kernels.serve_layout.LOSSES:]

        def evaluate():
            unused = blocks.record.x  # (EVALUATE reads the blocks, loaded above; no output)
            helpers.HELPERS.run(kernels.EVALUATE, job, _read_only(unused), unused, n,
                                self.tutorial, plan.n_workers, plan.one_blas_thread)
            grads = blocks.record.grads
            total = grads[0, :p.flat.size].copy()
            for b in range(1, plan.n_blocks):  # in block order, as the training loops sum
                total += grads[b, :p.flat.size]
            loss = correct = 0.0
            for b in range(plan.n_blocks):
                loss += float(losses[2 * b])
                correct += float(losses[2 * b + 1])
            return loss / n_values, correct / n_values, total

        return evaluate

    def update(self, lr):
        p = self.params
        if kernels.sgd_update(p.flat, p.grads, lr, p.backup):
            return True
        np.copyto(p.flat, p.backup)
        return False

    # -- training calls -------------------------------------------------------------------------
    def free_workspaces(self):
        """Drop the training blocks, the idle inference workspaces and the step buffers (made
        again when needed) -- but the step buffers and the blocks of stand-alone steps not while
        the recorded forward pass lies in those blocks (its backward needs them)."""
        self._blocks = None
        if not isinstance(self._recorded, tuple):  # no pass recorded in blocks
            self._step_job = self._step_blocks = None
            self.params.release_step_buffers()
        self._pool = _WorkspacePool(self.params.sizes, self.params.dtype)

    def _blocks_for(self, n_blocks, capacity):
        blocks = self._blocks
        if blocks is None or blocks.n_blocks != n_blocks or blocks.capacity < capacity:
            blocks = self._blocks = TrainingBlocks(self.params, n_blocks, capacity)
        return blocks

    def _validation(self, run, epochs):
        """The Validation record of a call: the validation set in a workspace of its own, the
        per-epoch result arrays, early stopping's state (an empty record without validation)."""
        p = self.params
        out = np.empty(epochs), np.empty(epochs)
        if run.validation is None:  # (early stopping may still monitor the training loss)
            empty = np.empty(0, p.dtype)
            return kernels.Validation(empty, empty, empty, empty, 0, *out, run.stop, empty), out
        Xv, Yv = run.validation
        ws = Workspace(p.sizes, len(Xv), p.dtype)
        ws.load(Xv, Yv)
        return kernels.Validation(ws.x, ws.y, ws.z, ws.a, len(Xv), *out, run.stop, run.best), out

    def _run(self, loop, plan, run, lrs, args, full_batch):
        """``loop(worker, net, blocks, team, settings, optimizer, state, validation, *args)`` on
        ``plan.n_workers`` workers: a :class:`Trained`."""
        n_workers = plan.n_workers
        record = _team_record(n_workers, plan.n_blocks)
        board = record.board
        settings = kernels.Settings(self.tutorial, int(plan.wait_window_ns), float(plan.wait_limit))
        validation, (val_losses, val_accuracies) = self._validation(run, len(lrs))
        blocks = self._blocks.record
        losses = np.empty(len(lrs), dtype=np.float64)
        accuracies = np.empty(len(lrs), dtype=np.float64)
        lrs = np.ascontiguousarray(lrs, dtype=np.float64)

        def abort():  # a worker failed outside compiled code: the others stop waiting
            board[n_workers * kernels.SLOT] = 1

        net = self._network()

        def body(worker):
            return loop(worker, net, blocks, record, settings, run.optimizer, run.state,
                        validation, *args, lrs, losses, accuracies)

        recorded, status = team.run_workers(body, n_workers, abort, plan.one_blas_thread)[0]
        # every recorded epoch was validated, but a full-batch epoch whose update failed
        failed = full_batch and status == UPDATE_NOT_FINITE
        validated = 0 if run.validation is None else recorded - failed
        return Trained(losses[:recorded].tolist(), accuracies[:recorded].tolist(),
                       val_losses[:validated].tolist(), val_accuracies[:validated].tolist(), status)

    def train_full_batch(self, X, Y, lrs, restorable, plan, run):
        self._blocks_for(plan.n_blocks, -(-len(X) // plan.n_blocks)).load(X, Y)
        return self._run(kernels.train_full_batch, plan, run, lrs,
                         (len(X), run.steps, restorable), full_batch=True)

    def train_minibatch(self, X, Y, order, batch_size, lrs, restorable, plan, run):
        # Room for ceil(batch_size / n_blocks) samples per block: a block's share of the last,
        # smaller batch can exceed its share of a full one (5 blocks: 26 of 127, 25 of 128).
        self._blocks_for(plan.n_blocks, -(-batch_size // plan.n_blocks))
        return self._run(kernels.train_minibatch, plan, run, lrs,
                         (_read_only(X), _read_only(Y), order, batch_size, run.steps, restorable),
                         full_batch=False)


def _read_only(array):
    """A read-only view of ``array`` (no copy): compiled calls that only read their data take it
    read-only always -- to Numba a read-only array is another type, so a user's read-only data
    (a memory map, joblib's shared arrays) would otherwise compile them a second time."""
    view = array.view()
    view.flags.writeable = False
    return view


def _team_record(n_workers, n_blocks):
    """A compiled call's Team: the barrier board (a slot per worker, and the abort flag's) and
    the shared loss/flag slots (one per block or worker)."""
    board = np.zeros((n_workers + 1) * kernels.SLOT, dtype=np.int64)
    shared = np.zeros(max(n_blocks, n_workers) * kernels.SLOT, dtype=np.float64)
    return kernels.Team(board, shared, n_workers)


def block_share(count, block, n_blocks):
    """(start, stop) of a block's contiguous share of ``count`` samples: the compiled loops'
    own rule (kernels.train.share), run as plain Python."""
    return kernels.train.share.py_func(count, block, n_blocks, 1)


BACKENDS = {"numpy": NumpyEngine, "numba": NumbaEngine}
BACKEND_ALIASES = {"reference": "numpy", "jit": "numba"}
