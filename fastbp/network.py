"""The public NeuralNetwork: validates, converts and dispatches to an engine; computes nothing itself."""
import numbers
from collections.abc import Sequence

import numpy as np

from . import threadctl
from ._validation import check_count, check_dtype, check_layer_sizes, check_lr, check_X, check_y
from .engines import BACKEND_ALIASES, BACKENDS
from .kernels.train import FINISHED, LOSS_NOT_FINITE, TOO_SLOW
from .parameters import Parameters
from .policy import Policy, plan_fit
from .progress import Progress
from .rwlock import ReadWriteLock


class TrainingDivergedError(FloatingPointError):
    """Training produced a NaN/inf loss or parameter; the network was restored to its last finite state.

    ``history`` holds the epochs recorded before the failure (full batch: with an update that
    failed, its epoch's loss too); ``epoch`` is the index (from 0) of the epoch that failed.
    """

    def __init__(self, message, history, epoch):
        super().__init__(message)
        self.history = history
        self.epoch = epoch


class ParameterList(Sequence):
    """A network's per-layer weight (or bias) arrays: writable views into its parameter buffer.

    Item assignment ``nn.weights[i] = W`` checks W (shape; finite once converted to the network's
    dtype) before anything is copied in.  The items themselves are writable views, seen by either
    engine: in-place edits (``nn.weights[i] -= lr * dW``, ``nn.weights[i][0, 0] = v``) write
    straight into the network, before any check can run -- the assignment that ends an augmented
    assignment then reports NaN/inf it wrote, after the fact.  The number of layers is fixed.
    """

    def __init__(self, views, kind, lock):
        self._views = views
        self._kind = kind
        self._lock = lock  # the network's: assignments wait for running fits and predictions

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self._views[index])
        return self._views[index]

    def __len__(self):
        return len(self._views)

    def __setitem__(self, index, value):
        if not isinstance(index, numbers.Integral):
            raise TypeError(f"{self._kind} can be replaced one layer at a time (integer index)")
        target = self._views[index]
        name = f"{self._kind}[{index}]"
        if value is target:
            # ``nn.weights[i] -= dW``: NumPy already wrote the result through the view that
            # __getitem__ returned, and hands that same view back here.
            if not np.all(np.isfinite(value)):
                raise ValueError(
                    f"{name} now holds NaN or infinite values: the in-place operation wrote them "
                    f"into the network before they could be checked (assign a new array, "
                    f"{name} = {name} - ..., to have it checked first)")
            return
        checked = self._checked(target, value, name)
        with self._lock.write():
            np.copyto(target, checked)

    def assign_all(self, values):
        """Replace every layer's values at once (all checked before any is written)."""
        values = list(values)
        if len(values) != len(self._views):
            raise ValueError(f"expected {len(self._views)} {self._kind} arrays, got {len(values)}")
        checked = [self._checked(t, v, f"{self._kind}[{i}]")
                   for i, (t, v) in enumerate(zip(self._views, values))]
        with self._lock.write():
            for target, value in zip(self._views, checked):
                np.copyto(target, value)

    @staticmethod
    def _checked(target, value, name):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        if array.shape != target.shape:
            raise ValueError(f"{name} must have shape {target.shape}, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or infinite values")
        with np.errstate(over="ignore"):
            converted = array.astype(target.dtype)
        if not np.all(np.isfinite(converted)):
            raise ValueError(f"{name} has values beyond the range of {target.dtype} (they would "
                             "become infinite)")
        return converted

    def __add__(self, other):
        """``nn.weights + nn.biases`` -> a plain list of the views, as with the tutorial's lists."""
        return list(self) + list(other)

    def __radd__(self, other):
        return list(other) + list(self)

    def __delitem__(self, index):
        raise TypeError("the number of layers is fixed; build a new NeuralNetwork to change it")

    def __repr__(self):
        return repr(list(self._views))


def _resolve_backend(backend):
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, one of {sorted(BACKENDS)}; got {backend!r}")
    name = BACKEND_ALIASES.get(backend, backend)
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    return name


def _initial_weights(random, n_in, n_out):
    """He-initialised (n_in, n_out) float64 weights drawn as the tutorial draws them."""
    scale = np.sqrt(2.0 / n_in)
    if isinstance(random, np.random.Generator):
        return random.standard_normal((n_in, n_out)) * scale
    return random.randn(n_in, n_out) * scale  # np.random (global state) or a RandomState


def _random_source(seed):
    """np.random itself (seed=None: NumPy's global state), a RandomState, or a Generator."""
    if seed is None:
        return np.random
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be None, an int, a numpy Generator or RandomState, got {seed!r}")


class NeuralNetwork:
    """A dense network -- ReLU hidden layers, sigmoid output, binary cross-entropy -- trained by SGD.

    A drop-in replacement for the tutorial's NumPy class (same ``weights``, ``biases``,
    ``forward``, ``backward``, ``activations``, ``pre_activations``), running on compiled kernels
    (``backend="numba"``) or on the NumPy reference (``backend="numpy"``).

    Parameters
    ----------
    layer_sizes : sequence of int, e.g. ``[2, 16, 8, 1]``.
    backend : ``"numba"`` (default) or ``"numpy"`` (alias ``"reference"``).
    dtype : float32 or float64; parameters, activations and gradients all stay in it.
    tutorial_compat : False (default) for exact gradients; True to reproduce the tutorial's update
        rule and clipped loss exactly (bias gradient divided by N twice, vanishing output delta).
    seed : None draws the initial weights from NumPy's global random state in the tutorial's order;
        an int, ``np.random.Generator`` or ``np.random.RandomState`` gives an independent stream
        (also used to shuffle mini-batches).

    Attributes
    ----------
    policy : fastbp.policy.Policy
        How fits are run (blocks, workers, calls); replace it with ``dataclasses.replace``.
    workers_used : list of int
        The worker threads of the last fit: ``[2]``, or ``[2, 1]`` when its team handed over to
        one worker (the results are the same either way).

    Inference (``predict``, ``predict_proba``, ``loss``, ``score``, ``gradients``,
    ``forward(X, record=False)``) may run in many threads at once on one network; calls that
    change it (``fit``, ``backward``, ``forward`` recording its pass, weight assignment) run one
    at a time, and inference waits for a running change to finish.
    """

    def __init__(self, layer_sizes, *, backend="numba", dtype=np.float64, tutorial_compat=False,
                 seed=None):
        sizes = check_layer_sizes(layer_sizes)
        dtype = check_dtype(dtype)
        backend = _resolve_backend(backend)
        self._random = _random_source(seed)
        self.layer_sizes = sizes
        self.dtype = dtype
        self.backend = backend
        self.tutorial_compat = bool(tutorial_compat)
        self.policy = Policy()
        self.workers_used = []
        self._lock = ReadWriteLock()
        self._params = Parameters(sizes, dtype)
        for W in self._params.weights:
            W[...] = _initial_weights(self._random, *W.shape)
        self._weights = ParameterList(self._params.weights, "weights", self._lock)
        self._biases = ParameterList(self._params.biases, "biases", self._lock)
        self._engine = BACKENDS[backend](self._params, self.tutorial_compat)
        self.activations = []
        self.pre_activations = []

    def __getstate__(self):
        """Copies and pickles keep the parameters and the random source (not the last forward)."""
        with self._lock.read():
            params = self._params.flat.copy()
        return {"layer_sizes": self.layer_sizes, "backend": self.backend, "dtype": self.dtype.str,
                "tutorial_compat": self.tutorial_compat, "params": params, "policy": self.policy,
                "random": None if self._random is np.random else self._random}

    def __setstate__(self, state):
        # Rebuild the buffer, its per-layer views and the engine: copied views would be detached.
        self.__init__(state["layer_sizes"], backend=state["backend"], dtype=state["dtype"],
                      tutorial_compat=state["tutorial_compat"], seed=0)
        self._params.flat[...] = state["params"]
        self._random = np.random if state["random"] is None else state["random"]
        self.policy = state.get("policy", self.policy)

    def __repr__(self):
        options = f"backend={self.backend!r}, dtype={self.dtype.name}"
        if self.tutorial_compat:
            options += ", tutorial_compat=True"
        return f"NeuralNetwork({list(self.layer_sizes)}, {options})"

    # -- parameters ---------------------------------------------------------------------------
    @property
    def weights(self):
        """Per-layer (n_in, n_out) weight arrays, views into the parameter buffer."""
        return self._weights

    @weights.setter
    def weights(self, values):
        self._weights.assign_all(values)

    @property
    def biases(self):
        """Per-layer (n_out,) bias arrays, views into the parameter buffer."""
        return self._biases

    @biases.setter
    def biases(self, values):
        self._biases.assign_all(values)

    @property
    def n_outputs(self):
        return self.layer_sizes[-1]

    # -- the tutorial's API -------------------------------------------------------------------
    def forward(self, X, *, record=True):
        """(N, n_outputs) probabilities, a new array.

        ``record=True`` (the tutorial's call) also records ``activations`` (L+1) and
        ``pre_activations`` (L) for ``backward``: on the numba engine they are views into its
        workspace, reused by the next recording ``forward`` (copy them to keep them).
        ``record=False`` records nothing and may run in many threads at once.
        """
        X = check_X(X, self.layer_sizes[0], self.dtype)
        if not record:
            with self._lock.read():
                return self._engine.output(X)
        with self._lock.write():
            self.activations, self.pre_activations = self._engine.record(X)
            return np.array(self.activations[-1], order="C")

    def backward(self, y_true, lr=0.01):
        """Step from the last ``forward``: gradients (of the mode) and an SGD update in place."""
        with self._lock.write():
            n_samples = self._engine.recorded_samples()
            if n_samples is None:
                raise RuntimeError("backward() needs a forward(X) pass first")
            Y = check_y(y_true, n_samples, self.n_outputs, self.dtype)
            lr = check_lr(lr)
            self._engine.step_from_recorded(Y)
            if not self._engine.update(lr):
                raise TrainingDivergedError(
                    f"the update with lr={lr} would make parameters NaN or infinite; the network "
                    "is unchanged", history=None, epoch=None)

    # -- gradients and evaluation -------------------------------------------------------------
    def gradients(self, X, y):
        """(list of dW, list of db): the step direction of the mode, per unit of lr; no update.

        The exact gradient of the mean loss by default; the tutorial's step with tutorial_compat.
        """
        X, Y = self._check_data(X, y)
        with self._lock.read():
            flat = self._engine.gradients(X, Y)
        weights, biases = self._params.views(flat)
        return list(weights), list(biases)

    def loss(self, X, y):
        """Mean binary cross-entropy (stable, from the logits; the tutorial's clipped BCE in
        tutorial mode)."""
        X, Y = self._check_data(X, y)
        with self._lock.read():
            return self._engine.loss(X, Y)[0]

    def score(self, X, y):
        """Accuracy: the fraction of outputs where (probability > 0.5) equals the label."""
        X, Y = self._check_data(X, y)
        with self._lock.read():
            return self._engine.loss(X, Y)[1]

    def predict_proba(self, X):
        """Probabilities, scikit-learn style: (N, 2) [P(0), P(1)] for one output, else (N, K)."""
        p = self.forward(X, record=False)
        return np.hstack([1 - p, p]) if self.n_outputs == 1 else p

    def predict(self, X):
        """Labels 0/1: (N,) for one output, (N, K) for several."""
        labels = (self.forward(X, record=False) > 0.5).astype(np.int64)
        return labels.ravel() if self.n_outputs == 1 else labels

    # -- training -----------------------------------------------------------------------------
    def fit(self, X, y, *, epochs=1000, lr=0.01, batch_size=None, shuffle=True, seed=None,
            verbose=0):
        """Train by gradient descent; returns {'loss': [...], 'accuracy': [...]}, one entry per epoch.

        ``batch_size=None``: full batch, each epoch's loss and accuracy measured before its update
        (as the tutorial's loop).  An integer: shuffled mini-batches, one step per batch on its
        mean gradient; the history records per epoch the mean of the batch losses and the accuracy
        over those batches.  The order is reshuffled every epoch from ``seed`` if given, else from
        the network's own random source.  The loop runs inside compiled calls of many epochs each
        (Ctrl-C stops the fit between two calls, the network left as the last one made it).
        ``verbose=1`` shows progress (tqdm if installed).

        A seeded fit gives the same bits whatever the number of threads (see fastbp.policy).
        If the loss or an update becomes NaN/inf, raises TrainingDivergedError and leaves the
        network at its last state with a finite loss.
        """
        X, Y = self._check_data(X, y)
        epochs = check_count(epochs, "epochs", 0)
        lr = check_lr(lr)
        if batch_size is not None:
            batch_size = min(check_count(batch_size, "batch_size", 1), len(X))
        random = self._random if seed is None else _random_source(seed)
        with self._lock.write():
            return self._fit(X, Y, epochs, lr, batch_size, shuffle, random, verbose)

    def _fit(self, X, Y, epochs, lr, batch_size, shuffle, random, verbose):
        plan = plan_fit(self.policy, self.layer_sizes, len(X), batch_size, epochs,
                        threads=threadctl.get_num_threads(), progress=bool(verbose))
        history = {"loss": [], "accuracy": []}
        self.workers_used = [plan.n_workers]
        restorable = False
        with Progress(epochs, verbose) as progress:
            for start in range(0, epochs, plan.epochs_per_call):
                count = min(plan.epochs_per_call, epochs - start)
                order = None if batch_size is None else _sample_orders(random, count, len(X),
                                                                       shuffle)
                done = 0
                while done < count:  # one call, or more after a fallback to one worker
                    if batch_size is None:
                        losses, accuracies, status = self._engine.train_full_batch(
                            X, Y, count - done, lr, restorable, plan)
                    else:
                        losses, accuracies, status = self._engine.train_minibatch(
                            X, Y, order[done:], batch_size, lr, restorable, plan)
                    history["loss"].extend(losses)
                    history["accuracy"].extend(accuracies)
                    done += len(losses)
                    restorable = restorable or bool(losses)
                    if status == TOO_SLOW:  # the team waited for a worker without a core
                        plan = plan.after_fallback()
                        self.workers_used.append(1)
                    elif status != FINISHED:
                        # full batch: an update that failed comes after its epoch's loss
                        failed = start + done - (batch_size is None and status != LOSS_NOT_FINITE)
                        self._diverged(status, history, failed, lr)
                progress.update(count, history)
        return history

    def _diverged(self, status, history, epoch, lr):
        what = "the loss" if status == LOSS_NOT_FINITE else "an update"
        raise TrainingDivergedError(
            f"training diverged: {what} became NaN or infinite in epoch {epoch + 1} (lr={lr} may be "
            f"too large); the network was restored to its last state with a finite loss (left "
            f"unchanged if the first loss was not finite), and the history of the "
            f"{len(history['loss'])} epochs recorded is in this error's .history",
            history=history, epoch=epoch)

    def _check_data(self, X, y):
        X = check_X(X, self.layer_sizes[0], self.dtype)
        return X, check_y(y, len(X), self.n_outputs, self.dtype)


def _sample_orders(random, epochs, n_samples, shuffle):
    """(epochs, n_samples) int64 sample orders: a fresh permutation per epoch, or 0..N-1."""
    if not shuffle:
        return np.broadcast_to(np.arange(n_samples, dtype=np.int64), (epochs, n_samples)).copy()
    return np.stack([random.permutation(n_samples) for _ in range(epochs)]).astype(np.int64, copy=False)
