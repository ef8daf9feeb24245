"""scikit-learn estimators on fastbp's compiled training: ``MLPClassifier`` and ``MLPRegressor``.

They take scikit-learn's ``MLPClassifier``/``MLPRegressor`` parameters (names and defaults) for
everything fastbp trains, follow its estimator conventions (``fit`` returns ``self``, fitted
attributes end in ``_``, ``clone``, pickling, ``Pipeline``, ``GridSearchCV``) and pass its
estimator checks.  Each fit trains a :class:`fastbp.NeuralNetwork` (``network_``).

scikit-learn is an optional dependency (``pip install "fastbp[sklearn]"``), imported here only.

Where the math differs from scikit-learn's (docs/sklearn.md):

* the initial weights are scikit-learn's (the same values for the same ``random_state``), the
  samples' shuffling is fastbp's own;
* ``alpha`` is scikit-learn's L2 penalty ``alpha / (2 n_batch) |W|^2`` with ``n_batch`` the
  ``batch_size`` (scikit-learn divides a last, smaller batch's penalty by its own size);
* Adam adds ``epsilon`` to the bias-corrected ``sqrt(v_hat)`` (Kingma & Ba, PyTorch);
  scikit-learn adds it to ``sqrt(v)`` before the correction;
* ``loss_curve_`` holds each epoch's data loss without the L2 term (scikit-learn adds it);
* with ``early_stopping``, several regression outputs are scored by their variance-weighted
  R^2, and several labels of a multi-label classifier by the accuracy of every label.
"""
from __future__ import annotations

import dataclasses
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import modelfile
from .network import NeuralNetwork, network_layout

__all__ = ["MLPClassifier", "MLPRegressor", "GridSearchCV"]

# scikit-learn's names for what fastbp calls them
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}
OUT_ACTIVATIONS = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity"}
SOLVERS = ("sgd", "adam", "lbfgs")
STOCHASTIC_SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling")
CLASS_DTYPES = {np.dtype(t).str for t in (bool, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                          np.uint16, np.uint32, np.uint64)}


def _stochastic(estimator: _FastbpMLP) -> bool:
    if estimator.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers; "
                             f"{estimator.solver!r} is not stochastic")
    return True


def invscaling_rates(learning_rate_init: float, power_t: float, samples_seen: int, n_samples: int,
                     epochs: int) -> np.ndarray:
    """scikit-learn's 'invscaling' rates, one per epoch: learning_rate_init / (t + 1) ** power_t,
    t the training samples seen before the epoch.

    Parameters
    ----------
    learning_rate_init : float
        The initial learning rate.
    power_t : float
        The exponent of the inverse scaling.
    samples_seen : int
        The training samples seen before the first of these epochs (the estimator's ``t_``).
    n_samples : int
        The training samples per epoch.
    epochs : int
        The number of epochs.

    Returns
    -------
    numpy.ndarray of shape (epochs,)
        float64 learning rates, one per epoch.
    """
    seen = samples_seen + n_samples * np.arange(epochs, dtype=np.float64)
    return learning_rate_init / (seen + 1.0) ** power_t


def initial_parameters(sizes: Sequence[int], activation: str,
                       random: np.random.RandomState) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """scikit-learn's initial weights and biases, drawn as it draws them: per layer, uniform in
    +-sqrt(factor / (fan_in + fan_out)) (factor 2 for a logistic network, else 6), the weights
    then the biases, from ``random`` -- the same values as scikit-learn's for one random_state.

    Parameters
    ----------
    sizes : sequence of int
        The size of every layer, input first and output last.
    activation : str
        The hidden layers' activation by scikit-learn's name (``"logistic"`` selects factor 2).
    random : numpy.random.RandomState
        The source of the values (advanced by the draws).

    Returns
    -------
    weights : list of numpy.ndarray
        Per layer, the (fan_in, fan_out) float64 weights.
    biases : list of numpy.ndarray
        Per layer, the (fan_out,) float64 biases.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        weights.append(random.uniform(-bound, bound, (fan_in, fan_out)))
        biases.append(random.uniform(-bound, bound, fan_out))
    return weights, biases


def fit_keywords(params: Mapping[str, Any], n_samples: int, loss_scale: float) -> dict[str, Any]:
    """``NeuralNetwork.fit`` keywords that train as scikit-learn's parameters ``params`` say.

    ``loss_scale``: scikit-learn's loss over fastbp's for the same predictions (1 for the
    cross-entropies, 1/2 for the squared error: scikit-learn's is halved).  The step sizes,
    the penalty, Adam's epsilon and the tolerances are scaled so that the steps are
    scikit-learn's.

    Parameters
    ----------
    params : mapping of str to object
        An estimator's parameters (``get_params()``), already checked: ``solver``,
        ``batch_size``, ``alpha``, ``verbose``, ``tol``, ``max_fun``, ``shuffle``, ``beta_1``,
        ``beta_2``, ``epsilon``, ``momentum`` and ``nesterovs_momentum`` are read.
    n_samples : int
        The number of training samples.
    loss_scale : float
        scikit-learn's loss over fastbp's (1.0 or 0.5).

    Returns
    -------
    dict of str to object
        Keywords for :meth:`fastbp.NeuralNetwork.fit`: ``weight_decay``, ``verbose`` and the
        optimizer's (``optimizer``, with ``gtol`` and ``max_fun`` for L-BFGS; ``batch_size``,
        ``shuffle`` and ``betas``/``eps`` or ``momentum``/``nesterov`` for Adam or SGD).  Not
        ``lr``, ``epochs`` or early stopping's.
    """
    solver = params["solver"]
    batch = n_samples if solver == "lbfgs" else _batch_size(params["batch_size"], n_samples)
    keywords = dict(weight_decay=params["alpha"] / (batch * loss_scale),
                    verbose=int(bool(params["verbose"])))
    if solver == "lbfgs":
        keywords.update(optimizer="lbfgs", gtol=params["tol"] / loss_scale,
                        max_fun=params["max_fun"])
        return keywords
    keywords.update(batch_size=None if batch >= n_samples else batch, shuffle=params["shuffle"])
    if solver == "adam":
        keywords.update(optimizer="adam", betas=(params["beta_1"], params["beta_2"]),
                        eps=params["epsilon"] / loss_scale)
    else:
        momentum = params["momentum"]
        keywords.update(optimizer="sgd", momentum=momentum,
                        nesterov=bool(params["nesterovs_momentum"]) and momentum > 0)
    return keywords


def _batch_size(batch_size: int | str, n_samples: int) -> int:
    if isinstance(batch_size, str) and batch_size == "auto":
        return min(200, n_samples)
    if batch_size > n_samples:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to "
                      "be clipped", stacklevel=3)
    return max(1, min(batch_size, n_samples))


class _FastbpMLP(BaseEstimator):
    """What the classifier and the regressor share: checking the parameters, building the
    network, training it through NeuralNetwork.fit and keeping scikit-learn's fitted attributes."""

    _loss_scale = 1.0

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int = 10, max_fun: int = 15000, dtype: DTypeLike = "float64",
                 backend: str = "numba", workers: int | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.backend = backend
        self.workers = workers

    # -- checks ---------------------------------------------------------------------------------
    def _checked_params(self):
        """The parameters, checked; a clear error for what fastbp does not build."""
        params = self.get_params()
        hidden = params["hidden_layer_sizes"]
        if isinstance(hidden, numbers.Integral):
            hidden = [hidden]
        hidden = list(hidden)
        if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0
                   for h in hidden):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, got "
                             f"{params['hidden_layer_sizes']!r}")
        params["hidden_layer_sizes"] = [int(h) for h in hidden]
        _choice(params, "activation", ACTIVATIONS)
        _choice(params, "solver", SOLVERS)
        if params["learning_rate"] == "adaptive":
            raise ValueError("learning_rate='adaptive' is not supported by fastbp: use "
                             "'constant' or 'invscaling' (or solver='adam')")
        _choice(params, "learning_rate", LEARNING_RATES)
        for name, low in (("alpha", 0.0), ("power_t", 0.0), ("tol", 0.0), ("momentum", 0.0),
                          ("epsilon", 0.0)):
            _number(params, name, low)
        _number(params, "learning_rate_init", 0.0, open_low=True)
        for name in ("beta_1", "beta_2", "validation_fraction"):
            _number(params, name, 0.0, 1.0)
        if params["momentum"] > 1:
            raise ValueError(f"momentum must be in [0, 1], got {params['momentum']!r}")
        for name in ("max_iter", "n_iter_no_change", "max_fun"):
            value = params[name]
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        batch = params["batch_size"]
        if not (isinstance(batch, str) and batch == "auto") and (
                isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1):
            raise ValueError(f"batch_size must be 'auto' or a positive integer, got {batch!r}")
        workers = params["workers"]
        if workers is not None and (isinstance(workers, bool)
                                    or not isinstance(workers, numbers.Integral) or workers < 1):
            raise ValueError(f"workers must be None or a positive integer, got {workers!r}")
        return params

    # -- training -------------------------------------------------------------------------------
    def _fit(self, X, y, incremental):
        params = self._checked_params()
        first = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first)
        random = check_random_state(self.random_state)
        output = self._output(Y)
        sizes = [X.shape[1], *params["hidden_layer_sizes"], self._n_outputs(Y)]
        if not first and (list(self.network_.layer_sizes) != sizes
                          or self.network_.output != output):
            raise ValueError(f"warm_start or partial_fit needs the same network: it has layers "
                             f"{list(self.network_.layer_sizes)}, this data and these parameters "
                             f"give {sizes}")
        if first:
            network = NeuralNetwork(sizes, activation=ACTIVATIONS[params["activation"]],
                                    output=output, backend=params["backend"],
                                    dtype=params["dtype"], seed=0)
            weights, biases = initial_parameters(sizes, params["activation"], random)
            network.weights, network.biases = weights, biases
            self.network_ = network
            self.n_iter_, self.t_, self.loss_curve_ = 0, 0, []
        elif not incremental:
            self.network_.reset_optimizer()  # scikit-learn: a warm start gets a new optimizer
        network = self.network_
        network.policy = dataclasses.replace(network.policy, workers=params["workers"])
        validation = None
        early_stopping = params["early_stopping"] and not incremental \
            and params["solver"] != "lbfgs"
        if early_stopping:
            X, Y, validation = self._split_validation(X, Y, random, params)
        keywords = fit_keywords(params, len(X), self._loss_scale)
        epochs = 1 if incremental else params["max_iter"]
        if params["solver"] == "lbfgs":
            lr = 0.0
        elif params["learning_rate"] == "invscaling" and params["solver"] == "sgd":
            lr = invscaling_rates(params["learning_rate_init"], params["power_t"], self.t_,
                                  len(X), epochs)
        else:
            lr = params["learning_rate_init"]
        if params["solver"] == "sgd":
            lr = np.asarray(lr) * self._loss_scale  # steps of scikit-learn's (halved) loss
        if not incremental and params["solver"] != "lbfgs":
            keywords.update(early_stopping=True, patience=params["n_iter_no_change"] + 1,
                            monitor="val_score" if early_stopping else "loss",
                            min_delta=params["tol"] if early_stopping
                            else params["tol"] / self._loss_scale)
        history = network.fit(X, Y, epochs=epochs, lr=lr if np.ndim(lr) else float(lr),
                              seed=_seed(random), validation_data=validation, **keywords)
        self._record(history, len(X), early_stopping, validation, epochs, incremental,
                     params["solver"])
        return self

    def _split_validation(self, X, Y, random, params):
        stratify = self._stratify(Y)
        X, X_val, Y, Y_val = train_test_split(X, Y, random_state=random, stratify=stratify,
                                              test_size=params["validation_fraction"])
        if len(X_val) < 2:
            raise ValueError(f"The validation set is too small: validation_fraction="
                             f"{params['validation_fraction']} of {len(X) + len(X_val)} samples "
                             "gives fewer than 2")
        return X, Y, (X_val, Y_val)

    def _record(self, history, n_samples, early_stopping, validation, epochs, incremental,
                solver):
        losses = [loss * self._loss_scale for loss in history["loss"]]
        self.loss_curve_ = self.loss_curve_ + losses
        self.n_iter_ += len(losses)
        self.t_ += n_samples * len(losses)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.inf
        if early_stopping:
            self.validation_scores_ = [self._validation_score(loss, accuracy, validation[1])
                                       for loss, accuracy in zip(
                                           history["val_loss"],
                                           history.get("val_accuracy", history["val_loss"]))]
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else np.inf
        if not incremental and len(losses) == epochs:
            what = ("lbfgs failed to converge: increase the number of iterations (max_iter)"
                    if solver == "lbfgs" else
                    f"Stochastic Optimizer: Maximum iterations ({epochs}) reached and the "
                    "optimization hasn't converged yet.")
            warnings.warn(what, ConvergenceWarning, stacklevel=4)

    # -- fitted attributes, read from the network -----------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Per-layer (n_in, n_out) weights: views into ``network_``'s parameters."""
        check_is_fitted(self, "network_")
        return list(self.network_.weights)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Per-layer (n_out,) biases: views into ``network_``'s parameters."""
        check_is_fitted(self, "network_")
        return list(self.network_.biases)

    @property
    def n_layers_(self) -> int:
        """The number of layers, input and output included."""
        check_is_fitted(self, "network_")
        return len(self.network_.layer_sizes)

    @property
    def n_outputs_(self) -> int:
        """The number of outputs of the network."""
        check_is_fitted(self, "network_")
        return self.network_.n_outputs

    @property
    def out_activation_(self) -> str:
        """The output's activation, by scikit-learn's name: "logistic", "softmax" or "identity"."""
        check_is_fitted(self, "network_")
        return OUT_ACTIVATIONS[self.network_.output]

    def _outputs(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self.network_.forward(X, record=False)

    # -- model files ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted estimator -- parameters, network, optimizer state and fitted
        attributes -- to an ``.npz`` model file without pickle (docs/model-files.md).

        Written to a temporary file and renamed: an interrupted save leaves the old file or none.
        A ``random_state`` that is a RandomState is saved as None (its stream is not kept).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, exactly that name (no ``.npz`` is appended); an existing file is
            replaced.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator has not been fitted.
        OSError
            If the file cannot be written.
        """
        check_is_fitted(self, "network_")
        state = self.network_.model_state()
        params = self.get_params()
        params["hidden_layer_sizes"] = _hidden_list(params["hidden_layer_sizes"])
        if not isinstance(params["random_state"], (int, type(None))):
            params["random_state"] = None  # a RandomState's stream is not kept
        params["dtype"] = np.dtype(params["dtype"]).name
        arrays = {"loss_curve": np.asarray(self.loss_curve_, dtype=np.float64)}
        if self.validation_scores_ is not None:
            arrays["validation_scores"] = np.asarray(self.validation_scores_, dtype=np.float64)
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in"] = np.asarray(self.feature_names_in_, dtype=str)
        fitted = {"n_iter": int(self.n_iter_), "t": int(self.t_),
                  "n_features_in": int(self.n_features_in_)}
        fitted.update(self._fitted_for_file(arrays))
        state.metadata["estimator"] = {"class": type(self).__name__, "params": params,
                                       "fitted": fitted}
        state.arrays.update(arrays)
        modelfile.save(path, state)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLPClassifier | MLPRegressor:
        """An estimator read from a model file written by :meth:`save`; nothing in the file is
        executed, and a damaged or foreign file raises a ValueError naming the problem.

        Parameters
        ----------
        path : str or os.PathLike
            The model file.

        Returns
        -------
        estimator : MLPClassifier or MLPRegressor
            A fitted estimator of the class ``load`` is called on, with the saved parameters,
            network and fitted attributes.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            If the file is not a readable fastbp model file, holds another estimator class, or
            any value in it is wrong (the message names it).
        """
        where = str(path)
        state = modelfile.load(path, lambda metadata: cls._file_layout(metadata, where))
        meta = state.metadata["estimator"]
        params = dict(meta["params"], hidden_layer_sizes=tuple(meta["params"]["hidden_layer_sizes"]))
        try:
            estimator = cls(**params)
            cls._checked_params(estimator)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: estimator parameters: {error}") from None
        estimator.network_ = NeuralNetwork.from_model_state(state, path=where)
        fitted = meta["fitted"]
        estimator.n_iter_, estimator.t_ = fitted["n_iter"], fitted["t"]
        estimator.n_features_in_ = fitted["n_features_in"]
        if "feature_names_in" in state.arrays:
            estimator.feature_names_in_ = state.arrays["feature_names_in"].astype(object)
        estimator.loss_curve_ = [float(v) for v in state.arrays["loss_curve"]]
        estimator.loss_ = estimator.loss_curve_[-1] if estimator.loss_curve_ else np.inf
        if "validation_scores" in state.arrays:
            estimator.validation_scores_ = [float(v) for v in state.arrays["validation_scores"]]
            estimator.best_validation_score_ = max(estimator.validation_scores_)
            estimator.best_loss_ = None
        else:
            estimator.validation_scores_ = estimator.best_validation_score_ = None
            estimator.best_loss_ = min(estimator.loss_curve_) if estimator.loss_curve_ else np.inf
        cls._restore_from_file(estimator, state, fitted, where)
        if estimator.network_.layer_sizes[0] != estimator.n_features_in_:
            raise ValueError(f"{where}: n_features_in does not match the network's inputs")
        return estimator

    @classmethod
    def _file_layout(cls, metadata, path):
        layout = network_layout(metadata, path)
        meta = modelfile.field(metadata, "estimator", "dict", path)
        if modelfile.field(meta, "class", "str", path) != cls.__name__:
            raise ValueError(f"{path} holds a {meta['class']}, not a {cls.__name__}")
        params = modelfile.field(meta, "params", "dict", path)
        unknown = set(params) - set(cls().get_params())
        if unknown or not isinstance(params.get("hidden_layer_sizes"), list):
            raise ValueError(f"{path}: estimator parameters {sorted(unknown)} are unknown or "
                             "hidden_layer_sizes is not a list")
        fitted = modelfile.field(meta, "fitted", "dict", path)
        for key in ("n_iter", "t", "n_features_in"):
            if modelfile.field(fitted, key, "int", path) < 0:
                raise ValueError(f"{path}: {key} must be >= 0")
        layout["loss_curve"] = ("float64", modelfile.field(fitted, "n_curve", "int", path))
        if fitted.get("n_validation_scores") is not None:
            layout["validation_scores"] = ("float64",
                                           modelfile.field(fitted, "n_validation_scores", "int",
                                                           path))
        if fitted.get("feature_names") is not None:
            layout["feature_names_in"] = (_text_dtype(fitted["feature_names"], path),
                                          fitted["n_features_in"])
        layout.update(cls._extra_layout(fitted, path))
        return layout

    @staticmethod
    def _extra_layout(fitted, path):
        return {}

    def _fitted_for_file(self, arrays):
        fitted = {"n_curve": len(arrays["loss_curve"]),
                  "n_validation_scores": (len(arrays["validation_scores"])
                                          if "validation_scores" in arrays else None),
                  "feature_names": (arrays["feature_names_in"].dtype.str
                                    if "feature_names_in" in arrays else None)}
        return fitted

    def _restore_from_file(self, state, fitted, path):
        pass

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class MLPClassifier(ClassifierMixin, _FastbpMLP):
    """Multi-layer perceptron classifier trained by fastbp's compiled kernels.

    scikit-learn's ``sklearn.neural_network.MLPClassifier`` parameters and defaults (see its
    documentation), except ``learning_rate='adaptive'`` (not supported); plus ``dtype``
    (``"float64"`` or ``"float32"``: the network's parameters and arithmetic) and ``backend``
    (``"numba"``, or ``"numpy"`` for the reference engine).  Binary targets train one sigmoid
    output, several classes a softmax, a label-indicator matrix one sigmoid per label.  Labels
    may be of any type scikit-learn accepts (ints, strings, ...).

    The parameters are stored as given and checked by ``fit`` (a ValueError for an unsupported
    or invalid value).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        The sizes of the hidden layers, in order (an int: one hidden layer).
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
        The hidden layers' activation.
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        The optimizer: Adam, SGD (with ``momentum``), or SciPy's L-BFGS-B on the full batch.
    alpha : float, default 0.0001
        The strength of the L2 penalty on the weights, >= 0.
    batch_size : int or "auto", default "auto"
        Mini-batch size for "sgd" and "adam": "auto" is ``min(200, n_samples)``; larger than
        ``n_samples`` is clipped to it (with a warning).  "lbfgs" trains on the full batch.
    learning_rate : {"constant", "invscaling"}, default "constant"
        The step size schedule of "sgd": constant, or ``learning_rate_init / (t + 1) ** power_t``
        per epoch, t the samples seen before it.  ("adaptive" is not supported.)
    learning_rate_init : float, default 0.001
        The (initial) step size of "sgd" and "adam", > 0.
    power_t : float, default 0.5
        The exponent of the "invscaling" schedule, >= 0.
    max_iter : int, default 200
        The most epochs ("sgd", "adam") or iterations ("lbfgs"), >= 1.
    shuffle : bool, default True
        Reshuffle the samples every epoch ("sgd", "adam").
    random_state : int, numpy.random.RandomState or None, default None
        The source of the initial weights, the mini-batch orders and the validation split.
    tol : float, default 1e-4
        "sgd" and "adam" stop when the training loss (with ``early_stopping``, the validation
        accuracy) has not improved by more than ``tol`` for more than ``n_iter_no_change`` epochs
        in a row, the loss on the scale of the cross-entropy; for "lbfgs", the
        projected gradient tolerance.  ``tol >= 0``.
    verbose : bool, default False
        Show progress.
    warm_start : bool, default False
        ``fit`` continues from the previous fit's network (same layers and classes), with a
        fresh optimizer state.
    momentum : float, default 0.9
        The momentum of "sgd", in [0, 1].
    nesterovs_momentum : bool, default True
        Nesterov momentum for "sgd" with ``momentum > 0``.
    early_stopping : bool, default False
        For "sgd" and "adam": hold out ``validation_fraction`` of the training data (stratified,
        except for multi-label targets) and stop when its accuracy has not improved by more than
        ``tol`` for more than ``n_iter_no_change`` epochs in a row; the weights of the best
        validation epoch are kept.
        Not used by ``partial_fit``.
    validation_fraction : float, default 0.1
        The fraction of the training data held out with ``early_stopping``, in [0, 1]; it must
        give at least 2 samples.
    beta_1, beta_2 : float, default 0.9, 0.999
        Adam's decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default 1e-8
        Adam's term added to the bias-corrected ``sqrt(v_hat)``, >= 0.
    n_iter_no_change : int, default 10
        The epochs without improvement that ``tol`` allows, >= 1.
    max_fun : int, default 15000
        The most evaluations of the loss of "lbfgs", >= 1.
    dtype : "float64" or "float32", default "float64"
        The network's parameters and arithmetic.
    backend : {"numba", "numpy"}, default "numba"
        The compiled kernels, or the NumPy reference engine (alias "reference").
    workers : int or None, default None
        Worker threads of each fit (None: fastbp's choice, up to its thread setting).  The
        results are the same bits whatever the workers; fastbp's GridSearchCV sets 1 and trains
        several networks at once instead.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    network_ : fastbp.NeuralNetwork
        The trained network.
    coefs_, intercepts_ : list of ndarray
        Per-layer weights (n_in, n_out) and biases (n_out,).
    loss_ : float
        The last epoch's loss (``loss_curve_[-1]``).
    loss_curve_ : list of float
        Each epoch's mean cross-entropy (without the L2 term).
    best_loss_ : float or None
        The lowest of ``loss_curve_`` (None with early stopping).
    validation_scores_, best_validation_score_ : list of float, float, or None
        With early stopping, the accuracy on the validation set after each epoch, and the best.
    n_iter_ : int
        Epochs (L-BFGS: iterations) trained.
    t_ : int
        Training samples seen.
    n_features_in_, feature_names_in_ : int, ndarray
        The inputs seen by ``fit`` (names for a pandas DataFrame).
    n_layers_, n_outputs_ : int
    out_activation_ : str
        ``"logistic"`` or ``"softmax"``.
    """

    def fit(self, X: ArrayLike, y: ArrayLike) -> MLPClassifier:
        """Train on X (n_samples, n_features) and labels y; returns self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training inputs (a pandas DataFrame's column names are kept).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 label-indicator matrix for multi-label classification.

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            If a parameter is invalid or unsupported, X or y is not valid (shape, NaN or infinite
            values, fewer than 2 classes), the validation set of ``early_stopping`` would have
            fewer than 2 samples, or a ``warm_start`` meets other classes or layers.
        TypeError
            If ``dtype`` is not float32 or float64, or ``backend`` is not a string.
        fastbp.TrainingDivergedError
            If the loss or an update became NaN or infinite.

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            If training ran for ``max_iter`` epochs (iterations) without converging.
        """
        return self._fit(X, y, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> MLPClassifier:
        """One epoch over (X, y), continuing the optimizer's state; returns self.

        Only for the stochastic solvers ("sgd", "adam"): with "lbfgs" the attribute does not
        exist (``AttributeError``).  ``early_stopping`` is not used.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (each among ``classes``), or a 0/1 label-indicator matrix.
        classes : array-like of shape (n_classes,) or None, default None
            Every class label that ``y`` may ever hold: required on the first call, and then
            the same or None.

        Returns
        -------
        self : MLPClassifier
            The estimator, trained one more epoch.

        Raises
        ------
        ValueError
            If a parameter is invalid or unsupported, ``classes`` is missing on the first call or
            differs later, y holds labels not in ``classes_``, or X or y is not valid.
        TypeError
            If ``dtype`` is not float32 or float64, or ``backend`` is not a string.
        fastbp.TrainingDivergedError
            If the loss or an update became NaN or infinite.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same classes "
                                     f"as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        if len(self.classes_) < 2 and self._label_binarizer.y_type_ != "multilabel-indicator":
            raise ValueError(f"y has only one class ({self.classes_[0]!r}): a classifier needs "
                             "samples of at least 2 classes")
        Y = self._label_binarizer.transform(y)
        if self._label_binarizer.y_type_ == "multiclass":
            Y = Y.argmax(axis=1)  # class indices for the softmax head
        return X, Y.astype(X.dtype)

    def _output(self, Y):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "sigmoid"

    def _fitted_for_file(self, arrays):
        classes = np.asarray(self.classes_)
        if classes.dtype.kind not in "biu":
            classes = classes.astype(str)  # labels as text: no object arrays in a model file
        arrays["classes"] = classes
        return dict(super()._fitted_for_file(arrays), classes=classes.dtype.str,
                    n_classes=len(classes), y_type=self._label_binarizer.y_type_)

    @staticmethod
    def _extra_layout(fitted, path):
        dtype = modelfile.field(fitted, "classes", "str", path)
        if dtype[1:2] == "U":
            _text_dtype(dtype, path)
        elif dtype not in CLASS_DTYPES:
            raise ValueError(f"{path}: class labels of dtype {dtype!r} are not supported")
        modelfile.field(fitted, "y_type", ("binary", "multiclass", "multilabel-indicator"), path)
        return {"classes": (dtype, modelfile.field(fitted, "n_classes", "int", path))}

    def _restore_from_file(self, state, fitted, path):
        classes = state.arrays["classes"]
        binarizer = LabelBinarizer()
        if fitted["y_type"] == "multilabel-indicator":
            binarizer.fit(np.vstack([np.eye(len(classes), dtype=int),
                                     np.zeros(len(classes), dtype=int)]))
        else:
            binarizer.fit(classes)
        if binarizer.y_type_ != fitted["y_type"] or len(binarizer.classes_) != len(classes):
            raise ValueError(f"{path}: the class labels do not match their type")
        self._label_binarizer, self.classes_ = binarizer, binarizer.classes_
        outputs = 1 if fitted["y_type"] == "binary" else len(classes)
        if self.network_.n_outputs != outputs:
            raise ValueError(f"{path}: {len(classes)} classes need {outputs} outputs, the network "
                             f"has {self.network_.n_outputs}")

    def _n_outputs(self, Y):
        return len(self.classes_) if Y.ndim == 1 else Y.shape[1]

    def _stratify(self, Y):
        return Y if self._label_binarizer.y_type_ != "multilabel-indicator" else None

    @staticmethod
    def _validation_score(loss, accuracy, Y_val):
        return accuracy

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Class labels: (n_samples,), or (n_samples, n_labels) 0/1 for multi-label.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        y : numpy.ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``, or a 0/1 label-indicator matrix for multi-label.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator has not been fitted.
        ValueError
            If X is not valid or has another number of features than in ``fit``.
        """
        out = self._outputs(X)
        if self.network_.output == "softmax":
            return self.classes_[out.argmax(axis=1)]
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probabilities (n_samples, n_classes) in the order of ``classes_`` (multi-label: each
        label's probability).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        proba : numpy.ndarray of shape (n_samples, n_classes)
            The probabilities, in the network's dtype.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator has not been fitted.
        ValueError
            If X is not valid or has another number of features than in ``fit``.
        """
        out = self._outputs(X)
        if self.n_outputs_ == 1:
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """``log(predict_proba(X))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        log_proba : numpy.ndarray of shape (n_samples, n_classes)
            The log-probabilities, in the network's dtype (-inf where a probability is 0).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator has not been fitted.
        ValueError
            If X is not valid or has another number of features than in ``fit``.
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _FastbpMLP):
    """Multi-layer perceptron regressor (squared error) trained by fastbp's compiled kernels.

    scikit-learn's ``sklearn.neural_network.MLPRegressor`` parameters and defaults, except
    ``learning_rate='adaptive'`` and ``loss='poisson'`` (not supported); plus ``dtype`` and
    ``backend`` as :class:`MLPClassifier`.  The loss is scikit-learn's half squared error:
    ``loss_curve_`` and ``tol`` are on its scale, and the steps are its steps.

    The parameters are stored as given and checked by ``fit`` (a ValueError for an unsupported
    or invalid value).

    Parameters
    ----------
    loss : {"squared_error"}, default "squared_error"
        The loss; only scikit-learn's (half) squared error is supported (others raise a
        ValueError in ``fit``).
    hidden_layer_sizes : int or sequence of int, default (100,)
        The sizes of the hidden layers, in order (an int: one hidden layer).
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
        The hidden layers' activation.
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        The optimizer: Adam, SGD (with ``momentum``), or SciPy's L-BFGS-B on the full batch.
    alpha : float, default 0.0001
        The strength of the L2 penalty on the weights, >= 0.
    batch_size : int or "auto", default "auto"
        Mini-batch size for "sgd" and "adam": "auto" is ``min(200, n_samples)``; larger than
        ``n_samples`` is clipped to it (with a warning).  "lbfgs" trains on the full batch.
    learning_rate : {"constant", "invscaling"}, default "constant"
        The step size schedule of "sgd": constant, or ``learning_rate_init / (t + 1) ** power_t``
        per epoch, t the samples seen before it.  ("adaptive" is not supported.)
    learning_rate_init : float, default 0.001
        The (initial) step size of "sgd" and "adam", > 0.
    power_t : float, default 0.5
        The exponent of the "invscaling" schedule, >= 0.
    max_iter : int, default 200
        The most epochs ("sgd", "adam") or iterations ("lbfgs"), >= 1.
    shuffle : bool, default True
        Reshuffle the samples every epoch ("sgd", "adam").
    random_state : int, numpy.random.RandomState or None, default None
        The source of the initial weights, the mini-batch orders and the validation split.
    tol : float, default 1e-4
        "sgd" and "adam" stop when the training loss (with ``early_stopping``, the validation
        R^2) has not improved by more than ``tol`` for more than ``n_iter_no_change`` epochs
        in a row, the loss on the scale of scikit-learn's half squared error; for "lbfgs", the
        projected gradient tolerance.  ``tol >= 0``.
    verbose : bool, default False
        Show progress.
    warm_start : bool, default False
        ``fit`` continues from the previous fit's network (same layers), with a fresh optimizer
        state.
    momentum : float, default 0.9
        The momentum of "sgd", in [0, 1].
    nesterovs_momentum : bool, default True
        Nesterov momentum for "sgd" with ``momentum > 0``.
    early_stopping : bool, default False
        For "sgd" and "adam": hold out ``validation_fraction`` of the training data and stop
        when its R^2 has not improved by more than ``tol`` for more than ``n_iter_no_change``
        epochs in a row; the weights of the best validation epoch are kept.
        Not used by ``partial_fit``.
    validation_fraction : float, default 0.1
        The fraction of the training data held out with ``early_stopping``, in [0, 1]; it must
        give at least 2 samples.
    beta_1, beta_2 : float, default 0.9, 0.999
        Adam's decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default 1e-8
        Adam's term added to the bias-corrected ``sqrt(v_hat)``, >= 0.
    n_iter_no_change : int, default 10
        The epochs without improvement that ``tol`` allows, >= 1.
    max_fun : int, default 15000
        The most evaluations of the loss of "lbfgs", >= 1.
    dtype : "float64" or "float32", default "float64"
        The network's parameters and arithmetic.
    backend : {"numba", "numpy"}, default "numba"
        The compiled kernels, or the NumPy reference engine (alias "reference").
    workers : int or None, default None
        Worker threads of each fit (None: fastbp's choice, up to its thread setting).  The
        results are the same bits whatever the workers; fastbp's GridSearchCV sets 1 and trains
        several networks at once instead.

    Attributes
    ----------
    As :class:`MLPClassifier` without ``classes_``; ``validation_scores_`` are R^2 scores and
    ``out_activation_`` is ``"identity"``.
    """

    _loss_scale = 0.5  # scikit-learn's squared error is half the mean of the squares

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int = 10, max_fun: int = 15000, dtype: DTypeLike = "float64",
                 backend: str = "numba", workers: int | None = None) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, backend=backend, workers=workers)
        self.loss = loss

    def _checked_params(self):
        if self.loss != "squared_error":
            raise ValueError(f"loss={self.loss!r} is not supported by fastbp: only "
                             "'squared_error'")
        return super()._checked_params()

    def fit(self, X: ArrayLike, y: ArrayLike) -> MLPRegressor:
        """Train on X (n_samples, n_features) and targets y; returns self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training inputs (a pandas DataFrame's column names are kept).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            If a parameter is invalid or unsupported, X or y is not valid (shape, NaN or infinite
            values), the validation set of ``early_stopping`` would have fewer than 2 samples, or
            a ``warm_start`` meets other layers.
        TypeError
            If ``dtype`` is not float32 or float64, or ``backend`` is not a string.
        fastbp.TrainingDivergedError
            If the loss or an update became NaN or infinite.

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            If training ran for ``max_iter`` epochs (iterations) without converging.
        """
        return self._fit(X, y, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X: ArrayLike, y: ArrayLike) -> MLPRegressor:
        """One epoch over (X, y), continuing the optimizer's state; returns self.

        Only for the stochastic solvers ("sgd", "adam"): with "lbfgs" the attribute does not
        exist (``AttributeError``).  ``early_stopping`` is not used.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.

        Returns
        -------
        self : MLPRegressor
            The estimator, trained one more epoch.

        Raises
        ------
        ValueError
            If a parameter is invalid or unsupported, X or y is not valid, or the layers differ
            from the previous calls'.
        TypeError
            If ``dtype`` is not float32 or float64, or ``backend`` is not a string.
        fastbp.TrainingDivergedError
            If the loss or an update became NaN or infinite.
        """
        return self._fit(X, y, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y.reshape(len(y), -1)

    def _output(self, Y):
        return "identity"

    def _n_outputs(self, Y):
        return Y.shape[1]

    def _stratify(self, Y):
        return None

    @staticmethod
    def _validation_score(loss, accuracy, Y_val):
        Y_val = np.asarray(Y_val, dtype=np.float64)
        total = ((Y_val - Y_val.mean(axis=0)) ** 2).sum()
        return 1.0 - loss * Y_val.size / total if total > 0 else 1.0

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted values: (n_samples,) for one output, else (n_samples, n_outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        y : numpy.ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predictions, in the network's dtype.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator has not been fitted.
        ValueError
            If X is not valid or has another number of features than in ``fit``.
        """
        out = self._outputs(X)
        return out.ravel() if self.n_outputs_ == 1 else out


def _hidden_list(hidden):
    return [int(hidden)] if isinstance(hidden, numbers.Integral) else [int(h) for h in hidden]


def _text_dtype(dtype, path):
    """A text dtype string (``<U12``) from a model file, checked before NumPy parses it."""
    if not isinstance(dtype, str) or dtype[:2] not in ("<U", ">U", "|U") or \
            not dtype[2:].isdigit() or int(dtype[2:]) > 4096:
        raise ValueError(f"{path}: {dtype!r} is not a supported text dtype")
    return dtype


def _choice(params, name, choices):
    value = params[name]
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


def _number(params, name, low, high=np.inf, open_low=False):
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low or (open_low and value == low) or value > high:
        raise ValueError(f"{name} must be in {'(' if open_low else '['}{low}, {high}], got "
                         f"{value!r}")


def _seed(random):
    """An int seed drawn from a RandomState (scikit-learn's random_state)."""
    return int(random.randint(np.iinfo(np.int32).max))


class GridSearchCV(_SkGridSearchCV):
    """scikit-learn's ``GridSearchCV`` (same parameters, attributes and results), training its
    fits -- candidates x folds -- several at once, as :func:`fastbp.fit_many` trains a sweep:
    each of fastbp's estimators in the search trains on one worker thread (``workers=1``), and
    ``n_jobs`` threads (default: ``fastbp.get_num_threads()``) run fits concurrently in
    compiled code that releases the GIL -- no process pool, no copies of the data, no
    compilation per process.  A fit's bits do not depend on its workers, so ``cv_results_``'s
    scores, ``best_params_``, ``best_score_`` and ``best_estimator_`` are those of
    scikit-learn's own ``GridSearchCV`` over the same estimator.  Estimators other than
    fastbp's (e.g. a scaler in a pipeline) run in the same threads, as with
    ``joblib.parallel_config(backend="threading")``.

    Parameters
    ----------
    estimator, param_grid, scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, \
return_train_score :
        As scikit-learn's ``GridSearchCV``; ``n_jobs=None`` means ``fastbp.get_num_threads()``
        threads, and ``n_jobs`` counts threads rather than processes.
    """

    def fit(self, X: ArrayLike, y: ArrayLike | None = None, **params: Any) -> GridSearchCV:
        """Run fit with all sets of parameters (scikit-learn's ``GridSearchCV.fit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), optional
        **params : dict
            Passed to the estimator's ``fit`` (scikit-learn's routing).

        Returns
        -------
        self : GridSearchCV
        """
        import joblib

        from .threadctl import get_num_threads

        estimator = self.estimator
        one_worker = _workers_params(estimator, 1)
        original = {name: value for name, value in estimator.get_params(deep=True).items()
                    if name in one_worker}
        n_jobs = self.n_jobs if self.n_jobs is not None else get_num_threads()
        self.estimator = clone(estimator).set_params(**one_worker)
        try:
            with joblib.parallel_config(backend="threading", n_jobs=n_jobs):
                super().fit(X, y, **params)
        finally:
            self.estimator = estimator
        if hasattr(self, "best_estimator_"):
            self.best_estimator_.set_params(**original)  # the user's settings, as trained
        return self


def _workers_params(estimator, workers):
    """{param name: workers} for every fastbp estimator inside ``estimator`` (itself included)."""
    names = {}
    if isinstance(estimator, _FastbpMLP):
        names["workers"] = workers
    for name, value in estimator.get_params(deep=True).items():
        if isinstance(value, _FastbpMLP):
            names[f"{name}__workers"] = workers
    return names
