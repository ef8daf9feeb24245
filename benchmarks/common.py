"""Workloads, seeded data and helpers shared by the fastbp benchmarks.

asv imports every module under benchmarks/, this one too: nothing here is named like a benchmark
(``time_*``, ``timeraw_*``, ``peakmem_*``, ``mem_*``, ``track_*``).

The networks, sizes and learning rates come from fastbp's one table of workloads,
``fastbp.workloads``, imported from the installed fastbp (the commit being measured); commits
older than that table get the same numbers from the one fallback below.  Otherwise the benchmarks
use only fastbp's public API (``fastbp.NeuralNetwork``, ``fastbp.datasets``) and the kernel table
``fastbp._testing`` (``fastbp.layer_kernels`` on older commits), so that ``asv run`` works on older
commits as well; where a commit lacks a piece of that API, ``require_*`` raises
NotImplementedError in ``setup``, which asv records as "skipped" (n/a) instead of "failed".

All data is drawn from fixed seeds, once per process (memoised), outside any timing.
"""
import importlib
import inspect
import os
import statistics
import time

import numpy as np

import fastbp

# Benchmark parameters.  "reference" is the pure-NumPy engine, "numba" the compiled kernels.
ENGINE_PARAMS = ["reference", "numba"]
DTYPES = ["float32", "float64"]
# Engine names as fastbp.NeuralNetwork(backend=...) and the kernel table's prepare spell them
# ("reference" is an alias of "numpy" there; the canonical name also works on older commits).
BACKEND_OF_PARAM = {"reference": "numpy", "numba": "numba"}

SEED = 0

# The environment variable that makes the big workloads use small samples (CI smoke runs).
SKIP_SLOW_VARIABLE = "ASV_SKIP_SLOW"


def slow_skipped():
    """True when big workloads should use small samples: ``ASV_SKIP_SLOW`` set (CI smoke runs).

    asv does not tell a benchmark that it runs with ``--quick``, so the environment variable is
    the switch: ``ASV_SKIP_SLOW=1 asv run --quick``.
    """
    value = os.environ.get(SKIP_SLOW_VARIABLE, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


# -- API checks (skip on commits that lack a feature) ---------------------------------------------
def _parameters(function):
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


def require_network(*fit_options):
    """NeuralNetwork(sizes, backend=, dtype=, seed=) and fit(..., *fit_options), or skip."""
    network = getattr(fastbp, "NeuralNetwork", None)
    if network is None:
        raise NotImplementedError("fastbp.NeuralNetwork is missing on this commit")
    init = _parameters(network.__init__)
    missing = [name for name in ("backend", "dtype", "seed") if name not in init]
    fit = _parameters(getattr(network, "fit", None))
    missing += [f"fit({name}=)" for name in ("epochs", "lr") + fit_options if name not in fit]
    if missing:
        raise NotImplementedError(f"fastbp.NeuralNetwork lacks {', '.join(missing)} on this commit")


def require_constructor(*options):
    """NeuralNetwork(..., *options), or skip."""
    missing = [name for name in options
               if name not in _parameters(getattr(fastbp, "NeuralNetwork", None))]
    if missing:
        raise NotImplementedError(f"NeuralNetwork({', '.join(missing)}=) is missing on this commit")


def require_method(name):
    if not callable(getattr(getattr(fastbp, "NeuralNetwork", None), name, None)):
        raise NotImplementedError(f"fastbp.NeuralNetwork.{name} is missing on this commit")


# The kernel table's module: fastbp._testing, named fastbp.layer_kernels before the house
# reorganisation (asv history of the kernel benchmarks goes back to it).
KERNEL_TABLE_MODULES = ("fastbp._testing", "fastbp.layer_kernels")


def require_layer_kernels(kernel=None):
    """The kernel table module (and ``kernel`` in its table), or skip."""
    for module_name in KERNEL_TABLE_MODULES:
        try:
            table = importlib.import_module(module_name)
        except ImportError:
            continue
        break
    else:
        raise NotImplementedError(f"no kernel table ({' or '.join(KERNEL_TABLE_MODULES)}) on "
                                  "this commit")
    for name in ("KERNELS", "make_case", "prepare"):
        if not hasattr(table, name):
            raise NotImplementedError(f"{module_name}.{name} is missing on this commit")
    if kernel is not None and kernel not in table.KERNELS:
        raise NotImplementedError(f"kernel {kernel!r} is not in {module_name}.KERNELS")
    return table


def make_network(sizes, engine, dtype):
    """A freshly initialised network (seed 0: the same initial weights every time)."""
    return fastbp.NeuralNetwork(list(sizes), backend=BACKEND_OF_PARAM[engine], dtype=dtype, seed=SEED)


# -- data ---------------------------------------------------------------------------------------
_DATA = {}


def _memoised(key, build):
    if key not in _DATA:
        _DATA[key] = build()
    return _DATA[key]


def _as(dtype, *arrays):
    """C-contiguous copies in ``dtype``, so fit() converts nothing inside the timing."""
    return tuple(np.ascontiguousarray(a, dtype=dtype) for a in arrays)


def random_binary_data(n_samples, n_features, dtype, seed=SEED):
    """Standard-normal X (n_samples, n_features) and random 0/1 labels y (n_samples, 1)."""
    def build():
        random = np.random.default_rng(seed)
        X = random.standard_normal((n_samples, n_features), dtype=np.dtype(dtype).type)
        y = (random.random((n_samples, 1)) < 0.5).astype(dtype)
        return X, y
    return _memoised(("random", n_samples, n_features, np.dtype(dtype).name, seed), build)


def circle_data(dtype):
    """The tutorial's circle dataset (500 points, seed 42)."""
    return _memoised(("circle", np.dtype(dtype).name),
                     lambda: _as(dtype, *fastbp.datasets.make_circle()))


def spirals_data(dtype):
    """The tutorial's two spirals (600 points, seed 42)."""
    return _memoised(("spirals", np.dtype(dtype).name),
                     lambda: _as(dtype, *fastbp.datasets.make_spirals()))


# -- training workloads -------------------------------------------------------------------------
def _workload_table():
    """{asv workload: its numbers}, from fastbp's one table of workloads (fastbp.workloads).

    circle and spirals are the tutorial's networks (the bench's W1, W2; spirals runs W2's quick
    epochs with ASV_SKIP_SLOW), wide is W4 at its full size, minibatch W5 (one epoch; 6000 rows
    with ASV_SKIP_SLOW), efficiency W3's network and batch.
    """
    try:
        from fastbp import workloads as table
    except ImportError:  # commits before fastbp.workloads: the same numbers, written out
        return {
            "circle": {"sizes": [2, 16, 8, 1], "epochs": 1000, "lr": 0.1},
            "spirals": {"sizes": [2, 64, 32, 16, 1], "epochs": 3000, "lr": 0.05,
                        "quick_epochs": 300},
            "wide": {"sizes": [256, 1024, 1024, 1], "samples": 2048, "epochs": 3, "lr": 0.01},
            "minibatch": {"sizes": [784, 256, 128, 1], "samples": 60000, "epochs": 1, "lr": 0.01,
                          "batch_size": 128},
            "efficiency": {"sizes": [20, 128, 64, 1], "samples": 100},
        }
    w2, w3, w4, w5 = (table.workload(key) for key in ("W2", "W3", "W4", "W5"))
    return {
        "circle": {"sizes": list(table.CIRCLE.sizes), "epochs": table.CIRCLE.epochs,
                   "lr": table.CIRCLE.lr},
        "spirals": {"sizes": list(table.SPIRALS.sizes), "epochs": table.SPIRALS.epochs,
                    "lr": table.SPIRALS.lr, "quick_epochs": w2.quick.units},
        "wide": {"sizes": list(w4.sizes), "samples": w4.full.samples, "epochs": w4.full.units,
                 "lr": w4.lr},
        "minibatch": {"sizes": list(w5.sizes), "samples": w5.full.samples,
                      "epochs": w5.full.units, "lr": w5.lr, "batch_size": w5.batch_size},
        "efficiency": {"sizes": list(w3.sizes), "samples": w3.full.samples},
    }


TABLE = _workload_table()
MINIBATCH_ROWS = TABLE["minibatch"]["samples"]   # an MNIST-sized epoch
MINIBATCH_ROWS_SMALL = 6000   # with ASV_SKIP_SLOW (timing only; tracked results train in full)


class Workload:
    """One training run: network sizes, data, and the fit() options."""

    def __init__(self, name, sizes, data, epochs, lr, batch_size=None, shuffle=None,
                 quick_epochs=None):
        self.name = name
        self.sizes = sizes
        self._data = data
        self.epochs = epochs
        self.quick_epochs = epochs if quick_epochs is None else quick_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.shuffle = shuffle

    def data(self, dtype):
        return self._data(dtype)

    def fit_options(self, full=False):
        """fit() keyword arguments (mini-batch options only where used: older commits may lack them).

        With ASV_SKIP_SLOW, timing runs use ``quick_epochs``; ``full=True`` (results that are
        tracked) always trains the whole run.
        """
        epochs = self.epochs if full or not slow_skipped() else self.quick_epochs
        options = {"epochs": epochs, "lr": self.lr}
        if self.batch_size is not None:
            options["batch_size"] = self.batch_size
        if self.shuffle is not None:
            options["shuffle"] = self.shuffle
        return options

    def require(self):
        require_network(*[name for name in ("batch_size", "shuffle")
                          if getattr(self, name) is not None])

    def warm_up(self, engine, dtype):
        """Compile (numba) and touch BLAS once per process, on a short run of the same shapes."""
        key = ("warm", self.name, engine, np.dtype(dtype).name)
        if key in _DATA:
            return
        X, y = self.data(dtype)
        options = dict(self.fit_options(), epochs=1)
        if self.batch_size is not None:
            X, y = X[:2 * self.batch_size], y[:2 * self.batch_size]
        make_network(self.sizes, engine, dtype).fit(X, y, **options)
        _DATA[key] = True


def _minibatch_data(dtype):
    rows = MINIBATCH_ROWS_SMALL if slow_skipped() else MINIBATCH_ROWS
    return random_binary_data(rows, TABLE["minibatch"]["sizes"][0], dtype)


def _wide_data(dtype):
    return random_binary_data(TABLE["wide"]["samples"], TABLE["wide"]["sizes"][0], dtype)


def _workload(name, data, **options):
    numbers = {key: value for key, value in TABLE[name].items() if key != "samples"}
    return Workload(name, data=data, **numbers, **options)


WORKLOADS = {
    # The tutorial's circle: [2, 16, 8, 1], 1000 full-batch epochs, lr 0.1.
    "circle": _workload("circle", circle_data),
    # The tutorial's spirals: [2, 64, 32, 16, 1], 3000 full-batch epochs, lr 0.05.
    # (300 epochs with ASV_SKIP_SLOW.)
    "spirals": _workload("spirals", spirals_data),
    # A wide network: [256, 1024, 1024, 1] on 2048 random samples, 3 full-batch epochs.
    "wide": _workload("wide", _wide_data),
    # Mini-batch SGD: 60000 x 784 random samples, [784, 256, 128, 1], batch 128, one shuffled epoch.
    "minibatch": _workload("minibatch", _minibatch_data, shuffle=True),
}

# The tutorial's efficiency demo: [20, 128, 64, 1] on one batch of 100 random samples.
EFFICIENCY_SIZES = TABLE["efficiency"]["sizes"]
EFFICIENCY_BATCH = TABLE["efficiency"]["samples"]


def efficiency_network(engine, dtype):
    """The efficiency-demo network, built and warmed once per process.

    forward() leaves the weights alone and backward(y, lr=0.0) adds zero to them, so one network
    serves every timed call.
    """
    def build():
        X, y = random_binary_data(EFFICIENCY_BATCH, EFFICIENCY_SIZES[0], dtype)
        nn = make_network(EFFICIENCY_SIZES, engine, dtype)
        nn.forward(X)
        nn.backward(y, lr=0.0)
        return nn
    return _memoised(("efficiency", engine, np.dtype(dtype).name), build)


# -- layer kernels ------------------------------------------------------------------------------
# (n_in, n_out, batch) of one layer.
KERNEL_NAMES = ["dense_forward", "output_delta", "propagate_delta", "weight_gradient",
                "parameter_update"]
KERNEL_SIZES = {"small": (16, 8, 500), "medium": (128, 64, 100), "wide": (1024, 1024, 2048),
                # the two sides of the loops-or-BLAS line (kernels/config.py), the spirals' batch
                "loops_side": (32, 16, 600), "blas_side": (64, 32, 600),
                # W5's first layer over one worker's block of a 128-sample batch
                "minibatch_block": (784, 256, 64)}


def prepared_kernel(kernel, size, engine, dtype):
    """A warm zero-argument callable running one kernel (memoised: setup re-runs stay cheap)."""
    def build():
        layer_kernels = require_layer_kernels(kernel)
        n_in, n_out, n = KERNEL_SIZES[size]
        case = layer_kernels.make_case(kernel, n_in, n_out, n, np.dtype(dtype))
        return layer_kernels.prepare(BACKEND_OF_PARAM[engine], kernel, case)
    return _memoised(("kernel", kernel, size, engine, np.dtype(dtype).name), build)


# -- in-process engine comparison ---------------------------------------------------------------
def median_seconds(run, repeats, prepare=None, inner=1):
    """Median over ``repeats`` samples of the time of ``inner`` calls of ``run(state)``, per call.

    ``prepare()`` builds each sample's state (e.g. a fresh network) outside the timing.
    """
    samples = []
    for _ in range(repeats):
        state = prepare() if prepare is not None else None
        start = time.perf_counter()
        for _ in range(inner):
            run(state)
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)
