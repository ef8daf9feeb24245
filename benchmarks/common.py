"""Workloads, seeded data and helpers shared by the fastbp benchmarks.

asv imports every module under benchmarks/, this one too: nothing here is named like a benchmark
(``time_*``, ``timeraw_*``, ``peakmem_*``, ``mem_*``, ``track_*``).

The benchmarks use only fastbp's public API (``fastbp.NeuralNetwork``, ``fastbp.datasets``,
``fastbp.layer_kernels``) so that ``asv run`` works on older commits as well; where a commit lacks
a piece of that API, ``require_*`` raises NotImplementedError in ``setup``, which asv records as
"skipped" (n/a) instead of "failed".

All data is drawn from fixed seeds, once per process (memoised), outside any timing.
"""
import inspect
import os
import statistics
import sys
import time

import numpy as np

import fastbp

# Benchmark parameters.  "reference" is the pure-NumPy engine, "numba" the compiled kernels.
ENGINES = ["reference", "numba"]
DTYPES = ["float32", "float64"]
# Engine names as fastbp.NeuralNetwork(backend=...) and fastbp.layer_kernels.prepare spell them
# ("reference" is an alias of "numpy" there; the canonical name also works on older commits).
ENGINE_NAMES = {"reference": "numpy", "numba": "numba"}

SEED = 0

# The environment variable that makes the big workloads use small samples (CI smoke runs).
SKIP_SLOW_VARIABLE = "ASV_SKIP_SLOW"


def asv_quick_mode():
    """True when this benchmark process was started by ``asv run --quick`` (best effort).

    asv does not tell a benchmark that it runs in quick mode; it only overrides its attributes
    (number=1, repeat=1, warmup_time=0, rounds=1), which asv_runner's ``_run`` holds in its
    ``extra_params`` local.  We look for that frame on the stack.  ``ASV_SKIP_SLOW`` is the
    reliable switch; this is only a fallback.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_run":
            extra = frame.f_locals.get("extra_params")
            if isinstance(extra, dict):
                return (extra.get("number") == 1 and extra.get("repeat") == 1
                        and extra.get("warmup_time") == 0)
        frame = frame.f_back
    return False


def slow_skipped():
    """True when big workloads should use small samples: ASV_SKIP_SLOW set, or ``asv run --quick``."""
    value = os.environ.get(SKIP_SLOW_VARIABLE, "").strip().lower()
    if value not in ("", "0", "false", "no", "off"):
        return True
    return asv_quick_mode()


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


def require_method(name):
    if not callable(getattr(getattr(fastbp, "NeuralNetwork", None), name, None)):
        raise NotImplementedError(f"fastbp.NeuralNetwork.{name} is missing on this commit")


def require_layer_kernels(kernel=None):
    """The fastbp.layer_kernels module (and ``kernel`` in its table), or skip."""
    try:
        from fastbp import layer_kernels
    except ImportError as error:
        raise NotImplementedError(f"fastbp.layer_kernels is missing on this commit: {error}")
    for name in ("KERNELS", "make_case", "prepare"):
        if not hasattr(layer_kernels, name):
            raise NotImplementedError(f"fastbp.layer_kernels.{name} is missing on this commit")
    if kernel is not None and kernel not in layer_kernels.KERNELS:
        raise NotImplementedError(f"kernel {kernel!r} is not in fastbp.layer_kernels.KERNELS")
    return layer_kernels


def make_network(sizes, engine, dtype):
    """A freshly initialised network (seed 0: the same initial weights every time)."""
    return fastbp.NeuralNetwork(list(sizes), backend=ENGINE_NAMES[engine], dtype=dtype, seed=SEED)


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
MINIBATCH_ROWS = 60000        # an MNIST-sized epoch
MINIBATCH_ROWS_SMALL = 6000   # with ASV_SKIP_SLOW / --quick (timing only; tracked results train in full)


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

        With ASV_SKIP_SLOW / --quick, timing runs use ``quick_epochs``; ``full=True`` (results
        that are tracked) always trains the whole run.
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
    return random_binary_data(rows, 784, dtype)


WORKLOADS = {
    # The tutorial's circle: [2, 16, 8, 1], 1000 full-batch epochs, lr 0.1.
    "circle": Workload("circle", [2, 16, 8, 1], circle_data, epochs=1000, lr=0.1),
    # The tutorial's spirals: [2, 64, 32, 16, 1], 3000 full-batch epochs, lr 0.05.
    # (300 epochs with ASV_SKIP_SLOW / --quick.)
    "spirals": Workload("spirals", [2, 64, 32, 16, 1], spirals_data, epochs=3000, lr=0.05,
                        quick_epochs=300),
    # A wide network: [256, 1024, 1024, 1] on 2048 random samples, 3 full-batch epochs.
    "wide": Workload("wide", [256, 1024, 1024, 1], lambda dtype: random_binary_data(2048, 256, dtype),
                     epochs=3, lr=0.01),
    # Mini-batch SGD: 60000 x 784 random samples, [784, 256, 128, 1], batch 128, one shuffled epoch.
    "minibatch": Workload("minibatch", [784, 256, 128, 1], _minibatch_data, epochs=1, lr=0.01,
                          batch_size=128, shuffle=True),
}

# The tutorial's efficiency demo: [20, 128, 64, 1] on one batch of 100 random samples.
EFFICIENCY_SIZES = [20, 128, 64, 1]
EFFICIENCY_BATCH = 100


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
                "loops_side": (32, 16, 600), "blas_side": (64, 32, 600)}


def prepared_kernel(kernel, size, engine, dtype):
    """A warm zero-argument callable running one kernel (memoised: setup re-runs stay cheap)."""
    def build():
        layer_kernels = require_layer_kernels(kernel)
        n_in, n_out, n = KERNEL_SIZES[size]
        case = layer_kernels.make_case(kernel, n_in, n_out, n, np.dtype(dtype))
        return layer_kernels.prepare(ENGINE_NAMES[engine], kernel, case)
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
