"""``fit``'s options, checked into one :class:`FitOptions` before anything changes; and the
L-BFGS fit, on SciPy's L-BFGS-B over the compiled loss and gradient."""
import dataclasses
import math
import numbers

import numpy as np

from . import kernels, threadctl
from ._validation import check_count, check_lr, check_targets, check_X
from .errors import TrainingDivergedError
from .progress import Progress

OPTIMIZERS = ("sgd", "adam", "lbfgs")
MONITORS = {"val_loss": kernels.VAL_LOSS, "val_score": kernels.VAL_SCORE,
            "loss": kernels.TRAIN_LOSS}


@dataclasses.dataclass
class FitOptions:
    """One fit's data and settings, all checked."""

    X: np.ndarray
    Y: np.ndarray
    epochs: int
    lrs: np.ndarray             # one rate per epoch (float64)
    batch_size: int             # or None: full batch
    shuffle: bool
    optimizer: str
    momentum: float
    nesterov: bool
    betas: tuple
    eps: float
    weight_decay: float
    validation: tuple           # (Xv, Yv) or None
    early_stopping: bool
    monitor: str                # what early stopping watches: a key of MONITORS
    patience: int
    min_delta: float
    gtol: float                 # L-BFGS only
    max_fun: int                # L-BFGS only
    classification: bool        # the history has accuracies

    @property
    def restores_best(self):
        """Early stopping on a validation monitor ends with the best epoch's parameters."""
        return self.early_stopping and self.monitor != "loss"

    def stop_state(self):
        """Early stopping's float64 state for the training loops (kernels.train.monitor_epoch):
        [best, epochs since, patience, min_delta, monitor, R^2 scale]."""
        monitor = MONITORS[self.monitor] if self.early_stopping else kernels.NO_MONITOR
        scale = 0.0
        if self.validation is not None and not self.classification:
            Yv = self.validation[1].astype(np.float64)
            total = float(((Yv - Yv.mean(axis=0)) ** 2).sum())
            scale = Yv.size / total if total > 0 else 0.0
        return np.array([np.inf, 0.0, self.patience, self.min_delta, monitor, scale])

    @property
    def optimizer_key(self):
        """The settings an optimizer state belongs to (the rate is not one of them)."""
        return (self.optimizer, self.momentum, self.nesterov, self.betas, self.eps,
                self.weight_decay)

    @property
    def record(self):
        """The kernels' Optimizer record (fixed types: one compiled version serves all)."""
        return kernels.Optimizer(kernels.ADAM if self.optimizer == "adam" else kernels.SGD,
                                 float(self.momentum), bool(self.nesterov), float(self.betas[0]),
                                 float(self.betas[1]), float(self.eps), float(self.weight_decay))

    def empty_history(self):
        history = {"loss": []}
        if self.classification:
            history["accuracy"] = []
        if self.validation is not None:
            history["val_loss"] = []
            if self.classification:
                history["val_accuracy"] = []
        return history

    def extend_history(self, history, trained):
        """Add one training call's results (an engines.Trained) to the history."""
        history["loss"].extend(trained.losses)
        if self.classification:
            history["accuracy"].extend(trained.accuracies)
        if self.validation is not None:
            history["val_loss"].extend(trained.val_losses)
            if self.classification:
                history["val_accuracy"].extend(trained.val_accuracies)


def _real(value, name, low=0.0, high=math.inf, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or below or above:
        interval = (("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]"))
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return value


def _flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_schedule(lr, epochs):
    """One learning rate per epoch (float64): from a number, an array of ``epochs`` rates, or a
    callable ``epoch -> rate`` evaluated for epochs 0 .. epochs-1 now."""
    if callable(lr):
        rates = []
        for epoch in range(epochs):
            try:
                rates.append(check_lr(lr(epoch)))
            except (TypeError, ValueError) as error:
                raise type(error)(f"lr({epoch}) from the schedule: {error}") from None
        return np.array(rates, dtype=np.float64)
    if isinstance(lr, (list, tuple, np.ndarray)):
        rates = np.asarray(lr)
        if rates.dtype.kind not in "iuf" or rates.ndim != 1:
            raise TypeError(f"a schedule of rates must be a 1-D array of numbers, got {rates.dtype} "
                            f"with shape {rates.shape}")
        if len(rates) != epochs:
            raise ValueError(f"the schedule has {len(rates)} rate(s) but epochs={epochs}: one "
                             "rate per epoch")
        rates = rates.astype(np.float64)
        if not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ValueError("every rate of the schedule must be finite and >= 0")
        return rates
    return np.full(epochs, check_lr(lr), dtype=np.float64)


def check_fit_options(nn, X, y, *, epochs, lr, batch_size, shuffle, optimizer, momentum,
                      nesterov, betas, eps, weight_decay, validation_data, validation_split,
                      early_stopping, monitor="val_loss", patience, min_delta, gtol=1e-5,
                      max_fun=15000):
    """Every option of ``nn.fit`` checked (X already is), into a FitOptions; nothing changes."""
    head, K, dtype = nn.output, nn.n_outputs, nn.dtype
    Y = check_targets(y, len(X), K, dtype, head)
    epochs = check_count(epochs, "epochs", 0)
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be a string, one of {list(OPTIMIZERS)}; got {optimizer!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZERS)}")
    momentum = _real(momentum, "momentum")
    nesterov = _flag(nesterov, "nesterov")
    if nesterov and (optimizer != "sgd" or momentum == 0):
        raise ValueError("nesterov=True needs optimizer='sgd' with momentum > 0")
    if momentum and optimizer != "sgd":
        raise ValueError(f"momentum applies to optimizer='sgd', not {optimizer!r}")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    betas = tuple(_real(b, f"betas[{i}]", 0.0, 1.0, high_open=True) for i, b in enumerate(betas))
    eps = _real(eps, "eps")
    weight_decay = _real(weight_decay, "weight_decay")
    shuffle = _flag(shuffle, "shuffle")
    early_stopping = _flag(early_stopping, "early_stopping")
    patience = check_count(patience, "patience", 1)
    min_delta = _real(min_delta, "min_delta")
    if not isinstance(monitor, str) or monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {list(MONITORS)}, got {monitor!r}")
    gtol = _real(gtol, "gtol")
    max_fun = check_count(max_fun, "max_fun", 1)
    if nn.tutorial_compat and (optimizer != "sgd" or momentum or weight_decay):
        raise ValueError("tutorial_compat=True trains with the tutorial's plain SGD: no other "
                         "optimizer, momentum or weight decay")
    if batch_size is not None:
        batch_size = min(check_count(batch_size, "batch_size", 1), len(X))
        if optimizer == "lbfgs":
            raise ValueError("optimizer='lbfgs' trains on the full batch: leave batch_size=None")
    lrs = check_schedule(lr, epochs) if optimizer != "lbfgs" else np.zeros(epochs)

    validation_split = _real(validation_split, "validation_split", 0.0, 1.0, high_open=True)
    validation = None
    if validation_data is not None:
        if validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_val, y_val)")
        Xv = check_X(validation_data[0], nn.layer_sizes[0], dtype)
        validation = (Xv, check_targets(validation_data[1], len(Xv), K, dtype, head))
    elif validation_split:
        n_train = int(len(X) * (1 - validation_split))
        if n_train < 1 or n_train == len(X):
            raise ValueError(f"validation_split={validation_split} of {len(X)} samples leaves no "
                             "training or no validation sample")
        validation = (X[n_train:], Y[n_train:])
        X, Y = X[:n_train], Y[:n_train]
        if batch_size is not None:
            batch_size = min(batch_size, len(X))
    if early_stopping and validation is None and monitor != "loss":
        raise ValueError(f"early_stopping=True with monitor={monitor!r} needs a validation set: "
                         "give validation_data or validation_split (or monitor='loss')")
    return FitOptions(X=X, Y=Y, epochs=epochs, lrs=lrs, batch_size=batch_size, shuffle=shuffle,
                      optimizer=optimizer, momentum=momentum, nesterov=nesterov, betas=betas,
                      eps=eps, weight_decay=weight_decay, validation=validation,
                      early_stopping=early_stopping, monitor=monitor, patience=patience,
                      min_delta=min_delta, gtol=gtol, max_fun=max_fun,
                      classification=head != "identity")


def lbfgs_fit(engine, params, options, plan, verbose, cancel=None):
    """Full-batch training by SciPy's L-BFGS-B over the engine's loss and gradient, at most
    ``options.epochs`` iterations; the history records each iteration's loss (after it).
    ``plan`` (a FitPlan for one epoch of the full batch) says how the engine splits each
    evaluation: its blocks fix the result, its workers only the speed.
    BLAS runs on one thread meanwhile, as in the training loops: a product's bits can depend on
    its thread count, and a busy machine stalls multi-threaded BLAS calls.

    The objective is the head's mean loss plus ``weight_decay / 2 * |W|^2`` (the penalty whose
    gradient SGD's and Adam's weight decay adds).  Early stopping raises StopIteration from the
    callback (SciPy then returns the iterate reached).  A Ctrl-C or an error leaves the network
    at the last complete iterate.
    """
    from scipy.optimize import minimize


    flat, decay = params.flat, params.decay.astype(np.float64)
    wd = options.weight_decay
    history = options.empty_history()
    start = flat.copy()
    accepted = [start]
    stop = options.stop_state()  # as the training loops keep it (kernels.train.monitor_epoch)
    best = [None]
    last = {}  # the latest evaluation: its point, data loss and accuracy

    evaluate = engine.objective(options.X, options.Y, plan)

    def objective(w):
        flat[...] = w
        loss, accuracy, grad = evaluate()
        last.update(w=w.copy(), loss=loss, accuracy=accuracy)
        grad = grad.astype(np.float64)
        if wd:
            current = flat.astype(np.float64)
            loss += 0.5 * wd * float(np.dot(decay * current, current))
            grad += wd * decay * current
        if not np.isfinite(loss) or not np.all(np.isfinite(grad)):
            return math.inf, np.zeros_like(grad)  # the line search steps back
        return loss, grad

    def record(intermediate_result):
        flat[...] = intermediate_result.x
        accepted[0] = flat.copy()
        if np.array_equal(last.get("w"), intermediate_result.x):  # the line search's last point
            loss, accuracy = last["loss"], last["accuracy"]
        else:
            loss, accuracy = engine.loss(options.X, options.Y)
        history["loss"].append(loss)
        if options.classification:
            history["accuracy"].append(accuracy)
        val_loss = val_accuracy = None
        if options.validation is not None:
            val_loss, val_accuracy = engine.loss(*options.validation)
            history["val_loss"].append(val_loss)
            if options.classification:
                history["val_accuracy"].append(val_accuracy)
        if options.early_stopping:
            value = {"loss": loss, "val_loss": val_loss}.get(options.monitor)
            if value is None:
                # the validation score: accuracy, or R^2 = 1 - loss * scale (stop_state)
                value = -(val_accuracy if options.classification else 1.0 - val_loss * stop[5])
            stop[1] = 0 if value < stop[0] - options.min_delta else stop[1] + 1
            if value < stop[0]:
                stop[0] = value
                best[0] = flat.copy() if options.restores_best else None
            if stop[1] >= options.patience:
                progress.update(1, history)
                raise StopIteration
        progress.update(1, history)
        if cancel is not None and cancel.is_set():
            raise StopIteration  # SciPy returns the iterate reached

    if options.epochs == 0:
        return history
    initial, _ = objective(start.astype(np.float64))
    np.copyto(flat, start)
    if not np.isfinite(initial):
        raise TrainingDivergedError("training diverged: the loss is NaN or infinite at the start "
                                    "of the L-BFGS fit; the network is unchanged",
                                    history=history, epoch=0)
    with Progress(options.epochs, verbose) as progress, threadctl.one_blas_thread():
        try:
            result = minimize(objective, start.astype(np.float64), jac=True, method="L-BFGS-B",
                              callback=record,
                              options={"maxiter": options.epochs, "maxfun": options.max_fun,
                                       "gtol": options.gtol})
            flat[...] = result.x
        except BaseException:
            np.copyto(flat, accepted[0])  # not a line search's trial point
            raise
    if not np.all(np.isfinite(flat)):
        np.copyto(flat, accepted[0])
    if options.restores_best and best[0] is not None:
        np.copyto(flat, best[0])
    return history
