"""The public NeuralNetwork: validates, converts and dispatches to an engine; computes nothing itself."""
from __future__ import annotations

import dataclasses
import numbers
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import calibration, kernels, modelfile, threadctl
from ._validation import (
    check_activations,
    check_dtype,
    check_layer_sizes,
    check_lr,
    check_output,
    check_targets,
    check_X,
)
from .engines import BACKEND_ALIASES, BACKENDS, Run
from .errors import TrainingDivergedError
from .fitting import check_fit_options, lbfgs_fit
from .kernels.train import FINISHED, LOSS_NOT_FINITE, STOPPED, TOO_SLOW
from .parameters import Parameters
from .policy import DEFAULT_MIN_PARALLEL_WORK, Policy, helper_workers, plan_fit, plan_step
from .progress import Progress
from .rwlock import ReadWriteLock


class ParameterList(Sequence):
    """A network's per-layer weight (or bias) arrays: writable views into its parameter buffer.

    Item assignment ``nn.weights[i] = W`` checks W (shape; finite once converted to the network's
    dtype) before anything is copied in.  The items themselves are writable views, seen by either
    engine: in-place edits (``nn.weights[i] -= lr * dW``, ``nn.weights[i][0, 0] = v``) write
    straight into the network, before any check can run -- the assignment that ends an augmented
    assignment then reports NaN/inf it wrote, after the fact.  The number of layers is fixed.
    """

    def __init__(self, views: Sequence[np.ndarray], kind: str, lock: ReadWriteLock) -> None:
        self._views = views
        self._kind = kind
        self._lock = lock  # the network's: assignments wait for running fits and predictions

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return list(self._views[index])
        return self._views[index]

    def __len__(self) -> int:
        return len(self._views)

    def __setitem__(self, index: int, value: ArrayLike) -> None:
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

    def assign_all(self, values: Iterable[ArrayLike]) -> None:
        """Replace every layer's values at once (all checked before any is written).

        Parameters
        ----------
        values : iterable of array-like
            One array per layer, each of that layer's shape (weights ``(n_in, n_out)``, biases
            ``(n_out,)``), holding real numbers; converted to the network's dtype.

        Raises
        ------
        ValueError
            If the number of arrays differs from the number of layers, or an array has the wrong
            shape, holds NaN or infinite values, or values beyond the range of the network's dtype.
            Nothing is written then.
        TypeError
            If an array does not hold real numbers.
        """
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

    def __add__(self, other: Iterable[np.ndarray]) -> list[np.ndarray]:
        """``nn.weights + nn.biases`` -> a plain list of the views, as with the tutorial's lists."""
        return list(self) + list(other)

    def __radd__(self, other: Iterable[np.ndarray]) -> list[np.ndarray]:
        return list(other) + list(self)

    def __delitem__(self, index: int | slice) -> None:
        raise TypeError("the number of layers is fixed; build a new NeuralNetwork to change it")

    def __repr__(self) -> str:
        return repr(list(self._views))


def _resolve_backend(backend):
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, one of {sorted(BACKENDS)}; got {backend!r}")
    name = BACKEND_ALIASES.get(backend, backend)
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    return name


RELU_FAMILY = ("relu", "leaky_relu")


def _initial_weights(random, n_in, n_out, he=True):
    """(n_in, n_out) float64 weights drawn as the tutorial draws them: normal, scaled for He
    (sqrt(2 / n_in), the ReLU family) or Glorot (sqrt(2 / (n_in + n_out)), tanh, sigmoid,
    identity)."""
    scale = np.sqrt(2.0 / n_in) if he else np.sqrt(2.0 / (n_in + n_out))
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
    """A dense network trained by backpropagation: by default the tutorial's -- ReLU hidden
    layers, sigmoid output, binary cross-entropy, SGD.

    A drop-in replacement for the tutorial's NumPy class (same ``weights``, ``biases``,
    ``forward``, ``backward``, ``activations``, ``pre_activations``), running on compiled kernels
    (``backend="numba"``) or on the NumPy reference (``backend="numpy"``).

    Parameters
    ----------
    layer_sizes : sequence of int
        The size of every layer, input first and output last, e.g. ``[2, 16, 8, 1]``: at least
        two positive integers.
    activation : str or sequence of str, default "relu"
        The hidden layers' activation: ``"relu"``, ``"leaky_relu"`` (slope 0.01 below zero),
        ``"tanh"``, ``"sigmoid"`` (alias ``"logistic"``) or ``"identity"``; or a list with one
        name per hidden layer.
    output : str, default "sigmoid"
        The head and its loss: ``"sigmoid"`` (binary cross-entropy over K >= 1 independent
        outputs, labels in {0, 1}), ``"softmax"`` (categorical cross-entropy, K >= 2; integer
        labels or one-hot/probability rows) or ``"identity"`` (mean squared error, regression).
    backend : str, default "numba"
        ``"numba"`` (compiled kernels) or ``"numpy"`` (alias ``"reference"``).
    dtype : dtype-like, default np.float64
        float32 or float64; parameters, activations and gradients all stay in it.
    tutorial_compat : bool, default False
        False for exact gradients; True to reproduce the tutorial's update rule and clipped loss
        exactly (bias gradient divided by N twice, vanishing output delta).
    seed : int, numpy.random.Generator, numpy.random.RandomState or None, default None
        None draws the initial weights from NumPy's global random state in the tutorial's
        order; an int, ``np.random.Generator`` or ``np.random.RandomState`` gives an independent
        stream (also used to shuffle mini-batches).

    Attributes
    ----------
    policy : fastbp.policy.Policy
        How fits are run (blocks, workers, calls); replace it with ``dataclasses.replace``.
    workers_used : list of int
        The worker threads of the last fit: ``[2]``, or ``[2, 1]`` when its team handed over to
        one worker (the results are the same either way).

    Raises
    ------
    TypeError
        If ``layer_sizes`` is not a sequence of integers, an activation or ``output`` is not a
        string, ``backend`` is not a string, ``dtype`` is not float32 or float64, or ``seed`` is
        of another type.
    ValueError
        If ``layer_sizes`` has fewer than two sizes or a size below 1, an activation, ``output``
        or ``backend`` is unknown, the activation list does not have one name per hidden layer, a
        softmax output has fewer than 2 outputs, or ``tutorial_compat=True`` is asked of another
        model than ReLU hidden layers with a sigmoid output.

    Notes
    -----
    Inference (``predict``, ``predict_proba``, ``loss``, ``score``, ``gradients``,
    ``forward(X, record=False)``) may run in many threads at once on one network; calls that
    change it (``fit``, ``backward``, ``forward`` recording its pass, weight assignment) run one
    at a time, and inference waits for a running change to finish.
    """

    def __init__(self, layer_sizes: Sequence[int], *, activation: str | Sequence[str] = "relu",
                 output: str = "sigmoid", backend: str = "numba", dtype: DTypeLike = np.float64,
                 tutorial_compat: bool = False,
                 seed: int | np.random.Generator | np.random.RandomState | None = None) -> None:
        sizes = check_layer_sizes(layer_sizes)
        hidden = check_activations(activation, len(sizes) - 2)
        output = check_output(output, sizes[-1])
        dtype = check_dtype(dtype)
        backend = _resolve_backend(backend)
        if tutorial_compat and (any(name != "relu" for name in hidden) or output != "sigmoid"):
            raise ValueError("tutorial_compat=True reproduces the tutorial's model only: ReLU "
                             "hidden layers and a sigmoid output")
        self._random = _random_source(seed)
        self.layer_sizes = sizes
        self.activation = activation if isinstance(activation, str) else list(hidden)
        self.output = output
        self.dtype = dtype
        self.backend = backend
        self.tutorial_compat = bool(tutorial_compat)
        self.policy = Policy()
        self.workers_used = []
        self._lock = ReadWriteLock()
        self._params = Parameters(sizes, dtype, hidden, output)
        relu_network = all(name in RELU_FAMILY for name in hidden)
        for i, W in enumerate(self._params.weights):
            he = relu_network if i == len(hidden) else hidden[i] in RELU_FAMILY
            W[...] = _initial_weights(self._random, *W.shape, he=he)
        self._optimizer = None        # the settings the optimizer state belongs to
        self._optimizer_state = None  # kernels.OptimizerState
        self._optimizer_steps = 0
        self._weights = ParameterList(self._params.weights, "weights", self._lock)
        self._biases = ParameterList(self._params.biases, "biases", self._lock)
        self._engine = BACKENDS[backend](self._params, self.tutorial_compat)
        self._layers = lambda: ([], [])  # the last recording forward's layers, made on demand
        self._layer_lists = None
        self._step_plans = {}  # the last recording forward's StepPlan, by its inputs

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles keep the parameters and the random source (not the last forward)."""
        with self._lock.read():
            params = self._params.flat.copy()
        return {"layer_sizes": self.layer_sizes, "activation": self.activation,
                "output": self.output, "backend": self.backend, "dtype": self.dtype.str,
                "tutorial_compat": self.tutorial_compat, "params": params, "policy": self.policy,
                "random": None if self._random is np.random else self._random}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        # Rebuild the buffer, its per-layer views and the engine: copied views would be detached.
        self.__init__(state["layer_sizes"], activation=state.get("activation", "relu"),
                      output=state.get("output", "sigmoid"), backend=state["backend"],
                      dtype=state["dtype"], tutorial_compat=state["tutorial_compat"], seed=0)
        self._params.flat[...] = state["params"]
        self._random = np.random if state["random"] is None else state["random"]
        self.policy = state.get("policy", self.policy)

    def __repr__(self) -> str:
        options = f"backend={self.backend!r}, dtype={self.dtype.name}"
        if self.activation != "relu":
            options = f"activation={self.activation!r}, " + options
        if self.output != "sigmoid":
            options = f"output={self.output!r}, " + options
        if self.tutorial_compat:
            options += ", tutorial_compat=True"
        return f"NeuralNetwork({list(self.layer_sizes)}, {options})"

    # -- parameters ---------------------------------------------------------------------------
    @property
    def weights(self) -> ParameterList:
        """Per-layer (n_in, n_out) weight arrays, views into the parameter buffer.

        Assigning a list of arrays replaces them all (checked first, as
        :meth:`ParameterList.assign_all`).
        """
        return self._weights

    @weights.setter
    def weights(self, values: Iterable[ArrayLike]) -> None:
        self._weights.assign_all(values)

    @property
    def biases(self) -> ParameterList:
        """Per-layer (n_out,) bias arrays, views into the parameter buffer.

        Assigning a list of arrays replaces them all (checked first, as
        :meth:`ParameterList.assign_all`).
        """
        return self._biases

    @biases.setter
    def biases(self, values: Iterable[ArrayLike]) -> None:
        self._biases.assign_all(values)

    @property
    def n_outputs(self) -> int:
        """The number of outputs K, the size of the last layer."""
        return self.layer_sizes[-1]

    # -- the tutorial's API -------------------------------------------------------------------
    def forward(self, X: ArrayLike, *, record: bool = True) -> np.ndarray:
        """(N, n_outputs) outputs (probabilities for sigmoid and softmax heads), a new array.

        ``record=True`` (the tutorial's call) also records the pass for ``backward`` and in
        ``activations`` (L+1) and ``pre_activations`` (L).  On the numba engine a batch large
        enough is split into fixed blocks (``policy.reduction_blocks``) that helper threads share
        (``fastbp.helpers``); the results do not depend on how many threads computed them.
        ``record=False`` records nothing and may run in many threads at once.

        Parameters
        ----------
        X : array-like of shape (N, n_inputs)
            Real-valued, finite inputs, N >= 1; converted to the network's dtype.
        record : bool, default True
            Record the pass for :meth:`backward` (and in ``activations``/``pre_activations``).

        Returns
        -------
        numpy.ndarray of shape (N, n_outputs)
            The outputs in the network's dtype, a new C-contiguous array.

        Raises
        ------
        TypeError
            If X does not hold real numbers.
        ValueError
            If X is not 2-D, has no samples, has another number of features than the input layer,
            or holds NaN or infinite values.
        """
        X = check_X(X, self.layer_sizes[0], self.dtype)
        if not record:
            with self._lock.read():
                return self._engine.output(X)
        with self._lock.write():
            key = (len(X), threadctl.get_num_threads(), self.policy)
            split = self._step_plans.get(key)
            if split is None:
                split = plan_step(self.policy, self.layer_sizes, len(X), threads=key[1])
                self._step_plans = {key: split}
            output, self._layers = self._engine.record(X, split)
            self._layer_lists = None
            return output

    @property
    def activations(self) -> list[np.ndarray]:
        """[X, a1, ..., aL] of the last recording ``forward`` (empty before one): (N, size) arrays.

        On the numba engine they are views into its workspace (or, for a batch split into
        blocks, arrays assembled from them on first access), overwritten by the next recording
        ``forward``: copy them to keep them.
        """
        return self._recorded_layers()[0]

    @property
    def pre_activations(self) -> list[np.ndarray]:
        """[z1, ..., zL] of the last recording ``forward`` (empty before one), as ``activations``."""
        return self._recorded_layers()[1]

    def _recorded_layers(self):
        with self._lock.write():
            if self._layer_lists is None:
                self._layer_lists = self._layers()
            return self._layer_lists

    def backward(self, y_true: ArrayLike, lr: float = 0.01) -> None:
        """Step from the last ``forward``: gradients (of the mode) and a plain SGD update in place.

        Parameters
        ----------
        y_true : array-like of shape (N, n_outputs) or (N,)
            The targets of the N samples of the last recording ``forward``: labels in [0, 1]
            (sigmoid), integer class labels of shape (N,) or probability rows (softmax), or any
            finite values (identity).  (N,) is accepted for one output.
        lr : float, default 0.01
            The learning rate, finite and >= 0.

        Raises
        ------
        RuntimeError
            If no recording ``forward`` came first.
        TypeError
            If ``y_true`` does not hold real numbers or ``lr`` is not a real number.
        ValueError
            If ``y_true`` has the wrong shape or values outside those the head accepts, or ``lr``
            is negative or not finite.
        TrainingDivergedError
            If the update would make parameters NaN or infinite (the network is left unchanged).
        """
        with self._lock.write():
            n_samples = self._engine.recorded_samples()
            if n_samples is None:
                raise RuntimeError("backward() needs a forward(X) pass first")
            Y = check_targets(y_true, n_samples, self.n_outputs, self.dtype, self.output)
            lr = check_lr(lr)
            if not self._engine.step(Y, lr):
                raise TrainingDivergedError(
                    f"the update with lr={lr} would make parameters NaN or infinite; the network "
                    "is unchanged", history=None, epoch=None)

    # -- gradients and evaluation -------------------------------------------------------------
    def gradients(self, X: ArrayLike, y: ArrayLike) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(list of dW, list of db): the step direction of the mode, per unit of lr; no update.

        The exact gradient of the head's mean loss by default (no weight-decay penalty); the
        tutorial's step with tutorial_compat.

        Parameters
        ----------
        X : array-like of shape (N, n_inputs)
            Real-valued, finite inputs, N >= 1; converted to the network's dtype.
        y : array-like of shape (N, n_outputs) or (N,)
            Targets: labels in [0, 1] (sigmoid), integer class labels of shape (N,) or probability
            rows (softmax), or any finite values (identity).  (N,) is accepted for one output.

        Returns
        -------
        dW : list of numpy.ndarray
            Per layer, the (n_in, n_out) weight gradient, in the network's dtype.
        db : list of numpy.ndarray
            Per layer, the (n_out,) bias gradient, in the network's dtype.

        Raises
        ------
        TypeError
            If X or y does not hold real numbers.
        ValueError
            If X or y has the wrong shape, X has no samples, or either holds values the network
            does not accept (NaN or infinite values, labels outside the head's range).
        """
        X, Y = self._check_data(X, y)
        with self._lock.read():
            flat = self._engine.gradients(X, Y)
        weights, biases = self._params.views(flat)
        return list(weights), list(biases)

    def loss(self, X: ArrayLike, y: ArrayLike) -> float:
        """The head's mean loss: binary cross-entropy (sigmoid; the tutorial's clipped BCE in
        tutorial mode), categorical cross-entropy (softmax), mean squared error (identity) --
        computed stably from the logits.

        Parameters
        ----------
        X : array-like of shape (N, n_inputs)
            Real-valued, finite inputs, N >= 1; converted to the network's dtype.
        y : array-like of shape (N, n_outputs) or (N,)
            Targets: labels in [0, 1] (sigmoid), integer class labels of shape (N,) or probability
            rows (softmax), or any finite values (identity).  (N,) is accepted for one output.

        Returns
        -------
        float
            The mean loss over the samples (and outputs), without any weight-decay penalty.

        Raises
        ------
        TypeError
            If X or y does not hold real numbers.
        ValueError
            If X or y has the wrong shape, X has no samples, or either holds values the network
            does not accept (NaN or infinite values, labels outside the head's range).
        """
        X, Y = self._check_data(X, y)
        with self._lock.read():
            return self._engine.loss(X, Y)[0]

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Accuracy (sigmoid: of every output, subset accuracy for several; softmax: of the
        classes), or the coefficient of determination R^2 (identity), as scikit-learn scores.

        Parameters
        ----------
        X : array-like of shape (N, n_inputs)
            Real-valued, finite inputs, N >= 1; converted to the network's dtype.
        y : array-like of shape (N, n_outputs) or (N,)
            Targets: labels in [0, 1] (sigmoid), integer class labels of shape (N,) or probability
            rows (softmax), or any finite values (identity).  (N,) is accepted for one output.

        Returns
        -------
        float
            The fraction of samples predicted right (sigmoid with several outputs: every output
            right), or for an identity output the mean over the outputs of each one's R^2.

        Raises
        ------
        TypeError
            If X or y does not hold real numbers.
        ValueError
            If X or y has the wrong shape, X has no samples, or either holds values the network
            does not accept (NaN or infinite values, labels outside the head's range).
        """
        if self.output == "sigmoid" and self.n_outputs > 1:
            X, Y = self._check_data(X, y)
            return float(np.mean(np.all(self.predict(X) == Y, axis=1)))
        if self.output == "identity":
            X, Y = self._check_data(X, y)
            predicted = self.forward(X, record=False).astype(np.float64)
            residual = ((Y - predicted) ** 2).sum(axis=0)
            total = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1),
                              np.where(residual > 0, 0.0, 1.0))
            return float(np.mean(r2))
        X, Y = self._check_data(X, y)
        with self._lock.read():
            return self._engine.loss(X, Y)[1]

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probabilities, scikit-learn style: (N, 2) [P(0), P(1)] for one sigmoid output, else
        (N, K) (softmax rows sum to 1).  Not for an identity (regression) output.

        Parameters
        ----------
        X : array-like of shape (N, n_inputs)
            Real-valued, finite inputs, N >= 1; converted to the network's dtype.

        Returns
        -------
        numpy.ndarray of shape (N, 2) or (N, n_outputs)
            The probabilities, in the network's dtype.

        Raises
        ------
        ValueError
            If the output is ``"identity"``, or X has the wrong shape, no samples, or NaN or
            infinite values.
        TypeError
            If X does not hold real numbers.
        """
        if self.output == "identity":
            raise ValueError("predict_proba needs a sigmoid or softmax output; this network's "
                             "output is 'identity' (regression): use predict")
        p = self.forward(X, record=False)
        return np.hstack([1 - p, p]) if self.output == "sigmoid" and self.n_outputs == 1 else p

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Sigmoid: labels 0/1, (N,) for one output, (N, K) for several; softmax: (N,) class
        indices; identity: the outputs, (N,) for one.

        Parameters
        ----------
        X : array-like of shape (N, n_inputs)
            Real-valued, finite inputs, N >= 1; converted to the network's dtype.

        Returns
        -------
        numpy.ndarray of shape (N,) or (N, n_outputs)
            int64 labels 0/1 (sigmoid: output > 0.5) or class indices (softmax); the outputs in
            the network's dtype (identity).

        Raises
        ------
        TypeError
            If X does not hold real numbers.
        ValueError
            If X is not 2-D, has no samples, has another number of features than the input layer,
            or holds NaN or infinite values.
        """
        out = self.forward(X, record=False)
        if self.output == "softmax":
            return out.argmax(axis=1)
        if self.output == "sigmoid":
            out = (out > 0.5).astype(np.int64)
        return out.ravel() if self.n_outputs == 1 else out

    # -- model files --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the network -- layers, activations, head, dtype, mode, parameters and optimizer
        state -- to an ``.npz`` model file at ``path`` (docs/model-files.md).  Written to a
        temporary file and renamed: an interrupted save leaves the old file or none.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, exactly that name (no ``.npz`` is appended); an existing file is
            replaced.

        Raises
        ------
        OSError
            If the file cannot be written.
        """
        modelfile.save(path, self.model_state())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: str | None = None) -> NeuralNetwork:
        """A network read from a model file written by :meth:`save` (``backend``: the saved one
        unless given).  Nothing in the file is executed; a damaged or foreign file raises a
        ValueError naming the problem.  Predictions are bit-identical to the saved network's.

        Parameters
        ----------
        path : str or os.PathLike
            The model file.
        backend : str or None, default None
            The engine of the new network, ``"numba"`` or ``"numpy"``; None: the saved one.

        Returns
        -------
        NeuralNetwork
            The network, with its parameters and optimizer state.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            If the file is not a readable fastbp model file of a network, or any value in it is
            wrong (the message names it), or ``backend`` is unknown.
        """
        return cls.from_model_state(modelfile.load(path, network_layout), backend=backend,
                                    path=os.fspath(path))

    def model_state(self) -> modelfile.ModelState:
        """The network as a :class:`fastbp.modelfile.ModelState` (metadata and arrays).

        Returns
        -------
        fastbp.modelfile.ModelState
            ``metadata``: layer sizes, activations, head, dtype, mode, backend and the
            optimizer's settings (or None); ``arrays``: copies of the flat parameter buffer
            (``params``) and of the optimizer's state (``velocity``, ``m``, ``v``) if any.
        """
        with self._lock.read():
            optimizer = None
            arrays = {"params": self._params.flat.copy()}
            if self._optimizer is not None:
                name, momentum, nesterov, betas, eps, weight_decay = self._optimizer
                optimizer = {"name": name, "momentum": momentum, "nesterov": nesterov,
                             "betas": list(betas), "eps": eps, "weight_decay": weight_decay,
                             "steps": int(self._optimizer_steps)}
                for key in ("velocity", "m", "v"):
                    arrays[key] = getattr(self._optimizer_state, key).copy()
        metadata = {"layer_sizes": [int(n) for n in self.layer_sizes],
                    "activation": list(self._params.hidden), "output": self.output,
                    "dtype": self.dtype.name, "tutorial_compat": self.tutorial_compat,
                    "backend": self.backend, "optimizer": optimizer}
        return modelfile.ModelState(metadata, arrays)

    @classmethod
    def from_model_state(cls, state: modelfile.ModelState, *, backend: str | None = None,
                         path: str = "model file") -> NeuralNetwork:
        """A network from a ModelState (as :meth:`model_state` gives); every value checked.

        Parameters
        ----------
        state : fastbp.modelfile.ModelState
            The metadata and arrays of a network.
        backend : str or None, default None
            The engine of the new network; None: the one named in the metadata.
        path : str, default "model file"
            Where the state came from, to begin error messages with.

        Returns
        -------
        NeuralNetwork
            The network, with the state's parameters and optimizer state.

        Raises
        ------
        ValueError
            If a metadata value is missing or wrong, an array is missing or of the wrong dtype or
            size, or the network cannot be built from the metadata (the message names the
            problem).
        """
        layout = network_layout(state.metadata, path)  # checks the metadata's values
        meta = state.metadata
        for name, (dtype, count) in layout.items():
            array = state.arrays.get(name)
            if array is None or array.dtype != np.dtype(dtype) or array.size != count:
                raise ValueError(f"{path}: array {name!r} should hold {count} values of {dtype}")
        try:
            activation = meta["activation"]
            if len(set(activation)) <= 1:  # one name for every hidden layer (or none)
                activation = activation[0] if activation else "relu"
            nn = cls(meta["layer_sizes"], activation=activation, output=meta["output"],
                     backend=meta["backend"] if backend is None else backend, dtype=meta["dtype"],
                     tutorial_compat=meta["tutorial_compat"], seed=0)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None
        cls._restore(nn, state)
        return nn

    def _restore(self, state):
        """Parameters and optimizer state from a checked ModelState (from_model_state)."""
        self._params.flat[...] = state.arrays["params"]
        optimizer = state.metadata["optimizer"]
        if optimizer is not None:
            self._optimizer = (optimizer["name"], float(optimizer["momentum"]),
                               optimizer["nesterov"], tuple(float(b) for b in optimizer["betas"]),
                               float(optimizer["eps"]), float(optimizer["weight_decay"]))
            self._optimizer_state = kernels.OptimizerState(
                *(state.arrays[key].copy() for key in ("velocity", "m", "v")),
                decay=self._params.decay)
            self._optimizer_steps = optimizer["steps"]

    # -- training -----------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike, *, epochs: int = 1000,
            lr: float | ArrayLike | Callable[[int], float] = 0.01, batch_size: int | None = None,
            shuffle: bool = True, seed: int | np.random.Generator | np.random.RandomState | None = None,
            verbose: int = 0, optimizer: str = "sgd", momentum: float = 0.0, nesterov: bool = False,
            betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None,
            validation_split: float = 0.0, early_stopping: bool = False, monitor: str = "val_loss",
            patience: int = 10, min_delta: float = 0.0, gtol: float = 1e-5,
            max_fun: int = 15000, cancel: threading.Event | None = None) -> dict[str, list[float]]:
        """Train; returns the history: ``{'loss': [...], 'accuracy': [...]}`` one entry per epoch
        (no ``accuracy`` for an identity output), with ``val_loss`` (and ``val_accuracy``) when
        validating.

        ``batch_size=None``: full batch, each epoch's loss and accuracy measured before its update
        (as the tutorial's loop).  An integer: shuffled mini-batches, one step per batch on its
        mean gradient; the history records per epoch the mean loss per sample over its batches
        (each batch's loss weighted by its size) and the accuracy over those batches.  The order
        is reshuffled every epoch from ``seed`` if given, else from the network's own random
        source.  The loop runs inside compiled calls of many epochs each
        (Ctrl-C stops the fit between two calls, the network left as the last one made it).
        ``verbose=1`` shows progress (tqdm if installed).

        ``optimizer``: ``"sgd"`` (with ``momentum``, ``nesterov``) or ``"adam"`` (``betas``,
        ``eps``), as torch.optim.SGD / torch.optim.Adam compute them, ``weight_decay`` added to
        the weights' gradients only; or ``"lbfgs"``: SciPy's L-BFGS-B on the full batch, ``epochs``
        its most iterations.  The optimizer's state stays on the network: two fits of E epochs
        equal one of 2E; other optimizer settings start a fresh state.  ``lr``: a rate, an array
        of one per epoch, or a callable ``epoch -> rate`` (from 0 in this call).

        ``validation_data=(Xv, yv)`` or ``validation_split=f`` (the last fraction of the samples,
        before any shuffling) records the validation loss (and accuracy) after every epoch;
        ``early_stopping=True`` stops after ``patience`` epochs in a row that do not improve on
        the best value so far of ``monitor`` by more than ``min_delta``: ``"val_loss"`` (the
        validation loss), ``"val_score"`` (the validation accuracy, or R^2 for an identity output)
        -- both end with the weights of the best validation epoch -- or ``"loss"`` (the epoch's
        training loss; no validation set needed, the weights are the last ones).  With
        ``optimizer="lbfgs"``, ``gtol`` and ``max_fun`` are SciPy's L-BFGS-B options (projected
        gradient tolerance, most evaluations of the loss).

        A seeded fit gives the same bits whatever the number of threads (see fastbp.policy).
        If the loss or an update becomes NaN/inf, raises TrainingDivergedError and leaves the
        network at its last state with a finite loss (the optimizer's state starts afresh).

        Parameters
        ----------
        X : array-like of shape (N, n_inputs)
            Real-valued, finite training inputs, N >= 1; converted to the network's dtype.
        y : array-like of shape (N, n_outputs) or (N,)
            Targets: labels in [0, 1] (sigmoid), integer class labels of shape (N,) or probability
            rows (softmax), or any finite values (identity).  (N,) is accepted for one output.
        epochs : int, default 1000
            The number of epochs (>= 0); with ``optimizer="lbfgs"`` the most iterations.
        lr : float, array-like of shape (epochs,) or callable, default 0.01
            The learning rate: one for every epoch, one per epoch, or ``epoch -> rate`` (epochs
            counted from 0 in this call); every rate finite and >= 0.  Not used by L-BFGS.
        batch_size : int or None, default None
            None: full batch; an int >= 1: shuffled mini-batches of that size (at most N).
        shuffle : bool, default True
            Reshuffle the mini-batches every epoch; False keeps the samples' order.
        seed : int, numpy.random.Generator, numpy.random.RandomState or None, default None
            The source of the mini-batch orders; None: the network's own random source.
        verbose : int, default 0
            1 shows progress (tqdm if installed); 0 shows nothing.
        optimizer : {"sgd", "adam", "lbfgs"}, default "sgd"
            The optimizer.
        momentum : float, default 0.0
            SGD's momentum, >= 0 (``optimizer="sgd"`` only).
        nesterov : bool, default False
            Nesterov momentum (``optimizer="sgd"`` with ``momentum > 0`` only).
        betas : tuple of (float, float), default (0.9, 0.999)
            Adam's decay rates of the first and second moments, each in [0, 1).
        eps : float, default 1e-8
            Adam's term added to the denominator, >= 0.
        weight_decay : float, default 0.0
            L2 weight decay added to the weights' gradients (not the biases'), >= 0.
        validation_data : tuple of (array-like, array-like) or None, default None
            ``(X_val, y_val)`` to evaluate after every epoch, shaped as X and y.
        validation_split : float, default 0.0
            In [0, 1): the last fraction of the samples, held out for validation instead.
        early_stopping : bool, default False
            Stop when ``monitor`` has not improved for ``patience`` epochs in a row.
        monitor : {"val_loss", "val_score", "loss"}, default "val_loss"
            What early stopping watches.
        patience : int, default 10
            Epochs in a row (>= 1) without improvement before early stopping stops.
        min_delta : float, default 0.0
            The least change (>= 0) that counts as an improvement.
        gtol : float, default 1e-5
            L-BFGS-B's projected gradient tolerance, >= 0 (``optimizer="lbfgs"`` only).
        max_fun : int, default 15000
            L-BFGS-B's most evaluations of the loss, >= 1 (``optimizer="lbfgs"`` only).
        cancel : threading.Event or None, default None
            Set (from another thread) to stop the fit after its current compiled call (long fits
            run as calls of about 0.1-0.5 s; L-BFGS: after the current iteration): the fit then
            returns the history of the epochs it completed, the network at their state.

        Returns
        -------
        dict of str to list of float
            The history, one entry per epoch trained (L-BFGS: per iteration): ``"loss"``,
            ``"accuracy"`` (not for an identity output) and, when validating, ``"val_loss"`` (and
            ``"val_accuracy"``).

        Raises
        ------
        TypeError
            If X or y does not hold real numbers, or an option is of the wrong type.
        ValueError
            If X or y has the wrong shape or values, or an option is out of range or conflicts
            with another (e.g. ``nesterov`` without momentum, ``batch_size`` with L-BFGS,
            ``tutorial_compat`` with another optimizer, early stopping on a validation monitor
            without a validation set).  Nothing has changed then.
        TrainingDivergedError
            If the loss or an update became NaN or infinite; its ``history`` holds the epochs
            recorded before.
        """
        X = check_X(X, self.layer_sizes[0], self.dtype)
        options = check_fit_options(
            self, X, y, epochs=epochs, lr=lr, batch_size=batch_size, shuffle=shuffle,
            optimizer=optimizer, momentum=momentum, nesterov=nesterov, betas=betas, eps=eps,
            weight_decay=weight_decay, validation_data=validation_data,
            validation_split=validation_split, early_stopping=early_stopping, monitor=monitor,
            patience=patience, min_delta=min_delta, gtol=gtol, max_fun=max_fun)
        if cancel is not None and not callable(getattr(cancel, "is_set", None)):
            raise TypeError(f"cancel must be a threading.Event (or None), got {cancel!r}")
        random = self._random if seed is None else _random_source(seed)
        with self._lock.write():
            if options.optimizer == "lbfgs":
                # each evaluation is one call over the full batch, in the fit's blocks, shared
                # with awake helpers (fastbp.helpers) when it is large enough
                threads = threadctl.get_num_threads()  # (read once: blocks and workers agree)
                plan = plan_fit(self.policy, self.layer_sizes, len(options.X), None, 1,
                                threads=threads)
                plan = dataclasses.replace(plan, n_workers=helper_workers(
                    self.policy, self.layer_sizes, len(options.X), plan.n_blocks,
                    threads=threads))
                self.workers_used = [plan.n_workers]
                return lbfgs_fit(self._engine, self._params, options, plan, verbose, cancel)
            return self._fit(options, random, verbose, cancel)

    def free_workspaces(self) -> None:
        """Release the training workspaces the network keeps between fits, and its gradient and
        backup buffers (its next fit or step makes them again); for programs that keep many
        trained networks -- what stays is the parameters, the weight-decay mask and the
        optimizer's state.  The recorded ``forward`` pass is kept (and, when it was recorded in
        blocks, the buffers its ``backward`` needs)."""
        with self._lock.write():
            self._engine.free_workspaces()

    def reset_optimizer(self) -> None:
        """Forget the optimizer's state (momentum, Adam's moments, the step count): the next fit
        starts its optimizer afresh, as a fit with other optimizer settings does."""
        with self._lock.write():
            self._optimizer, self._optimizer_state, self._optimizer_steps = None, None, 0

    def _optimizer_run(self, options):
        """The Run of a fit: the optimizer's record and the network's state for it (kept from
        the last fit when the settings are the same), validation, early stopping."""
        if options.optimizer_key != self._optimizer:
            P, dtype = self._params.flat.size, self.dtype
            sgd_momentum = options.optimizer == "sgd" and options.momentum != 0
            adam = options.optimizer == "adam"
            self._optimizer_state = kernels.OptimizerState(
                velocity=np.zeros(P if sgd_momentum else 0, dtype),
                m=np.zeros(P if adam else 0, dtype), v=np.zeros(P if adam else 0, dtype),
                decay=self._params.decay)
            self._optimizer, self._optimizer_steps = options.optimizer_key, 0
        stop = options.stop_state()
        best = np.empty(self._params.flat.size if options.restores_best else 0, self.dtype)
        return Run(options.record, self._optimizer_state, self._optimizer_steps,
                   options.validation, stop, best)

    def _min_parallel_work(self):
        """The calibrated min_parallel_work (``fastbp.calibration``), measured if need be; the
        reference engine runs every fit in one thread whatever its plan says, so a fit on it
        measures nothing (a measurement would compile the kernels)."""
        if self.backend != "numba":
            return DEFAULT_MIN_PARALLEL_WORK
        return calibration.min_parallel_work(self.dtype)

    def _fit(self, options, random, verbose, cancel=None):
        X, Y, epochs, batch_size = options.X, options.Y, options.epochs, options.batch_size
        plan = plan_fit(self.policy, self.layer_sizes, len(X), batch_size, epochs,
                        threads=threadctl.get_num_threads(), progress=bool(verbose),
                        calibrated=self._min_parallel_work)
        run = self._optimizer_run(options)
        history = options.empty_history()
        steps_per_epoch = 1 if batch_size is None else -(-len(X) // batch_size)
        self.workers_used = [plan.n_workers] if epochs else []
        restorable = False
        stopped = False
        with Progress(epochs, verbose) as progress:
            for start in range(0, epochs, plan.epochs_per_call):
                count = min(plan.epochs_per_call, epochs - start)
                order = None if batch_size is None else _sample_orders(random, count, len(X),
                                                                       options.shuffle)
                done = 0
                while done < count:  # one call, or more after a fallback to one worker
                    lrs = options.lrs[start + done:start + count]
                    if batch_size is None:
                        out = self._engine.train_full_batch(X, Y, lrs, restorable, plan, run)
                    else:
                        out = self._engine.train_minibatch(X, Y, order[done:], batch_size, lrs,
                                                           restorable, plan, run)
                    options.extend_history(history, out)
                    done += len(out.losses)
                    run.steps += len(out.losses) * steps_per_epoch
                    self._optimizer_steps = run.steps
                    restorable = restorable or bool(out.losses)
                    if out.status == TOO_SLOW:  # the team waited for a worker without a core
                        plan = plan.after_fallback()
                        self.workers_used.append(1)
                    elif out.status == STOPPED:
                        stopped = True
                        break
                    elif out.status != FINISHED:
                        self._optimizer = None  # a fresh optimizer state for the next fit
                        # full batch: an update that failed comes after its epoch's loss
                        failed = start + done - (batch_size is None
                                                 and out.status != LOSS_NOT_FINITE)
                        self._diverged(out.status, history, failed, options.lrs[failed])
                progress.update(done, history)
                if stopped or (cancel is not None and cancel.is_set()):
                    break
        if options.restores_best and np.isfinite(run.stop[0]):
            np.copyto(self._params.flat, run.best)  # the weights of the best validation epoch
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
        return X, check_targets(y, len(X), self.n_outputs, self.dtype, self.output)


def network_layout(metadata: Mapping[str, Any], path: str = "model file") -> dict[str, tuple[str, int]]:
    """The arrays a network's model file holds, {name: (dtype, count)}, from its metadata --
    whose values are checked here (a ValueError names a bad one).

    Parameters
    ----------
    metadata : mapping of str to object
        A model file's metadata (parsed JSON): ``layer_sizes``, ``activation``, ``output``,
        ``dtype``, ``tutorial_compat``, ``backend`` and ``optimizer``.
    path : str, default "model file"
        Where the metadata came from, to begin error messages with.

    Returns
    -------
    dict of str to (str, int)
        For each array, its dtype name (``"float32"`` or ``"float64"``) and element count:
        ``params``, and with an optimizer state ``velocity``, ``m`` and ``v`` (count 0 for those
        the optimizer does not use).

    Raises
    ------
    ValueError
        If a value is missing or of the wrong type or range.
    """
    field = modelfile.field
    sizes = field(metadata, "layer_sizes", "list", path)
    if len(sizes) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 2**31
                                 for n in sizes):
        raise ValueError(f"{path}: metadata 'layer_sizes' must list at least two positive sizes, "
                         f"got {sizes!r}")
    activation = field(metadata, "activation", "list", path)
    if len(activation) != len(sizes) - 2 or not all(isinstance(a, str) for a in activation):
        raise ValueError(f"{path}: metadata 'activation' must name each hidden layer's activation")
    field(metadata, "output", "str", path)
    dtype = field(metadata, "dtype", ("float32", "float64"), path)
    field(metadata, "tutorial_compat", "bool", path)
    field(metadata, "backend", "str", path)
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    layout = {"params": (dtype, n_params)}
    optimizer = metadata.get("optimizer", "missing")
    if optimizer is None:
        return layout
    if not isinstance(optimizer, dict):
        raise ValueError(f"{path}: metadata 'optimizer' must be null or an object")
    name = field(optimizer, "name", ("sgd", "adam"), path)
    momentum = field(optimizer, "momentum", "float", path)
    field(optimizer, "nesterov", "bool", path)
    betas = field(optimizer, "betas", "list", path)
    if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
        raise ValueError(f"{path}: metadata 'betas' must be two numbers in [0, 1)")
    for key in ("eps", "weight_decay"):
        if field(optimizer, key, "float", path) < 0:
            raise ValueError(f"{path}: metadata {key!r} must be >= 0")
    if momentum < 0 or field(optimizer, "steps", "int", path) < 0:
        raise ValueError(f"{path}: metadata 'momentum' and 'steps' must be >= 0")
    with_velocity = name == "sgd" and momentum != 0
    layout.update(velocity=(dtype, n_params if with_velocity else 0),
                  m=(dtype, n_params if name == "adam" else 0),
                  v=(dtype, n_params if name == "adam" else 0))
    return layout


def _sample_orders(random, epochs, n_samples, shuffle):
    """(epochs, n_samples) int64 sample orders: a fresh permutation per epoch, or 0..N-1."""
    if not shuffle:
        return np.broadcast_to(np.arange(n_samples, dtype=np.int64), (epochs, n_samples)).copy()
    return np.stack([random.permutation(n_samples) for _ in range(epochs)]).astype(np.int64, copy=False)
