"""The engines behind :class:`fastbp.NeuralNetwork`: one small interface, two implementations.

* ``"numpy"`` (:class:`NumpyEngine`): the pure-NumPy reference (:mod:`fastbp.reference`), loops in Python;
* ``"numba"`` (:class:`NumbaEngine`): the compiled kernels (:mod:`fastbp.kernels`), whole training
  loops inside one compiled call, workspaces allocated once per batch size.

Both read and write the network's :class:`~fastbp.parameters.Parameters` buffer, so editing
``nn.weights[i]`` in place is seen by either.  Inputs arrive validated: X (N, n_in), Y (N, K), in
the network's dtype and C-contiguous.  ``ENGINES`` is the table that tests, benchmarks and the
comparison command iterate over.
"""
import contextlib

import numpy as np

from . import kernels, parallel, reference
from .parameters import aligned_empty


class NumpyEngine:
    """The reference engine: :mod:`fastbp.reference` step by step."""

    name = "numpy"

    def __init__(self, params, tutorial):
        self.params = params
        self.tutorial = tutorial
        self._recorded = None  # (activations, pre_activations) of the last recorded forward

    def forward(self, X, record=True):
        """Returns (activations, pre_activations), sample-major lists as the tutorial keeps them.
        A recorded pass keeps its own copy of X (as the compiled engine's workspace does), so
        the caller changing X before ``backward`` changes neither engine's step."""
        if record:
            X = X.copy()
        result = reference.forward(self.params.weights, self.params.biases, X)
        if record:
            self._recorded = result
        return result

    def recorded_samples(self):
        return None if self._recorded is None else len(self._recorded[0][0])

    def step_from_recorded(self, Y):
        """Fill ``params.grads`` with the step direction from the last recorded forward pass."""
        activations, pre_activations = self._recorded
        self._store_step(activations, pre_activations, Y)

    def gradients(self, X, Y):
        activations, pre_activations = self.forward(X, record=False)
        self._store_step(activations, pre_activations, Y)

    def loss(self, X, Y):
        """(mean loss, accuracy) of the network on X, Y."""
        activations, pre_activations = self.forward(X, record=False)
        return (reference.loss(pre_activations[-1], activations[-1], Y, self.tutorial),
                reference.accuracy(activations[-1], Y))

    def fitting(self, epochs):
        """The training calls of one fit (nothing to share between them here)."""
        return contextlib.nullcontext()

    def update(self, lr):
        """SGD step with the stored gradients; False (nothing changed) if it would not be finite."""
        np.copyto(self.params.backup, self.params.flat)
        return reference.sgd_update(self.params.flat, self.params.grads, lr)

    @np.errstate(over="ignore", invalid="ignore")  # divergence is detected and reported instead
    def train_full_batch(self, X, Y, epochs, lr, restorable):
        """Returns (losses, accuracies, status) as the compiled loop does, one Python step per epoch."""
        losses, accuracies = [], []
        for _ in range(epochs):
            loss, accuracy = self.loss(X, Y)
            if not np.isfinite(loss):
                return self._stop(losses, accuracies, restorable, kernels.train.LOSS_NOT_FINITE)
            losses.append(loss)
            accuracies.append(accuracy)
            self.gradients(X, Y)
            if not self.update(lr):
                return losses, accuracies, kernels.train.UPDATE_NOT_FINITE
            restorable = True
        return losses, accuracies, kernels.train.FINISHED

    @np.errstate(over="ignore", invalid="ignore")
    def train_minibatch(self, X, Y, order, batch_size, lr, restorable):
        losses, accuracies = [], []
        n_samples = len(X)
        for epoch_order in order:
            batch_losses, correct = [], 0.0
            for start in range(0, n_samples, batch_size):
                rows = epoch_order[start:start + batch_size]
                loss, accuracy = self.loss(X[rows], Y[rows])
                if not np.isfinite(loss):
                    return self._stop(losses, accuracies, restorable, kernels.train.LOSS_NOT_FINITE)
                batch_losses.append(loss)
                correct += accuracy * Y[rows].size
                self.gradients(X[rows], Y[rows])
                if not self.update(lr):
                    return losses, accuracies, kernels.train.UPDATE_NOT_FINITE
                restorable = True
            losses.append(float(np.mean(batch_losses)))
            accuracies.append(correct / Y.size)
        return losses, accuracies, kernels.train.FINISHED

    def _store_step(self, activations, pre_activations, Y):
        dWs, dbs = reference.backward(self.params.weights, activations, pre_activations, Y,
                                      self.tutorial)
        for target, value in zip(self.params.grad_weights + self.params.grad_biases, dWs + dbs):
            target[...] = value

    def _stop(self, losses, accuracies, restorable, status):
        if restorable:
            np.copyto(self.params.flat, self.params.backup)
        return losses, accuracies, status


class _Workspace:
    """The compiled engine's buffers for batches of up to ``capacity`` samples: feature-major, the
    inputs sample-major when the first layer is a BLAS product (see fastbp.kernels.train)."""

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
        n = self.n
        if self.inputs_sample_major:
            self.x[:X.size].reshape(n, X.shape[1])[...] = X
        else:
            self.x[:X.size].reshape(X.shape[1], n)[...] = X.T
        if Y is not None:
            self.load_targets(Y)

    def load_targets(self, Y):
        self.y[:Y.size].reshape(Y.shape[1], len(Y))[...] = Y.T

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


class NumbaEngine:
    """The compiled engine: fastbp.kernels over one network's parameter buffer."""

    name = "numba"

    def __init__(self, params, tutorial):
        self.params = params
        self.tutorial = tutorial
        self._recorded = None  # workspace of the last recorded forward (what backward reads)
        self._scratch = None   # workspace for gradients/loss/predict, so they leave it untouched
        self._last_team = None  # buffers of the last training call's workers
        self.workers_used = []  # worker counts of the last fit (or training call): [2], or [2, 1]
                                # when its workers were too slow and one worker finished it
        self._fit_epochs = None  # the epochs of the fit whose training calls are running
        self._fit_fell_back = False  # a team of that fit handed over to one worker
        self._has_blas_layers = any(kernels.use_blas(n_in, n_out)
                                    for n_in, n_out in params.layer_shapes)
        self._widest_layer = max(n_in * n_out for n_in, n_out in params.layer_shapes)

    def _workspace(self, current, n):
        if current is None or current.capacity < n:
            return _Workspace(self.params.sizes, n, self.params.dtype)
        return current

    def _run_forward(self, ws, X):
        p = self.params
        ws.load(X)
        kernels.forward_pass(p.flat, p.sizes, p.activations, ws.x, ws.z, ws.a, ws.n)

    def forward(self, X, record=True):
        if record:
            self._recorded = ws = self._workspace(self._recorded, len(X))
        else:
            self._scratch = ws = self._workspace(self._scratch, len(X))
        try:
            self._run_forward(ws, X)
        except BaseException:  # e.g. Ctrl-C during the first compilation: no pass to step from
            if record:
                self._recorded = None
            raise
        activations, pre_activations = ws.layer_views()
        return [X] + activations, list(pre_activations)

    def recorded_samples(self):
        return None if self._recorded is None else self._recorded.n

    def step_from_recorded(self, Y):
        self._gradient_pass(self._recorded, Y)

    def gradients(self, X, Y):
        self._scratch = ws = self._workspace(self._scratch, len(X))
        self._run_forward(ws, X)
        self._gradient_pass(ws, Y)

    def _gradient_pass(self, ws, Y):
        p = self.params
        ws.load_targets(Y)
        kernels.gradient_pass(p.flat, p.grads, p.sizes, ws.x, ws.y, ws.z, ws.a, ws.d, ws.n,
                              ws.n, self.tutorial)

    def loss(self, X, Y):
        p = self.params
        self._scratch = ws = self._workspace(self._scratch, len(X))
        ws.load(X, Y)
        loss, correct = kernels.network_loss(p.flat, p.sizes, p.activations, ws.x, ws.y, ws.z,
                                             ws.a, ws.n, self.tutorial)
        return float(loss), correct / Y.size

    def update(self, lr):
        p = self.params
        if kernels.sgd_step(p.flat, p.grads, lr, p.backup):
            return True
        np.copyto(p.flat, p.backup)
        return False

    def _team(self, n_workers, shares):
        """Buffers for ``n_workers`` workers training on batches of ``shares`` [(start, stop)]."""
        team = self._last_team
        capacities = [stop - start for start, stop in shares]
        if team is None or team.n_workers != n_workers or any(
                ws.capacity < c for ws, c in zip(team.workspaces, capacities)):
            team = self._last_team = _Team(self.params, capacities)
        team.board[:] = 0
        return team

    def _run(self, loop, n_workers, team, per_worker_args, common_args):
        p = self.params
        head = (team.board, team.shared, p.flat, p.grads, team.others, p.backup, p.sizes,
                p.activations)

        def body(worker):
            return loop(worker, *head, *per_worker_args(worker), *common_args)

        # One BLAS thread whenever a network's fit can use a team, even in a fit too small for
        # one: OpenBLAS threads spin for ~0.1 s after their last product, and spinning on a core
        # of the workers of the next fit they made it fall back to one worker (measured: the
        # spirals fell back in every fit after one on one worker, 255 instead of 166 us/epoch).
        one_blas_thread = self._has_blas_layers and self._widest_layer <= MAX_WORKER_LAYER_WEIGHTS
        try:
            results = parallel.run_workers(body, n_workers, team.abort, one_blas_thread)
        except BaseException:
            self._last_team = None  # its board holds a failed call's state
            raise
        return results[0]

    @contextlib.contextmanager
    def fitting(self, epochs):
        """The training calls of one fit of ``epochs`` epochs (fit splits long ones): each chooses
        its workers for the whole fit's work, once a team has handed over to one worker the
        remaining calls keep one, and ``workers_used`` covers the whole fit -- so how fit splits
        its epochs never changes the workers, nor the results."""
        self.workers_used = []
        self._fit_epochs, self._fit_fell_back = epochs, False
        try:
            yield
        finally:
            self._fit_epochs = None

    def _workers_for(self, batch, samples_per_epoch, epochs):
        if self._fit_epochs is None:  # a training call on its own
            self.workers_used = []
            return self.worker_count(batch, samples_per_epoch * epochs)
        if self._fit_fell_back:
            return 1
        return self.worker_count(batch, samples_per_epoch * self._fit_epochs)

    def train_full_batch(self, X, Y, epochs, lr, restorable):
        n_workers = self._workers_for(len(X), len(X), epochs)
        return self._until_done(epochs, restorable, n_workers, lambda done, restorable, n_workers:
                                self._full_batch(X, Y, epochs - done, lr, restorable, n_workers))

    def train_minibatch(self, X, Y, order, batch_size, lr, restorable):
        n_workers = self._workers_for(batch_size, order.shape[1], len(order))
        return self._until_done(len(order), restorable, n_workers, lambda done, restorable, n_workers:
                                self._minibatch(X, Y, order[done:], batch_size, lr, restorable,
                                                n_workers))

    def _until_done(self, epochs, restorable, n_workers, train):
        """Run ``train`` (a compiled loop over the remaining epochs); when its workers stopped as
        TOO_SLOW (they kept waiting for a worker without a core), continue on one worker -- and,
        within a fit, keep one worker for its remaining calls."""
        losses, accuracies = [], []
        if not self.workers_used or self.workers_used[-1] != n_workers:
            self.workers_used.append(n_workers)
        while True:
            more_losses, more_accuracies, status = train(len(losses), restorable, n_workers)
            losses += more_losses
            accuracies += more_accuracies
            if status == kernels.train.TOO_SLOW:
                self._fit_fell_back = True  # (read only within a fit)
                status = kernels.train.FINISHED
                if len(losses) < epochs:
                    n_workers, restorable = 1, True
                    self.workers_used.append(1)
                    continue
            return losses, accuracies, status

    def _full_batch(self, X, Y, epochs, lr, restorable, n_workers):
        shares = [sample_share(len(X), w, n_workers) for w in range(n_workers)]
        team = self._team(n_workers, shares)
        for ws, (start, stop) in zip(team.workspaces, shares):
            ws.load(X[start:stop], Y[start:stop])
        losses = np.empty(epochs, dtype=np.float64)
        accuracies = np.empty(epochs, dtype=np.float64)

        def per_worker(worker):
            ws = team.workspaces[worker]
            return ws.x, ws.y, ws.z, ws.a, ws.d, ws.n

        recorded, status = self._run(kernels.train_full_batch, n_workers, team, per_worker,
                                     (len(X), float(lr), self.tutorial, restorable, losses,
                                      accuracies))
        return losses[:recorded].tolist(), accuracies[:recorded].tolist(), status

    def _minibatch(self, X, Y, order, batch_size, lr, restorable, n_workers):
        # Every worker room for ceil(batch_size / n_workers) samples: a worker's share of the last,
        # smaller batch can exceed its share of a full one (5 workers: 26 of 127, 25 of 128).
        capacity = -(-batch_size // n_workers)
        team = self._team(n_workers, [(0, capacity)] * n_workers)
        losses = np.empty(len(order), dtype=np.float64)
        accuracies = np.empty(len(order), dtype=np.float64)

        def per_worker(worker):
            ws = team.workspaces[worker]
            return X, Y, order, batch_size, ws.x, ws.y, ws.z, ws.a, ws.d

        recorded, status = self._run(kernels.train_minibatch, n_workers, team, per_worker,
                                     (float(lr), self.tutorial, restorable, losses, accuracies))
        return losses[:recorded].tolist(), accuracies[:recorded].tolist(), status

    def worker_count(self, batch, sample_passes):
        """Threads for a training (a whole fit) of batches of ``batch`` samples, ``sample_passes``
        sample passes in all.  Up to ``fastbp.get_num_threads()``, as long as each worker's
        share of a step is worth a barrier (share x parameters >= MIN_WORKER_STEP_WORK) and the
        training as a whole is worth waking the other threads (>= MIN_PARALLEL_WORK multiply-adds);
        one when a layer has more than MAX_WORKER_LAYER_WEIGHTS weights: its BLAS products use
        every core by themselves (measured on 2 cores, see the README)."""
        n_params = self.params.flat.size
        if (sample_passes * n_params < MIN_PARALLEL_WORK
                or self._widest_layer > MAX_WORKER_LAYER_WEIGHTS):
            return 1
        n_workers = parallel.get_num_threads()
        while n_workers > 1 and (batch // n_workers) * n_params < MIN_WORKER_STEP_WORK:
            n_workers -= 1
        return n_workers


# When training is split between threads (NumbaEngine.worker_count), measured on 2 cores:
# the circle net gains from 100 samples (1.12x), the spirals and demo nets from 40 (1.2-1.3x);
# with a 784x256 first layer (W5) or 1024x1024 layers (W4) two workers tied with one worker
# and 2-thread BLAS (500 vs 498 ms, 174 vs 175 ms).
MIN_WORKER_STEP_WORK = 8192
MIN_PARALLEL_WORK = 20_000_000
MAX_WORKER_LAYER_WEIGHTS = 65536


def sample_share(count, worker, n_workers):
    """(start, stop) of worker's contiguous share of ``count`` samples: the compiled loops' own
    rule (kernels.train.share), run as plain Python."""
    return kernels.train.share.py_func(count, worker, n_workers, 1)


class _Team:
    """The buffers of the workers of a data-parallel training call (see fastbp.kernels.train):
    a workspace each, the gradient shares of workers 1.. (worker 0 uses the network's ``grads``),
    the barrier board and the shared loss/flag slots."""

    def __init__(self, params, capacities):
        self.n_workers = len(capacities)
        self.workspaces = [_Workspace(params.sizes, c, params.dtype) for c in capacities]
        size = params.flat.size
        self.others = aligned_empty((self.n_workers - 1) * size, params.dtype).reshape(
            self.n_workers - 1, size)
        self.board = np.zeros((self.n_workers + 1) * kernels.SLOT, dtype=np.int64)
        self.shared = np.zeros(self.n_workers * kernels.SLOT, dtype=np.float64)

    def abort(self):
        """Make every worker waiting at a barrier give up (a worker failed outside compiled code)."""
        self.board[self.n_workers * kernels.SLOT] = 1


ENGINES = {"numpy": NumpyEngine, "numba": NumbaEngine}
ENGINE_ALIASES = {"reference": "numpy", "jit": "numba"}
