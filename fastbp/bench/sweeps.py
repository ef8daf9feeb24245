"""Many networks at once: the bench's "sweeps" table (``python -m fastbp bench --sweeps``).

For each sweep of ``fastbp.workloads.SWEEPS`` (64 circle networks, 16 spirals networks, seeds x
learning rates, full batch) and optimizer (SGD; Adam), the whole sweep is trained by each way
of running it, interleaved round by round after one untimed round (compilation, worker start):

* ``fastbp fit, one after another``: a Python loop of ``NeuralNetwork(...).fit(...)``;
* ``fastbp.fit_many``: one call;
* ``fastbp in a joblib pool``: the configurations split over a loky pool of as many processes as
  fastbp has threads, each process on one thread;
* ``scikit-learn MLPClassifier, joblib``: the same networks (same hidden layers, ReLU, full-batch
  SGD without momentum at the same rates, no early stop) over the same pool (SGD sweeps only).

Each row: the median time of the sweep and fit_many's speedup over it -- the median of the
per-round ratios, with their interquartile range.  Only public APIs are used.
"""
import statistics
import time
from dataclasses import dataclass

import numpy as np

import fastbp

from ..workloads import SWEEPS

WAYS = ("sequential", "fit_many", "joblib pool", "scikit-learn, joblib")
TARGETS = {("circle", "sequential"): 1.8, ("spirals", "sequential"): 2.0,
           ("circle", "joblib pool"): 1.3, ("spirals", "joblib pool"): 1.3,
           ("circle", "scikit-learn, joblib"): 10.0, ("spirals", "scikit-learn, joblib"): 2.5}


@dataclass(frozen=True)
class Plan:
    sweeps: tuple = ("circle", "spirals")
    optimizers: tuple = ("sgd", "adam")
    rounds: int = 5
    seeds: int = None          # fewer seeds (quick runs and tests)
    epochs: int = None


def plan(quick=False, repeats=3):
    if quick:
        return Plan(rounds=3, seeds=2, epochs=100)
    return Plan(rounds=max(3, 2 * repeats - 1))


@dataclass
class Row:
    sweep: str
    optimizer: str
    way: str
    networks: int
    seconds: float             # median time of the whole sweep
    speedup: float             # fit_many's: median of the per-round ratios way / fit_many
    speedup_iqr: tuple
    target: float = None       # the least speedup the sweep issue asks for, if any


def sequential(X, y, configs):
    for config in configs:
        config = dict(config)
        nn = fastbp.NeuralNetwork(config.pop("layer_sizes"), seed=config.pop("seed"),
                                  dtype=config.pop("dtype"))
        nn.fit(X, y, **config)


def _pool_chunk(X, y, configs):
    """One pool process's share, on one thread."""
    fastbp.set_num_threads(1)
    sequential(X, y, configs)
    return len(configs)


def _sklearn_fit(X, y, config):
    import warnings

    from sklearn.neural_network import MLPClassifier

    sizes = config["layer_sizes"]
    model = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), solver="sgd", momentum=0.0,
                          learning_rate_init=config["lr"], batch_size=len(X), alpha=0.0,
                          max_iter=config["epochs"], n_iter_no_change=config["epochs"] + 1,
                          tol=0.0, shuffle=False, random_state=config["seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, np.ravel(y))
    return model.n_iter_


def ways(X, y, configs, optimizer, pool):
    """{way: callable training the sweep} for this sweep."""
    from joblib import delayed

    n_jobs = pool.n_jobs
    chunks = [configs[i::n_jobs] for i in range(n_jobs)]
    run = {"sequential": lambda: sequential(X, y, configs),
           "fit_many": lambda: fastbp.fit_many(X, y, configs),
           "joblib pool": lambda: pool(delayed(_pool_chunk)(X, y, chunk) for chunk in chunks)}
    if optimizer == "sgd" and _has_sklearn():
        run["scikit-learn, joblib"] = lambda: pool(delayed(_sklearn_fit)(X, y, config)
                                                   for config in configs)
    return run


def _has_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def sweep_rows(name, optimizer, plan, pool, log):
    sweep = SWEEPS[name]
    X, y = sweep.data()
    configs = sweep.configs("float64", optimizer, seeds=plan.seeds, epochs=plan.epochs)
    run = ways(X, y, configs, optimizer, pool)
    times = {way: [] for way in run}
    for timing in [False] + [True] * plan.rounds:
        for way, train in run.items():
            start = time.perf_counter()
            train()
            if timing:
                times[way].append(time.perf_counter() - start)
    rows = []
    for way in run:
        ratios = [t / f for t, f in zip(times[way], times["fit_many"])]
        rows.append(Row(name, optimizer, way, len(configs), statistics.median(times[way]),
                        statistics.median(ratios),
                        tuple(float(q) for q in np.percentile(ratios, [25, 75])),
                        TARGETS.get((name, way)) if plan.seeds is None else None))
    log(f"  sweeps: {name} {optimizer} done")
    return rows


@dataclass
class Results:
    plan: Plan
    rows: list
    threads: int


def run(plan, log):
    from joblib import Parallel

    threads = fastbp.get_num_threads()
    with Parallel(n_jobs=threads, backend="loky") as pool:
        rows = [row for name in plan.sweeps for optimizer in plan.optimizers
                for row in sweep_rows(name, optimizer, plan, pool, log)]
    return Results(plan, rows, threads)
