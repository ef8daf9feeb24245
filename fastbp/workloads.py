"""The one table of workloads: the demo's networks and the bench's W1-W5.

Every harness reads its networks, sizes and learning rates from here: ``python -m fastbp demo``
(``DEMO_NETWORKS``), ``python -m fastbp bench`` and ``phases`` (``WORKLOADS``), the tests, and the
asv suite in ``benchmarks/`` (which imports this module from the installed fastbp).

* ``CIRCLE`` and ``SPIRALS`` are the tutorial's two networks, trained as the tutorial trains them:
  circle [2, 16, 8, 1], 1000 full-batch epochs, lr 0.1; spirals [2, 64, 32, 16, 1], 3000 epochs,
  lr 0.05; data from :mod:`fastbp.datasets` (seed 42).
* ``WORKLOADS`` are the performance issue's workloads, each with a full and a ``--quick`` size:
  W1 and W2 are the circle and the spirals, W3 the tutorial's efficiency demo (forward + backward
  steps of [20, 128, 64, 1] on 100 samples), W4 a wide network in float64 and float32, W5 an
  epoch of mini-batch SGD on 60000 x 784 samples.

Only fastbp's public API is used here (``NeuralNetwork``, ``datasets``, ``weights``/``biases``).
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import datasets
from .network import NeuralNetwork


class Network(NamedTuple):
    """One of the demo's networks: its data (``make_data(seed=...)``), sizes, epochs, lr; the
    constructor's and fit's other options (``model``, ``training``; read-only), and the modes it
    is trained in (``"exact"``: exact gradients; ``"tutorial"``: ``tutorial_compat=True``)."""

    name: str
    make_data: Callable
    sizes: tuple
    epochs: int
    lr: float
    model: dict = {}
    training: dict = {}
    modes: tuple = ("exact", "tutorial")


def three_spirals(seed=42):
    return datasets.make_spirals(seed=seed, n_classes=3)


CIRCLE = Network("circle", datasets.make_circle, (2, 16, 8, 1), 1000, 0.1)
SPIRALS = Network("spirals", datasets.make_spirals, (2, 64, 32, 16, 1), 3000, 0.05)
# beyond the tutorial: three interleaved spirals, a softmax output trained by Adam
THREE_SPIRALS = Network("3spirals", three_spirals, (2, 64, 32, 3), 1000, 0.01,
                        model={"output": "softmax"}, training={"optimizer": "adam"},
                        modes=("exact",))
DEMO_NETWORKS = [CIRCLE, SPIRALS, THREE_SPIRALS]


@dataclass(frozen=True)
class Size:
    """How much of a workload to run.

    ``samples``: rows of data.  ``units``: the training every engine does once from the initial
    weights -- its time is the "first call" and its parameters are compared (epochs, or steps).
    ``timed``: units per timed repeat; ``slow_timed``: the same for the slow (per-op dispatch)
    engines, where fewer units are timed and reported per unit.  ``blocks``: timed repeats per
    ``--repeats`` (many short blocks for per-step workloads).
    """

    samples: int
    units: int
    timed: int
    slow_timed: int
    blocks: int = 1


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    sizes: tuple
    dtype: str
    kind: str            # "full" (full-batch epochs), "step" (forward+backward steps), "minibatch"
    lr: float
    data: Callable       # data(samples) -> X, y
    full: Size
    quick: Size
    batch_size: int = None
    check_lr: float = None   # "step" workloads: lr of one extra step whose parameters are compared
    gemm_only: bool = False  # also time the step's GEMMs alone (np.dot into preallocated outputs)

    def size(self, quick):
        return self.quick if quick else self.full

    @property
    def unit(self):
        return "step" if self.kind == "step" else "epoch"


@dataclass(frozen=True)
class RandomData:
    """``RandomData(n_features, dtype)(samples)``: standard-normal X (drawn in float64, then cast)
    and random 0/1 labels y (samples, 1), seed 0.  A class, not a closure, so that workloads can
    be sent to the bench's engine processes."""

    n_features: int
    dtype: str

    def __call__(self, samples):
        random = np.random.default_rng(0)
        X = random.standard_normal((samples, self.n_features), dtype=np.float64).astype(self.dtype)
        y = (random.random((samples, 1)) < 0.5).astype(self.dtype)
        return X, y


def tutorial_circle(samples):
    return CIRCLE.make_data(n_samples=samples)


def tutorial_spirals(samples):
    return SPIRALS.make_data(n_per_class=samples // 2)


WORKLOADS = [
    Workload("W1", "tutorial circle", CIRCLE.sizes, "float64", "full", CIRCLE.lr, tutorial_circle,
             full=Size(500, CIRCLE.epochs, CIRCLE.epochs, 1000), quick=Size(500, 200, 200, 200)),
    Workload("W2", "tutorial spirals", SPIRALS.sizes, "float64", "full", SPIRALS.lr,
             tutorial_spirals,
             full=Size(600, SPIRALS.epochs, SPIRALS.epochs, 500), quick=Size(600, 300, 300, 100)),
    Workload("W3", "tutorial efficiency demo", (20, 128, 64, 1), "float64", "step", 0.0,
             RandomData(20, "float64"), check_lr=0.1,
             full=Size(100, 1, 100, 100, blocks=20), quick=Size(100, 1, 20, 20, blocks=10)),
    Workload("W4", "wide", (256, 1024, 1024, 1), "float64", "full", 0.01,
             RandomData(256, "float64"), gemm_only=True,
             full=Size(2048, 3, 2, 2), quick=Size(512, 1, 1, 1)),
    Workload("W4", "wide", (256, 1024, 1024, 1), "float32", "full", 0.01,
             RandomData(256, "float32"), gemm_only=True,
             full=Size(2048, 3, 2, 2), quick=Size(512, 1, 1, 1)),
    Workload("W5", "mini-batch", (784, 256, 128, 1), "float32", "minibatch", 0.01,
             RandomData(784, "float32"), batch_size=128,
             full=Size(60000, 1, 1, 1), quick=Size(4096, 1, 1, 1)),
]

SHUFFLE_SEED = 0  # mini-batch orders: fit(..., seed=0), i.e. np.random.default_rng(0).permutation


def workload(key, dtype=None):
    """The first workload named ``key`` (of ``dtype`` if given), e.g. ``workload("W4", "float32")``."""
    for w in WORKLOADS:
        if w.key == key and dtype in (None, w.dtype):
            return w
    raise KeyError(f"no workload {key!r}" + (f" in {dtype}" if dtype else ""))


def select(names, also=()):
    """The workloads named in "W1,W3" (all if empty), in table order.

    ``also``: further names a caller accepts that select no workload (the bench's ``COLD``).
    Unknown names end the program with a message.
    """
    if not names:
        return list(WORKLOADS)
    keys = {key.strip().upper() for key in names.split(",") if key.strip()}
    known = {w.key for w in WORKLOADS} | set(also)
    unknown = keys - known
    if unknown:
        raise SystemExit(f"unknown workload(s) {sorted(unknown)}; choose from {sorted(known)}")
    return [w for w in WORKLOADS if w.key in keys]


def gemm_flops(sizes, n):
    """GEMM FLOPs of one training step on n samples: forward + dW for every layer, delta for i > 0."""
    flops = 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        flops += (3 if i > 0 else 2) * 2 * n * n_in * n_out
    return flops


def initial_state(w, samples):
    """Data and the shared initial weights (He init, as the tutorial draws them; zero biases):
    ``(X, y, [(W0, b0), (W1, b1), ...])`` in the workload's dtype."""
    if w.data in (tutorial_circle, tutorial_spirals):
        # The tutorial's order: data then weights from one RandomState(42).
        random = np.random.RandomState(42)
        X, y = (CIRCLE.make_data(samples, seed=random) if w.data is tutorial_circle
                else SPIRALS.make_data(samples // 2, seed=random))
    else:
        X, y = w.data(samples)
        random = 1
    nn = NeuralNetwork(list(w.sizes), backend="numpy", dtype=w.dtype, seed=random)
    init = [(np.array(W), np.array(b)) for W, b in zip(nn.weights, nn.biases)]
    return X.astype(w.dtype), y.astype(w.dtype), init


# -- sweeps: many networks at once (fastbp.fit_many) ----------------------------------------------

@dataclass(frozen=True)
class Sweep:
    """A seeds x learning-rates sweep of one of the tutorial's networks (the sweep issue's): every
    network from ``seeds`` initial weights at each rate of ``lrs`` (Adam: ``adam_lrs``), full
    batch, ``epochs`` epochs."""

    key: str
    network: Network
    seeds: int
    lrs: tuple
    adam_lrs: tuple
    epochs: int

    def data(self):
        return self.network.make_data()

    def configs(self, dtype="float64", optimizer="sgd", seeds=None, epochs=None):
        """fit_many's configurations (``seeds``/``epochs``: fewer, for quick runs)."""
        lrs = self.adam_lrs if optimizer == "adam" else self.lrs
        return [dict(layer_sizes=list(self.network.sizes), seed=seed, dtype=dtype,
                     epochs=epochs or self.epochs, lr=lr, optimizer=optimizer)
                for seed in range(seeds or self.seeds) for lr in lrs]


SWEEPS = {
    "circle": Sweep("circle", CIRCLE, 16, (0.01, 0.03, 0.1, 0.3), (0.001, 0.003, 0.01, 0.03), 500),
    "spirals": Sweep("spirals", SPIRALS, 4, (0.01, 0.03, 0.1, 0.3), (0.001, 0.003, 0.01, 0.03),
                     300),
}


# -- time to a good model: each library's best way to a target loss ------------------------------

def digits(seed=None):
    """scikit-learn's digits (1797 x 64, ten classes), each input standardised (needs scikit-learn;
    ``seed`` is unused: the data set is fixed)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    return X, y


@dataclass(frozen=True)
class Problem:
    """A data set, a network and a training loss to reach (the time-to-target table).

    ``make_data()`` -> X, integer labels y; ``hidden``: the hidden layers (ReLU); ``output``:
    "sigmoid" (binary, one output) or "softmax"; ``target_loss``: the mean training loss
    (binary or categorical cross-entropy, no penalty) to reach; ``adam_lr``: every library's
    Adam rate; ``max_epochs`` / ``max_iter``: the most Adam epochs / L-BFGS iterations tried.
    """

    key: str
    make_data: Callable
    hidden: tuple
    output: str
    target_loss: float
    adam_lr: float
    max_epochs: int
    max_iter: int
    needs_sklearn: bool = False

    def data(self):
        X, y = self.make_data()
        return np.asarray(X, np.float64), np.asarray(y).ravel().astype(np.int64)


TO_TARGET = [
    Problem("circle", CIRCLE.make_data, CIRCLE.sizes[1:-1], "sigmoid", 0.02, 0.01, 5000, 1000),
    Problem("spirals", SPIRALS.make_data, SPIRALS.sizes[1:-1], "sigmoid", 0.02, 0.01, 5000, 2000),
    Problem("3spirals", three_spirals, THREE_SPIRALS.sizes[1:-1], "softmax", 0.05, 0.01, 5000,
            2000),
    Problem("digits", digits, (100,), "softmax", 0.01, 0.01, 2000, 1000, needs_sklearn=True),
]
