"""Measuring the training options on the compiled engine (numba): the bench's "training options"
table (``python -m fastbp bench --models``).

* "Adam vs SGD": W1, W2 and W5 of ``fastbp.workloads`` trained by plain SGD (the workload's lr)
  and by Adam (lr 0.001), interleaved in one process -- sgd, adam, sgd, adam, ... -- a fresh
  network per timed fit, after one untimed warm-up round (compilation excluded).  Each row: the
  median time per epoch of each, the median and interquartile range of the per-round ratios
  adam / sgd, and the ratio's target.
* "Heads": the three spirals (``workloads.THREE_SPIRALS``: [2, 64, 32, 3], Adam, lr 0.01) with a
  sigmoid (3 independent labels), softmax (class labels) and identity (one-hot regression
  targets) output, interleaved the same way; each head's ratio to the sigmoid head.
* "L-BFGS on the circle": W1's network fitted by L-BFGS (100 iterations at most), beside plain
  SGD at W1's lr trained until it reaches L-BFGS's final loss (or 20000 epochs): the time to a
  good model.

``plan(quick, repeats)`` says what to run (the tests shrink it), ``run_models`` runs it in a fresh
process of its own (``measure_models`` in this one) and returns a ``Results``.  Only fastbp's
public API is used (``NeuralNetwork``, ``fit``, ``loss``, ``score``, ``datasets``).
"""
import multiprocessing
import statistics
import time
from dataclasses import dataclass

import numpy as np

import fastbp

from .. import datasets
from ..workloads import SHUFFLE_SEED, THREE_SPIRALS, Workload, initial_state, workload
from .sessions import set_threads, timed

ADAM_LR = 0.001
ADAM_TARGETS = {"W1": 1.3, "W2": 1.15, "W5": 1.15}   # most adam / sgd time per epoch
W2_MAX_EPOCHS = 500
HEADS = ("sigmoid", "softmax", "identity")
HEAD_Y = {"sigmoid": "one-hot, 3 independent labels", "softmax": "class labels (N,)",
          "identity": "one-hot as regression targets"}             # what each head is fitted to
HEAD_EPOCHS = {True: 100, False: 300}                   # --quick, full
LBFGS_ITERATIONS = 100
SGD_MAX_EPOCHS = 20000


@dataclass(frozen=True)
class OptimizerRun:
    """One "Adam vs SGD" row: a workload on ``samples`` rows for ``epochs`` epochs per fit."""

    workload: Workload
    samples: int
    epochs: int


@dataclass(frozen=True)
class Plan:
    """What the table runs; ``plan(quick, repeats)`` is the bench's, the tests shrink it."""

    optimizer_runs: tuple        # OptimizerRun per "Adam vs SGD" row
    rounds: int                  # interleaved rounds (Adam vs SGD, heads)
    head_epochs: int
    head_per_class: int = 300    # three spirals: samples per class (make_spirals' default)
    lbfgs_iterations: int = LBFGS_ITERATIONS
    sgd_max_epochs: int = SGD_MAX_EPOCHS
    repeats: int = 3             # L-BFGS and its SGD run: median of this many timed fits


def plan(quick=False, repeats=3):
    """The bench's plan: W1/W2 at their quick/full epochs (W2 at most 500), W5 one epoch of its
    quick/full rows; 2 x ``repeats`` + 1 rounds (at least 3)."""
    runs = []
    for key in ("W1", "W2", "W5"):
        w = workload(key)
        size = w.size(quick)
        epochs = min(size.units, W2_MAX_EPOCHS) if key == "W2" else size.units
        runs.append(OptimizerRun(w, size.samples, epochs))
    return Plan(tuple(runs), rounds=max(3, 2 * repeats + 1), head_epochs=HEAD_EPOCHS[bool(quick)],
                repeats=repeats)


@dataclass
class OptimizerRow:
    run: OptimizerRun
    sgd: float                   # median seconds per epoch
    adam: float
    ratio: float                 # median of the per-round adam / sgd ratios
    ratio_iqr: tuple             # (25th, 75th percentile) of those ratios
    target: float

    @property
    def met(self):
        return self.ratio <= self.target


@dataclass
class HeadRow:
    output: str
    y: str                       # what the head is fitted to (HEAD_Y)
    seconds: float               # median per epoch
    ratio: float                 # median of the per-round ratios to the sigmoid head's time


@dataclass
class TimeToModel:
    """One L-BFGS-table row: an optimizer's fit of the circle and the model it ends with."""

    optimizer: str
    lr: float                    # None: L-BFGS (no rate)
    most: int                    # iterations (L-BFGS) or epochs (SGD) allowed
    used: int                    # iterations / epochs run
    seconds: float               # median wall time of the fit
    loss: float                  # final loss
    accuracy: float
    target: float = None         # SGD: the loss it trains to (L-BFGS's final loss)
    reached: bool = True


@dataclass
class Results:
    plan: Plan
    optimizers: list             # OptimizerRow
    heads: list                  # HeadRow
    lbfgs: list                  # TimeToModel: L-BFGS, then SGD


def network(sizes, dtype="float64", **options):
    return fastbp.NeuralNetwork(list(sizes), backend="numba", dtype=dtype, seed=0, **options)


def interleaved(fits, rounds):
    """``fits``: {name: (make network, fit it)}.  One untimed warm-up round (compilation), then
    ``rounds`` rounds of every fit in order, each on a fresh network; {name: [seconds per round]}."""
    times = {name: [] for name in fits}
    for timing in [False] + [True] * rounds:
        for name, (make, fit) in fits.items():
            seconds = timed(fit, make())
            if timing:
                times[name].append(seconds)
    return times


def ratios(numerator, denominator):
    return [a / b for a, b in zip(numerator, denominator)]


def optimizer_row(run, rounds):
    """Adam vs SGD on one workload, interleaved."""
    w = run.workload
    X, y, _ = initial_state(w, run.samples)
    batch = {} if w.kind == "full" else {"batch_size": w.batch_size, "seed": SHUFFLE_SEED}

    def fit(optimizer, lr):
        return lambda nn: nn.fit(X, y, epochs=run.epochs, lr=lr, optimizer=optimizer, **batch)

    def make():
        return network(w.sizes, w.dtype)

    times = interleaved({"sgd": (make, fit("sgd", w.lr)), "adam": (make, fit("adam", ADAM_LR))},
                        rounds)
    per_round = ratios(times["adam"], times["sgd"])
    return OptimizerRow(run, statistics.median(times["sgd"]) / run.epochs,
                        statistics.median(times["adam"]) / run.epochs,
                        statistics.median(per_round),
                        tuple(float(q) for q in np.percentile(per_round, [25, 75])),
                        ADAM_TARGETS[w.key])


def head_rows(plan):
    """The three spirals with each head, interleaved; ratios to the sigmoid head."""
    X, labels = datasets.make_spirals(n_per_class=plan.head_per_class, n_classes=3)
    one_hot = np.eye(3)[labels]
    fits = {}
    for output in HEADS:
        y = labels if output == "softmax" else one_hot
        fits[output] = (lambda output=output: network(THREE_SPIRALS.sizes, output=output),
                        lambda nn, y=y: nn.fit(X, y, epochs=plan.head_epochs, lr=THREE_SPIRALS.lr,
                                               optimizer="adam"))
    times = interleaved(fits, plan.rounds)
    return [HeadRow(output, HEAD_Y[output], statistics.median(times[output]) / plan.head_epochs,
                    statistics.median(ratios(times[output], times["sigmoid"])))
            for output in HEADS]


def median_fit(make, fit, repeats):
    """(median seconds of ``repeats`` fits of fresh networks, the last network, its history)."""
    times = []
    for _ in range(max(1, repeats)):
        nn = make()
        start = time.perf_counter()
        history = fit(nn)
        times.append(time.perf_counter() - start)
    return statistics.median(times), nn, history


def lbfgs_rows(plan):
    """L-BFGS on the circle, then plain SGD (W1's lr) until L-BFGS's final loss or its cap.

    SGD's epochs come from one untimed fit of the cap (it compiles too): a full-batch epoch's
    loss is recorded before its update, so loss[i] is the loss after i epochs and the first
    loss[i] <= target says how many epochs reach it.  Then fresh fits of exactly those epochs
    are timed.
    """
    w1 = workload("W1")
    X, y = datasets.make_circle()

    def make():
        return network(w1.sizes)

    def lbfgs(nn):
        return nn.fit(X, y, epochs=plan.lbfgs_iterations, optimizer="lbfgs")

    lbfgs(make())  # warm-up: compilation
    seconds, nn, history = median_fit(make, lbfgs, plan.repeats)
    target = float(nn.loss(X, y))
    rows = [TimeToModel("lbfgs", None, plan.lbfgs_iterations, len(history["loss"]), seconds,
                        target, float(nn.score(X, y)))]

    searching = make()
    losses = np.asarray(searching.fit(X, y, epochs=plan.sgd_max_epochs, lr=w1.lr)["loss"])
    below = np.flatnonzero(losses <= target)
    epochs = max(1, int(below[0])) if below.size else plan.sgd_max_epochs
    seconds, nn, _ = median_fit(make, lambda nn: nn.fit(X, y, epochs=epochs, lr=w1.lr),
                                plan.repeats)
    rows.append(TimeToModel("sgd", w1.lr, plan.sgd_max_epochs, epochs, seconds,
                            float(nn.loss(X, y)), float(nn.score(X, y)), target=target,
                            reached=bool(below.size)))
    return rows


def measure_models(plan, threads=None):
    """Every row of the table, in this process."""
    set_threads(threads)
    return Results(plan, [optimizer_row(run, plan.rounds) for run in plan.optimizer_runs],
                   head_rows(plan), lbfgs_rows(plan))


def run_models(plan, log, threads=None, isolate=True, settle=1.0):
    """``measure_models`` in a fresh process of its own (as each engine of the main table runs),
    after ``settle`` idle seconds; ``isolate=False``: in this process."""
    time.sleep(settle)
    log(f"  training options (numba): Adam vs SGD on "
        f"{', '.join(run.workload.key for run in plan.optimizer_runs)}, heads, L-BFGS ...")
    if not isolate:
        return measure_models(plan, threads)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure_models, (plan, threads))
