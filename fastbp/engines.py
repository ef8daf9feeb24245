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

* ``record(X)`` -> (activations, pre_activations): a forward pass kept for ``step_from_recorded``;
* ``recorded_samples()``, ``step_from_recorded(Y)`` (into ``params.grads``), ``update(lr)``;
* ``output(X)`` -> the network's (N, K) output, a new array;
* ``gradients(X, Y)`` -> a new flat gradient in the parameter layout; ``loss(X, Y)`` -> (loss, accuracy);
* ``train_full_batch(X, Y, epochs, lr, restorable, plan)`` and
  ``train_minibatch(X, Y, order, batch_size, lr, restorable, plan)`` -> (losses, accuracies, status),
  one compiled call (or Python loop) running ``plan`` (:class:`fastbp.policy.FitPlan`).
"""
import contextlib
import threading

import numpy as np

from . import kernels, reference, team
from .kernels.train import FINISHED, LOSS_NOT_FINITE, UPDATE_NOT_FINITE
from .parameters import aligned_empty


class NumpyEngine:
    """The reference engine: :mod:`fastbp.reference` step by step."""

    name = "numpy"

    def __init__(self, params, tutorial):
        self.params = params
        self.tutorial = tutorial
        self._recorded = None  # (activations, pre_activations) of the last recorded forward

    def _forward(self, X):
        return reference.forward(self.params.weights, self.params.biases, X)

    def record(self, X):
        """A recorded pass keeps its own copy of X (as the compiled engine's workspace does), so
        the caller changing X before ``backward`` changes neither engine's step."""
        self._recorded = self._forward(X.copy())
        return self._recorded

    def recorded_samples(self):
        return None if self._recorded is None else len(self._recorded[0][0])

    def step_from_recorded(self, Y):
        activations, pre_activations = self._recorded
        np.copyto(self.params.grads, self._step(activations, pre_activations, Y))

    def output(self, X):
        return np.array(self._forward(X)[0][-1], order="C")

    def gradients(self, X, Y):
        activations, pre_activations = self._forward(X)
        return self._step(activations, pre_activations, Y)

    def loss(self, X, Y):
        activations, pre_activations = self._forward(X)
        return (reference.loss(pre_activations[-1], activations[-1], Y, self.tutorial),
                reference.accuracy(activations[-1], Y))

    def update(self, lr):
        """SGD step with the stored gradients; False (nothing changed) if it would not be finite."""
        np.copyto(self.params.backup, self.params.flat)
        return reference.sgd_update(self.params.flat, self.params.grads, lr)

    @np.errstate(over="ignore", invalid="ignore")  # divergence is detected and reported instead
    def train_full_batch(self, X, Y, epochs, lr, restorable, plan):
        """Returns (losses, accuracies, status) as the compiled loop does, one Python step per epoch."""
        losses, accuracies = [], []
        for _ in range(epochs):
            loss, accuracy = self.loss(X, Y)
            if not np.isfinite(loss):
                return self._stop(losses, accuracies, restorable, LOSS_NOT_FINITE)
            losses.append(loss)
            accuracies.append(accuracy)
            np.copyto(self.params.grads, self.gradients(X, Y))
            if not self.update(lr):
                return losses, accuracies, UPDATE_NOT_FINITE
            restorable = True
        return losses, accuracies, FINISHED

    @np.errstate(over="ignore", invalid="ignore")
    def train_minibatch(self, X, Y, order, batch_size, lr, restorable, plan):
        losses, accuracies = [], []
        n_samples = len(X)
        for epoch_order in order:
            batch_losses, correct = [], 0.0
            for start in range(0, n_samples, batch_size):
                rows = epoch_order[start:start + batch_size]
                loss, accuracy = self.loss(X[rows], Y[rows])
                if not np.isfinite(loss):
                    return self._stop(losses, accuracies, restorable, LOSS_NOT_FINITE)
                batch_losses.append(loss)
                correct += accuracy * Y[rows].size
                np.copyto(self.params.grads, self.gradients(X[rows], Y[rows]))
                if not self.update(lr):
                    return losses, accuracies, UPDATE_NOT_FINITE
                restorable = True
            losses.append(float(np.mean(batch_losses)))
            accuracies.append(correct / Y.size)
        return losses, accuracies, FINISHED

    def _step(self, activations, pre_activations, Y):
        dWs, dbs = reference.backward(self.params.weights, activations, pre_activations, Y,
                                      self.tutorial)
        flat = np.empty_like(self.params.flat)
        weights, biases = self.params.views(flat)
        for target, value in zip(weights + biases, dWs + dbs):
            target[...] = value
        return flat

    def _stop(self, losses, accuracies, restorable, status):
        if restorable:
            np.copyto(self.params.flat, self.params.backup)
        return losses, accuracies, status


class Workspace:
    """The compiled engine's buffers for one batch of up to ``capacity`` samples: feature-major,
    the inputs sample-major when the first layer is a BLAS product (see fastbp.kernels.train)."""

    def __init__(self, sizes, capacity, dtype):
        self.capacity = capacity
        self.sizes = sizes
        self.inputs_sample_major = bool(kernels.inputs_sample_major(sizes))
        width = int(sizes[1:].sum())
        self.x = aligned_empty(int(sizes[0]) * capacity, dtype)
        self.y = aligned_empty(int(sizes[-1]) * capacity, dtype)
        self.z = aligned_empty(width * capacity, dtype)
        self.a = aligned_empty(width * capacity, dtype)
        self.d = aligned_empty(width * capacity, dtype)
        self.n = 0  # samples held by the last forward pass
        self._views = None

    def load(self, X, Y=None):
        """Copy X (n, n_in) -- and Y (n, K) -- into the input blocks (see fastbp.kernels.train)."""
        if len(X) != self.n:
            self.n = len(X)
            self._views = None
        load_inputs(self.x, X, self.inputs_sample_major)
        if Y is not None:
            load_targets(self.y, Y)

    def layer_views(self):
        """(activations, pre-activations): sample-major (n, size) views of every layer's block,
        made once per batch size."""
        if self._views is None:
            self._views = (self._layers(self.a), self._layers(self.z))
        return self._views

    def _layers(self, buffer):
        views, offset, n = [], 0, self.n
        for size in self.sizes[1:]:
            size = int(size)
            views.append(buffer[offset * n:(offset + size) * n].reshape(size, n).T)
            offset += size
        return views


def load_inputs(xbuf, X, sample_major):
    if sample_major:
        xbuf[:X.size].reshape(X.shape)[...] = X
    else:
        xbuf[:X.size].reshape(X.shape[1], len(X))[...] = X.T


def load_targets(ybuf, Y):
    ybuf[:Y.size].reshape(Y.shape[1], len(Y))[...] = Y.T


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
        self.sample_major = bool(kernels.inputs_sample_major(sizes))
        width = int(sizes[1:].sum())

        def rows(length):
            line = 64 // dtype.itemsize
            padded = -(-length // line) * line
            return aligned_empty(n_blocks * padded, dtype).reshape(n_blocks, padded)

        self.record = kernels.Blocks(
            x=rows(int(sizes[0]) * capacity), y=rows(int(sizes[-1]) * capacity),
            z=rows(width * capacity), a=rows(width * capacity), d=rows(width * capacity),
            grads=rows(params.flat.size))

    def load(self, X, Y):
        """Split X, Y into the blocks (full batch: each block's share of the samples)."""
        for b in range(self.n_blocks):
            start, stop = block_share(len(X), b, self.n_blocks)
            load_inputs(self.record.x[b], X[start:stop], self.sample_major)
            load_targets(self.record.y[b], Y[start:stop])


class NumbaEngine:
    """The compiled engine: fastbp.kernels over one network's parameter buffer."""

    name = "numba"

    def __init__(self, params, tutorial):
        self.params = params
        self.tutorial = tutorial
        self._recorded = None  # workspace of the last recorded forward (what backward reads)
        self._pool = _WorkspacePool(params.sizes, params.dtype)
        self._blocks = None    # the last training call's blocks, reused by the next
        self._net = kernels.Net(params.flat, params.backup, params.sizes, params.codes)

    def _run_forward(self, ws, X):
        p = self.params
        ws.load(X)
        kernels.forward_pass(p.flat, p.sizes, p.codes, ws.x, ws.z, ws.a, ws.n)

    def record(self, X):
        ws = self._recorded
        if ws is None or ws.capacity < len(X):
            ws = Workspace(self.params.sizes, len(X), self.params.dtype)
        self._recorded = None  # e.g. Ctrl-C during the first compilation: no pass to step from
        self._run_forward(ws, X)
        self._recorded = ws
        activations, pre_activations = ws.layer_views()
        return [X] + activations, list(pre_activations)

    def recorded_samples(self):
        return None if self._recorded is None else self._recorded.n

    def step_from_recorded(self, Y):
        self._gradient_pass(self._recorded, Y, self.params.grads)

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
        load_targets(ws.y, Y)
        kernels.gradient_pass(p.flat, grads, p.sizes, ws.x, ws.y, ws.z, ws.a, ws.d, ws.n,
                              ws.n, self.tutorial)

    def loss(self, X, Y):
        p = self.params
        with self._pool.borrow(len(X)) as ws:
            ws.load(X, Y)
            loss, correct = kernels.network_loss(p.flat, p.sizes, p.codes, ws.x, ws.y, ws.z,
                                                 ws.a, ws.n, self.tutorial)
        return float(loss), correct / Y.size

    def update(self, lr):
        p = self.params
        if kernels.sgd_step(p.flat, p.grads, lr, p.backup):
            return True
        np.copyto(p.flat, p.backup)
        return False

    # -- training calls -------------------------------------------------------------------------
    def _blocks_for(self, n_blocks, capacity):
        blocks = self._blocks
        if blocks is None or blocks.n_blocks != n_blocks or blocks.capacity < capacity:
            blocks = self._blocks = TrainingBlocks(self.params, n_blocks, capacity)
        return blocks

    def _run(self, loop, plan, lr, args):
        """``loop(worker, net, blocks, team, settings, *args)`` on ``plan.n_workers`` workers."""
        n_workers = plan.n_workers
        slots = max(plan.n_blocks, n_workers)
        board = np.zeros((n_workers + 1) * kernels.SLOT, dtype=np.int64)
        record = kernels.Team(board, np.zeros(slots * kernels.SLOT, dtype=np.float64), n_workers)
        settings = kernels.Settings(float(lr), self.tutorial, int(plan.wait_window_ns),
                                    float(plan.wait_limit))
        blocks = self._blocks.record

        def abort():  # a worker failed outside compiled code: the others stop waiting
            board[n_workers * kernels.SLOT] = 1

        def body(worker):
            return loop(worker, self._net, blocks, record, settings, *args)

        return team.run_workers(body, n_workers, abort, plan.one_blas_thread)[0]

    def train_full_batch(self, X, Y, epochs, lr, restorable, plan):
        self._blocks_for(plan.n_blocks, -(-len(X) // plan.n_blocks)).load(X, Y)
        losses = np.empty(epochs, dtype=np.float64)
        accuracies = np.empty(epochs, dtype=np.float64)
        recorded, status = self._run(kernels.train_full_batch, plan, lr,
                                     (len(X), restorable, losses, accuracies))
        return losses[:recorded].tolist(), accuracies[:recorded].tolist(), status

    def train_minibatch(self, X, Y, order, batch_size, lr, restorable, plan):
        # Room for ceil(batch_size / n_blocks) samples per block: a block's share of the last,
        # smaller batch can exceed its share of a full one (5 blocks: 26 of 127, 25 of 128).
        self._blocks_for(plan.n_blocks, -(-batch_size // plan.n_blocks))
        losses = np.empty(len(order), dtype=np.float64)
        accuracies = np.empty(len(order), dtype=np.float64)
        recorded, status = self._run(kernels.train_minibatch, plan, lr,
                                     (X, Y, order, batch_size, restorable, losses, accuracies))
        return losses[:recorded].tolist(), accuracies[:recorded].tolist(), status


def block_share(count, block, n_blocks):
    """(start, stop) of a block's contiguous share of ``count`` samples: the compiled loops'
    own rule (kernels.train.share), run as plain Python."""
    return kernels.train.share.py_func(count, block, n_blocks, 1)


BACKENDS = {"numpy": NumpyEngine, "numba": NumbaEngine}
BACKEND_ALIASES = {"reference": "numpy", "jit": "numba"}
