"""fastbp's scikit-learn estimators against scikit-learn's own, on data sets that ship with
scikit-learn: the bench's "scikit-learn" table (``python -m fastbp bench --sklearn``).

For each data set (breast cancer: binary; digits: ten classes through softmax; diabetes:
regression) and solver (sgd, adam, lbfgs), ``sklearn.neural_network.MLPClassifier`` /
``MLPRegressor`` and ``fastbp.sklearn``'s estimator of the same name are built with the same
parameters (scikit-learn's defaults: one hidden layer of 100 ReLU units, at most 200 epochs,
``tol`` 1e-4, ``random_state=0``) and fitted on the same 75% of the rows (inputs standardised;
the diabetes target too), the other 25% held out for validation.

* time per epoch: each library in a long-lived process of its own (``sessions.Spawned``: a
  library's BLAS threads, still spinning after its fit, would slow the other's next fit down),
  the fits interleaved -- scikit-learn, fastbp, scikit-learn, fastbp, ... -- after one untimed
  round (fastbp's compilation), ``sessions.TURN_SETTLE`` seconds idle before each; each fit's
  wall time / its ``n_iter_`` (L-BFGS: per iteration).  The speedup is the median of the
  per-round ratios, with their interquartile range.
* final score: each library's held-out score (accuracy, R^2) after its own fit.
* time to scikit-learn's score: sgd and adam -- each library's held-out score after every epoch,
  from ``partial_fit`` one epoch at a time (untimed), gives the epochs it needs to reach
  scikit-learn's final score (at most twice ``max_iter``; or the whole fit's epochs if that fit
  reached it sooner), times its time per epoch; lbfgs has no per-iteration scores here: the
  whole fit's time, if its final score reaches the target.

Only public APIs are used.
"""
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .sessions import TURN_SETTLE, opened

DATASETS = ("breast_cancer", "digits", "diabetes")
SOLVERS = ("sgd", "adam", "lbfgs")
PER_EPOCH_TARGET = 5.0   # fastbp at least this much faster per epoch (geometric mean)
LIBRARIES = ("sk", "fb")  # scikit-learn's estimators, fastbp.sklearn's


@dataclass(frozen=True)
class Plan:
    datasets: tuple = DATASETS
    solvers: tuple = SOLVERS
    rounds: int = 5
    max_iter: int = 200
    hidden: tuple = (100,)


def plan(quick=False, repeats=3):
    return Plan(rounds=3 if quick else max(3, 2 * repeats - 1), max_iter=60 if quick else 200)


@dataclass
class Row:
    dataset: str
    kind: str                 # "classifier" or "regressor"
    shape: tuple              # (training rows, features)
    solver: str
    sk_epoch: float           # median seconds per epoch (iteration)
    fb_epoch: float
    speedup: float            # median of the per-round sk / fb ratios
    speedup_iqr: tuple
    sk_iters: int
    fb_iters: int
    sk_score: float
    fb_score: float
    sk_to_target: float       # seconds to scikit-learn's final score (None: not reached)
    fb_to_target: float
    fb_epochs_to_target: int

    @property
    def no_worse(self):
        return self.fb_score >= self.sk_score


@dataclass
class Results:
    plan: Plan
    rows: list
    versions: str

    @property
    def geometric_mean_speedup(self):
        return float(np.exp(np.mean([np.log(row.speedup) for row in self.rows])))


def load(name):
    """(X_train, X_val, y_train, y_val, kind) of a data set shipped with scikit-learn."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loader = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits,
              "diabetes": datasets.load_diabetes}[name]
    X, y = loader(return_X_y=True)
    kind = "regressor" if name == "diabetes" else "classifier"
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    if kind == "regressor":
        mean, std = y_train.mean(), y_train.std()
        y_train, y_val = (y_train - mean) / std, (y_val - mean) / std
    return X_train, X_val, y_train, y_val, kind


def estimators(kind):
    """(scikit-learn's class, fastbp's class) for a kind of problem."""
    from sklearn import neural_network

    from .. import sklearn as fastbp_sklearn

    name = "MLPClassifier" if kind == "classifier" else "MLPRegressor"
    return getattr(neural_network, name), getattr(fastbp_sklearn, name)


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is part of the plan
        return function(*args, **kwargs)


class EstimatorSession:
    """One library's estimators (``"sk"``: scikit-learn's, ``"fb"``: fastbp.sklearn's), in the
    process of its own: ``prepare`` a data set and solver, then ``fit`` (timed) as often as the
    rounds ask, ``score`` the last fit, ``epochs_to_target``."""

    def __init__(self, library):
        self.library = library
        self.data = self.make = self.model = None

    def prepare(self, dataset, solver, hidden, max_iter):
        """Load ``dataset`` and fit once, untimed (compilation, caches)."""
        X, X_val, y, y_val, kind = load(dataset)
        cls = estimators(kind)[LIBRARIES.index(self.library)]
        params = dict(hidden_layer_sizes=hidden, solver=solver, max_iter=max_iter,
                      random_state=0)
        self.data, self.make = (X, X_val, y, y_val), (lambda: cls(**params))
        self.fit()
        return kind, X.shape

    def fit(self):
        """(seconds per epoch -- per iteration for L-BFGS --, epochs) of one whole fit."""
        X, _, y, _ = self.data
        self.model = self.make()
        start = time.perf_counter()
        quietly(self.model.fit, X, y)
        seconds = time.perf_counter() - start
        return seconds / max(1, self.model.n_iter_), self.model.n_iter_

    def score(self):
        """The last fit's held-out score."""
        _, X_val, _, y_val = self.data
        return float(self.model.score(X_val, y_val))

    def epochs_to_target(self, target, most):
        """Epochs of ``partial_fit`` until the held-out score reaches ``target`` (None if not in
        ``most``)."""
        X, X_val, y, y_val = self.data
        model = self.make()
        classes = np.unique(y) if hasattr(model, "predict_proba") else None
        for epoch in range(1, most + 1):
            if classes is not None:
                quietly(model.partial_fit, X, y, classes=classes)
            else:
                quietly(model.partial_fit, X, y)
            if model.score(X_val, y_val) >= target:
                return epoch
        return None


def row(dataset, solver, plan, sessions, log):
    """One data set and solver, timed in interleaved rounds on the two libraries' sessions."""
    prepared = {name: session.call("prepare", dataset, solver, plan.hidden, plan.max_iter)
                for name, session in sessions.items()}
    kind, shape = prepared["fb"]
    times = {name: [] for name in sessions}
    iters = {}
    for _ in range(plan.rounds):
        for name, session in sessions.items():
            time.sleep(TURN_SETTLE)
            seconds, iters[name] = session.call("fit")
            times[name].append(seconds)
    per_round = [s / f for s, f in zip(times["sk"], times["fb"])]
    scores = {name: session.call("score") for name, session in sessions.items()}
    target = scores["sk"]
    to_target, fb_epochs = {}, None
    for name, session in sessions.items():
        epoch_time = statistics.median(times[name])
        if solver == "lbfgs":
            reached = scores[name] >= target
            to_target[name] = epoch_time * iters[name] if reached else None
            epochs = iters[name] if reached else None
        else:
            epochs = session.call("epochs_to_target", target, 2 * plan.max_iter)
            if scores[name] >= target and (epochs is None or epochs > iters[name]):
                epochs = iters[name]  # the whole fit got there (its own shuffles)
            to_target[name] = None if epochs is None else epochs * epoch_time
        if name == "fb":
            fb_epochs = epochs
    log(f"  scikit-learn table: {dataset} {solver} done")
    return Row(dataset, kind, tuple(shape), solver, statistics.median(times["sk"]),
               statistics.median(times["fb"]), statistics.median(per_round),
               tuple(float(q) for q in np.percentile(per_round, [25, 75])),
               iters["sk"], iters["fb"], scores["sk"], scores["fb"],
               to_target["sk"], to_target["fb"], fb_epochs)


def available():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def run(plan, log, isolate=True):
    """The table: every data set x solver of ``plan``; a Results.  Each library's estimators in
    a long-lived process of its own (``isolate=False``: both in this process, for tests)."""
    import sklearn

    makers = {name: (EstimatorSession, name) for name in LIBRARIES}
    with opened(makers, isolate, log, required=LIBRARIES) as sessions:
        rows = [row(dataset, solver, plan, sessions, log) for dataset in plan.datasets
                for solver in plan.solvers]
    return Results(plan, rows, f"scikit-learn {sklearn.__version__}")
