"""``python -m fastbp bench``: fastbp against the tutorial's NumPy class (and PyTorch / JAX if installed).

One table of workloads (``WORKLOADS``) drives everything; every engine is one runner function that
builds a ``Runner`` (reset to the initial weights, train some units, read the parameters back).
For each workload and engine the table shows the median time per epoch (or step) with compilation
excluded, the GEMM FLOP rate and its fraction of a GEMM peak measured in the same run, the speedup
over the tutorial's class, the JIT compile time (first call minus a warm call), and the largest
parameter difference from fastbp's NumPy reference engine after the same training.

Only fastbp's public API is used (``NeuralNetwork``, ``datasets``, ``fit``/``forward``/``backward``,
``weights``/``biases``), so the bench keeps working while the kernels change.
"""
import importlib.util
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import fastbp
from fastbp import datasets
from fastbp.tutorial import (  # the tutorial's helpers, verbatim
    bce_derivative,
    binary_cross_entropy,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
)


# =================================================================================================
# The tutorial's code, used as the speed baseline.
# Copied verbatim from "Learn AI Series (#39) - Neural Networks From Scratch - Backpropagation"
# (shared/tutorial/backpropagation-tutorial.txt): its NeuralNetwork class, renamed TutorialNetwork;
# its helper functions are fastbp.tutorial's (the same code).  Not fastbp code -- do not "fix" it (it casts to float64 in relu_derivative and
# divides the bias gradient by N twice; both are part of what is being measured).
# =================================================================================================

class TutorialNetwork:  # the tutorial's ``NeuralNetwork``, verbatim
    def __init__(self, layer_sizes):
        """Initialize network with He initialization.
        layer_sizes: e.g. [2, 16, 8, 1] for 2 inputs, two hidden, 1 output."""
        self.weights = []
        self.biases = []
        for i in range(len(layer_sizes) - 1):
            scale = np.sqrt(2.0 / layer_sizes[i])  # He init for ReLU
            self.weights.append(
                np.random.randn(layer_sizes[i], layer_sizes[i+1]) * scale
            )
            self.biases.append(np.zeros(layer_sizes[i+1]))

    def forward(self, X):
        """Forward pass: store activations and pre-activations
        for backpropagation (same as episode #38)."""
        self.activations = [X]
        self.pre_activations = []
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = self.activations[-1] @ W + b
            self.pre_activations.append(z)
            if i < len(self.weights) - 1:
                a = relu(z)         # hidden layers: ReLU
            else:
                a = sigmoid(z)      # output layer: sigmoid
            self.activations.append(a)
        return self.activations[-1]

    def backward(self, y_true, lr=0.01):
        """Backward pass: compute gradients and update weights."""
        m = len(y_true)

        # Step 1: output layer error signal
        # delta = dL/dz for the output layer
        # This combines the loss derivative and the sigmoid derivative
        delta = (bce_derivative(y_true, self.activations[-1])
                 * sigmoid_derivative(self.pre_activations[-1]))

        # Step 2: propagate backward through each layer
        for i in range(len(self.weights) - 1, -1, -1):
            # Weight gradient: how each weight contributed to the error
            dW = self.activations[i].T @ delta

            # Bias gradient: average error signal across the batch
            db = delta.mean(axis=0)

            # Propagate error to previous layer (if not at input)
            if i > 0:
                delta = ((delta @ self.weights[i].T)
                         * relu_derivative(self.pre_activations[i-1]))

            # Update weights and biases
            self.weights[i] -= lr * dW
            self.biases[i] -= lr * db

# ========================================= end of the tutorial's code ===========================


# -- the workloads --------------------------------------------------------------------------------

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


def random_data(n_features, dtype):
    def make(samples):
        random = np.random.default_rng(0)
        X = random.standard_normal((samples, n_features), dtype=np.float64).astype(dtype)
        y = (random.random((samples, 1)) < 0.5).astype(dtype)
        return X, y
    return make


def tutorial_circle(samples):
    return datasets.make_circle(n_samples=samples)


def tutorial_spirals(samples):
    return datasets.make_spirals(n_per_class=samples // 2)


WORKLOADS = [
    Workload("W1", "tutorial circle", (2, 16, 8, 1), "float64", "full", 0.1, tutorial_circle,
             full=Size(500, 1000, 1000, 1000), quick=Size(500, 200, 200, 200)),
    Workload("W2", "tutorial spirals", (2, 64, 32, 16, 1), "float64", "full", 0.05,
             tutorial_spirals,
             full=Size(600, 3000, 3000, 500), quick=Size(600, 300, 300, 100)),
    Workload("W3", "tutorial efficiency demo", (20, 128, 64, 1), "float64", "step", 0.0,
             random_data(20, np.float64), check_lr=0.1,
             full=Size(100, 1, 100, 100, blocks=20), quick=Size(100, 1, 20, 20, blocks=10)),
    Workload("W4", "wide", (256, 1024, 1024, 1), "float64", "full", 0.01,
             random_data(256, np.float64), gemm_only=True,
             full=Size(2048, 3, 2, 2), quick=Size(512, 1, 1, 1)),
    Workload("W4", "wide", (256, 1024, 1024, 1), "float32", "full", 0.01,
             random_data(256, np.float32), gemm_only=True,
             full=Size(2048, 3, 2, 2), quick=Size(512, 1, 1, 1)),
    Workload("W5", "mini-batch", (784, 256, 128, 1), "float32", "minibatch", 0.01,
             random_data(784, np.float32), batch_size=128,
             full=Size(60000, 1, 1, 1), quick=Size(4096, 1, 1, 1)),
]

SHUFFLE_SEED = 0  # mini-batch orders: fit(..., seed=0), i.e. np.random.default_rng(0).permutation


def gemm_flops(sizes, n):
    """GEMM FLOPs of one training step on n samples: forward + dW for every layer, delta for i > 0."""
    flops = 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        flops += (3 if i > 0 else 2) * 2 * n * n_in * n_out
    return flops


def epoch_orders(n, epochs):
    """The sample orders of fit(..., batch_size=B, seed=SHUFFLE_SEED): a fresh permutation per epoch."""
    random = np.random.default_rng(SHUFFLE_SEED)
    return [random.permutation(n) for _ in range(epochs)]


def batches(order, batch_size):
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


# -- engine runners -------------------------------------------------------------------------------

@dataclass
class Runner:
    """One engine set up for one workload, starting from the shared initial weights."""

    reset: Callable[[], None]              # back to the initial weights
    train: Callable[[int, float], None]    # (units, lr): epochs, or forward+backward steps
    params: Callable[[], list]             # [W0, b0, W1, b1, ...] as float64 arrays


def forward_backward_steps(nn, X, y, units, lr):
    """``units`` steps of the tutorial's API (any class that has it): forward, then backward."""
    for _ in range(units):
        nn.forward(X)
        nn.backward(y, lr=lr)


def tutorial_runner(w, X, y, init):
    """The tutorial's class; full batch runs its train_network loop (minus printing)."""
    nn = TutorialNetwork(list(w.sizes))

    def reset():
        nn.weights = [W.astype(np.float64) for W, _ in init]   # the tutorial's weights are float64
        nn.biases = [np.zeros(b.shape) for _, b in init]

    def train(units, lr):
        if w.kind == "step":
            forward_backward_steps(nn, X, y, units, lr)
        elif w.kind == "full":
            for _ in range(units):     # train_network's loop body, without the printing
                predictions = nn.forward(X)
                binary_cross_entropy(y, predictions)
                nn.backward(y, lr=lr)
                ((predictions > 0.5) == y).mean()
        else:
            for order in epoch_orders(len(X), units):
                for index in batches(order, w.batch_size):
                    Xb, yb = X[index], y[index]
                    predictions = nn.forward(Xb)
                    binary_cross_entropy(yb, predictions)
                    nn.backward(yb, lr=lr)

    reset()
    return Runner(reset, train, lambda: _flat(zip(nn.weights, nn.biases)))


def _fastbp_runner(backend, w, X, y, init, tutorial_compat=False):
    nn = fastbp.NeuralNetwork(list(w.sizes), backend=backend, dtype=w.dtype,
                              tutorial_compat=tutorial_compat, seed=0)

    def reset():
        nn.weights = [W for W, _ in init]
        nn.biases = [b for _, b in init]

    def train(units, lr):
        if w.kind == "step":
            forward_backward_steps(nn, X, y, units, lr)
        elif w.kind == "full":
            nn.fit(X, y, epochs=units, lr=lr)
        else:
            nn.fit(X, y, epochs=units, lr=lr, batch_size=w.batch_size, seed=SHUFFLE_SEED)

    reset()
    return Runner(reset, train, lambda: _flat(zip(nn.weights, nn.biases)))


def reference_runner(w, X, y, init):
    """fastbp's pure-NumPy reference engine (backend="numpy")."""
    return _fastbp_runner("numpy", w, X, y, init)


def numba_runner(w, X, y, init):
    """fastbp's JIT engine (backend="numba")."""
    return _fastbp_runner("numba", w, X, y, init)


def torch_runner(w, X, y, init):
    """PyTorch eager, the same math as fastbp's exact mode with a manual backward pass."""
    import torch
    import torch.nn.functional as F

    Xt, Yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(y))
    params = [[torch.from_numpy(W.copy()), torch.from_numpy(b.copy())] for W, b in init]
    last = len(params) - 1

    def reset():
        for (W, b), (W0, b0) in zip(params, init):
            W.copy_(torch.from_numpy(W0))
            b.copy_(torch.from_numpy(b0))

    @torch.no_grad()
    def step(Xb, Yb, lr):
        activations, pre = [Xb], []
        for i, (W, b) in enumerate(params):
            z = torch.addmm(b, activations[-1], W)
            pre.append(z)
            activations.append(torch.relu(z) if i < last else torch.sigmoid(z))
        loss = F.binary_cross_entropy_with_logits(pre[-1], Yb)
        delta = (activations[-1] - Yb) / Yb.numel()
        for i in range(last, -1, -1):
            W, b = params[i]
            dW = activations[i].T @ delta
            db = delta.sum(0)
            if i > 0:
                delta = (delta @ W.T) * (pre[i - 1] > 0)
            W.sub_(dW, alpha=lr)
            b.sub_(db, alpha=lr)
        return loss

    def train(units, lr):
        if w.kind in ("full", "step"):
            for _ in range(units):
                step(Xt, Yt, lr)
        else:
            for order in epoch_orders(len(X), units):
                for index in batches(torch.from_numpy(order), w.batch_size):
                    step(Xt[index], Yt[index], lr)

    return Runner(reset, train, lambda: _flat((W.numpy(), b.numpy()) for W, b in params))


def jax_runner(w, X, y, init):
    """JAX: jit of the whole full-batch loop (lax.fori_loop), jit(scan) over mini-batches."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    Xj, Yj = jax.device_put(X), jax.device_put(y)
    last = len(init) - 1
    state = {}

    def step(params, Xb, Yb, lr):
        activations, pre = [Xb], []
        for i, (W, b) in enumerate(params):
            z = activations[-1] @ W + b
            pre.append(z)
            activations.append(jax.nn.relu(z) if i < last else jax.nn.sigmoid(z))
        delta = (activations[-1] - Yb) / Yb.size
        new = list(params)
        for i in range(last, -1, -1):
            W, b = params[i]
            dW, db = activations[i].T @ delta, delta.sum(0)
            if i > 0:
                delta = (delta @ W.T) * (pre[i - 1] > 0)
            new[i] = (W - lr * dW, b - lr * db)
        return tuple(new)

    one_step = jax.jit(step)

    @jax.jit
    def full_batch(params, epochs, lr):
        return lax.fori_loop(0, epochs, lambda _, p: step(p, Xj, Yj, lr), params)

    n_full = len(X) // w.batch_size * w.batch_size if w.batch_size else 0

    @jax.jit
    def minibatch_epoch(params, order, lr):
        def body(p, index):
            return step(p, Xj[index], Yj[index], lr), None
        params, _ = lax.scan(body, params, order[:n_full].reshape(-1, w.batch_size))
        if n_full < len(X):
            params = step(params, Xj[order[n_full:]], Yj[order[n_full:]], lr)
        return params

    def reset():
        state["params"] = tuple((jnp.asarray(W), jnp.asarray(b)) for W, b in init)

    def train(units, lr):
        params = state["params"]
        dtype_lr = np.dtype(w.dtype).type(lr)
        if w.kind == "step":
            for _ in range(units):
                params = one_step(params, Xj, Yj, dtype_lr)
        elif w.kind == "full":
            params = full_batch(params, units, dtype_lr)
        else:
            for order in epoch_orders(len(X), units):
                params = minibatch_epoch(params, jnp.asarray(order), dtype_lr)
        state["params"] = jax.block_until_ready(params)

    reset()
    return Runner(reset, train, lambda: _flat((np.asarray(W), np.asarray(b))
                                               for W, b in state["params"]))


def _flat(layers):
    return [np.array(a, dtype=np.float64) for W, b in layers for a in (W, b)]


def _importable(module):
    """Whether ``module`` is installed -- found, not imported: importing PyTorch or JAX changes
    the process (its allocator settings made the tutorial's class up to 1.7x faster)."""
    def available():
        try:
            return importlib.util.find_spec(module) is not None
        except Exception:  # broken installs: skip silently
            return False
    return available


@dataclass(frozen=True)
class Engine:
    name: str
    runner: Callable
    fast: bool                       # whole loop compiled: time all units, report compile time
    available: Callable = lambda: True


ENGINES = [
    Engine("tutorial", tutorial_runner, fast=False),
    Engine("numpy", reference_runner, fast=False),
    Engine("numba", numba_runner, fast=True),
    Engine("torch", torch_runner, fast=False, available=_importable("torch")),
    Engine("jax", jax_runner, fast=True, available=_importable("jax")),
]


# -- measuring ------------------------------------------------------------------------------------

@dataclass
class Row:
    workload: Workload
    engine: str
    seconds: float                   # median per unit (epoch or step)
    flops: float                     # GEMM FLOPs per unit
    compile_seconds: float = None
    params: list = field(default=None, repr=False)
    diff: float = None               # largest |parameter - reference engine's|
    gemm_ratio: float = None         # seconds / GEMMs-alone seconds (W4)


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def measure(runner, w, size, fast, repeats):
    """(median seconds per unit, first call seconds minus warm, parameters after size.units)."""
    runner.reset()
    first = timed(runner.train, size.units, w.lr)
    if w.check_lr is not None:
        runner.reset()
        runner.train(size.units, w.check_lr)
    params = runner.params()
    units = size.timed if fast else size.slow_timed
    times = []
    for _ in range(max(1, repeats * size.blocks)):
        runner.reset()
        times.append(timed(runner.train, units, w.lr) / units)
    seconds = statistics.median(times)
    return seconds, first - seconds * size.units, params


def initial_state(w, samples):
    """Data and the shared initial weights (He init, as the tutorial draws them; zero biases)."""
    if w.data in (tutorial_circle, tutorial_spirals):
        # The tutorial's order: data then weights from one RandomState(42).
        random = np.random.RandomState(42)
        X, y = (datasets.make_circle(samples, seed=random) if w.data is tutorial_circle
                else datasets.make_spirals(samples // 2, seed=random))
    else:
        X, y = w.data(samples)
        random = 1
    nn = fastbp.NeuralNetwork(list(w.sizes), backend="numpy", dtype=w.dtype, seed=random)
    init = [(np.array(W), np.array(b)) for W, b in zip(nn.weights, nn.biases)]
    return X.astype(w.dtype), y.astype(w.dtype), init


def gemms_alone(w, X, init, repeats):
    """Seconds of one step's GEMMs alone: np.dot into preallocated outputs, transposed views."""
    n = len(X)
    Ws = [W for W, _ in init]
    Z = [np.empty((n, W.shape[1]), w.dtype) for W in Ws]          # forward outputs
    D = [np.ones((n, W.shape[1]), w.dtype) * 1e-3 for W in Ws]    # deltas
    dW = [np.empty_like(W) for W in Ws]

    def step():
        inputs = X
        for i, W in enumerate(Ws):
            np.dot(inputs, W, out=Z[i])
            inputs = Z[i]
        for i in range(len(Ws) - 1, -1, -1):
            np.dot((X if i == 0 else Z[i - 1]).T, D[i], out=dW[i])
            if i > 0:
                np.dot(D[i], Ws[i].T, out=D[i - 1])

    step()
    return statistics.median(timed(step) for _ in range(max(3, repeats)))


def gemm_peak(dtype, n, repeats):
    """GFLOP/s of a large np.dot (n^3) of this dtype on the current thread count."""
    random = np.random.default_rng(0)
    a = random.standard_normal((n, n)).astype(dtype)
    b = random.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    np.dot(a, b, out=out)
    seconds = min(timed(np.dot, a, b, out) for _ in range(max(3, repeats)))
    return 2 * n ** 3 / seconds / 1e9


def run_engine(engine, w, state, size, repeats):
    X, y, init = state
    runner = engine.runner(w, X, y, init)
    seconds, compile_seconds, params = measure(runner, w, size, engine.fast, repeats)
    return Row(w, engine.name, seconds, gemm_flops(w.sizes, len(X)),
               compile_seconds if engine.fast else None, params)


def engine_rows(engine, workloads, quick, repeats, threads):
    """One engine over ``workloads`` (plus "GEMMs only" after the numba engine), in this process.

    Returns {(position in workloads, engine name): (seconds, compile seconds, parameters)}.
    """
    set_threads(threads, torch=engine.name == "torch")
    results = {}
    for position, w in enumerate(workloads):
        row = run_engine(engine, w, initial_state(w, w.size(quick).samples), w.size(quick), repeats)
        results[position, engine.name] = (row.seconds, row.compile_seconds, row.params)
    if engine.name == "numba":
        for position, w in enumerate(workloads):
            if w.gemm_only:
                X, _, init = initial_state(w, w.size(quick).samples)
                results[position, "GEMMs only"] = (gemms_alone(w, X, init, repeats), None, None)
    return results


def engine_worker(engine_name, indices, quick, repeats, threads):
    """engine_rows in a fresh process: engine and workloads travel as names and indices."""
    engine = next(e for e in ENGINES if e.name == engine_name)
    return engine_rows(engine, [WORKLOADS[i] for i in indices], quick, repeats, threads)


def run_workloads(workloads, quick, repeats, engines, log, settle=1.0, threads=None, isolate=True):
    """Every engine on every workload, each engine in a fresh process of its own, one after another.

    One process per engine, as a user runs them: libraries change a process for everything else in
    it -- importing PyTorch or JAX raised glibc's allocation thresholds and made the tutorial's
    class 1.7x faster on the spirals (560 vs 970 us/epoch) -- and thread pools that spin (numpy's
    and SciPy's OpenBLAS, PyTorch's OpenMP, XLA) slow the next library down on a small machine, so
    ``settle`` idle seconds separate the engines.  A peer (PyTorch, JAX) that fails in its process
    -- installed but broken -- is left out of the table with a note.  ``isolate=False`` runs every
    engine in this process (tests with workloads of their own).
    """
    results = {}
    context = multiprocessing.get_context("spawn")
    ran = []
    for engine in engines:
        time.sleep(settle)
        log(f"  {engine.name}: {', '.join(f'{w.key} {w.dtype}' for w in workloads)} ...")
        try:
            if isolate:
                indices = [WORKLOADS.index(w) for w in workloads]
                with context.Pool(1) as pool:
                    results.update(pool.apply(engine_worker,
                                              (engine.name, indices, quick, repeats, threads)))
            else:
                results.update(engine_rows(engine, workloads, quick, repeats, threads))
        except Exception as error:
            if engine.name in ("tutorial", "numpy", "numba"):
                raise
            log(f"  {engine.name} skipped: {type(error).__name__}: {error}")
            continue
        ran.append(engine)
    engines = ran
    table = []
    for index, w in enumerate(workloads):
        X, y, init = initial_state(w, w.size(quick).samples)
        flops = gemm_flops(w.sizes, len(X))
        mine = []
        for engine in engines:
            seconds, compile_seconds, params = results[index, engine.name]
            mine.append(Row(w, engine.name, seconds, flops, compile_seconds, params))
        reference = results[index, "numpy"][2]
        # The tutorial's class follows the tutorial's update rule: compare it with the reference
        # engine in tutorial_compat mode after the same training.
        tutorial_mode = _fastbp_runner("numpy", w, X, y, init, tutorial_compat=True)
        tutorial_mode.train(w.size(quick).units, w.lr if w.check_lr is None else w.check_lr)
        for row in mine:
            target = tutorial_mode.params() if row.engine == "tutorial" else reference
            row.diff = max(float(np.max(np.abs(a - b))) for a, b in zip(row.params, target))
        if (index, "GEMMs only") in results:
            gemm = Row(w, "GEMMs only", results[index, "GEMMs only"][0], flops)
            for row in mine:
                row.gemm_ratio = row.seconds / gemm.seconds
            mine.append(gemm)
        table.extend(mine)
    return table


# -- cold start -----------------------------------------------------------------------------------

COLD_START = """
import time
start = time.perf_counter()
import fastbp
imported = time.perf_counter()
X, y = fastbp.datasets.make_circle()
nn = fastbp.NeuralNetwork([2, 16, 8, 1], backend={backend!r})
nn.fit(X, y, epochs={epochs}, lr=0.1)
print(imported - start, time.perf_counter() - imported)
"""


def cold_start(backend, epochs, env):
    """(process wall seconds, import seconds, first-fit seconds) of a fresh interpreter."""
    code = textwrap.dedent(COLD_START.format(backend=backend, epochs=epochs))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True,
                         capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    import_seconds, fit_seconds = map(float, out.split()[-2:])
    return wall, import_seconds, fit_seconds


def run_cold_start(quick, log):
    """Warm cache: a temp NUMBA_CACHE_DIR filled by one process, then a second one timed.

    No cache: FASTBP_CACHE=0.  --quick skips that run and reports the cache-filling process instead
    (it compiles everything too, plus writing the cache).
    """
    epochs = WORKLOADS[0].size(quick).units
    results = []
    with tempfile.TemporaryDirectory(prefix="fastbp-bench-cache-") as cache:
        warm = {"NUMBA_CACHE_DIR": cache, "FASTBP_CACHE": "1"}
        log("  cold start: filling a fresh compile cache ...")
        filling = cold_start("numba", epochs, warm)
        log("  cold start: warm cache ...")
        results.append(("numba, warm disk cache", cold_start("numba", epochs, warm)))
    if quick:
        results.append(("numba, empty cache (compiles, writes)", filling))
    else:
        log("  cold start: no cache (FASTBP_CACHE=0) ...")
        results.append(("numba, no cache", cold_start("numba", epochs, {"FASTBP_CACHE": "0"})))
    results.append(("numpy (reference)", cold_start("numpy", epochs, {"FASTBP_CACHE": "0"})))
    return epochs, results


# -- memory ---------------------------------------------------------------------------------------

EPOCH_MEMORY = """
import tracemalloc
import numpy as np, fastbp

random = np.random.default_rng(0)
X = random.standard_normal(({samples}, 784), dtype=np.float32)
y = (random.random(({samples}, 1)) < 0.5).astype(np.float32)
nn = fastbp.NeuralNetwork([784, 256, 128, 1], dtype=np.float32, seed=0)
nn.fit(X[:256], y[:256], epochs=1, lr=0.01, batch_size=128, seed=0)  # compile or load the cache
tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
nn.fit(X, y, epochs=1, lr=0.01, batch_size=128, seed=0)
current, peak = tracemalloc.get_traced_memory()
print(peak, nn._params.flat.nbytes)
"""


def epoch_memory(quick):
    """W5's epoch in a fresh process: (samples, peak memory it allocates, budget), in bytes.

    Measured with tracemalloc (every NumPy allocation during ``fit``; the compiled loop allocates
    nothing).  The budget is the issue's: parameters + one batch's activations, pre-activations
    and deltas (+ its inputs and targets), all float32.
    """
    samples = 6000 if quick else 60000
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(
        EPOCH_MEMORY.format(samples=samples))], check=True, capture_output=True, text=True).stdout
    peak, param_bytes = map(int, out.split()[-2:])
    batch_bytes = 128 * (3 * (256 + 128 + 1) + 784 + 1) * 4
    return samples, peak, param_bytes + batch_bytes


# -- the command ----------------------------------------------------------------------------------

def set_threads(n, torch=False):
    """Use fastbp.set_num_threads if this fastbp has it (and PyTorch's, in the PyTorch process);
    returns a note for the header."""
    if n is None:
        return None
    setter = getattr(fastbp, "set_num_threads", None)
    if setter is None:
        return f"--threads {n} ignored: this fastbp has no set_num_threads"
    setter(n)  # Numba and every BLAS pool (numpy's, for the baselines and the peak, too)
    if torch:
        import torch as torch_module
        torch_module.set_num_threads(n)
    return f"threads: {n} (fastbp.set_num_threads)"


def blas_pools():
    from fastbp.kernels import blas
    kernels = f"fastbp's kernels call {getattr(blas, 'LIBRARY', 'scipy')}'s"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"unknown (threadpoolctl not installed); {kernels}"
    pools = ", ".join(f"{p.get('internal_api')} {os.path.basename(p.get('filepath', ''))} "
                      f"x{p.get('num_threads')}" for p in threadpool_info()
                      if p.get("user_api") == "blas") or "none found"
    return f"{pools}; {kernels}"


def _fmt_time(seconds):
    if seconds is None:
        return "-"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e6:.3g} us"


def _fmt_compile(seconds):
    if seconds is None:
        return "-"
    return _fmt_time(seconds) if seconds > 0 else "~0"  # below the timing noise


def format_table(rows, peaks):
    header = ["workload", "engine", "time/unit", "GFLOP/s", "%peak", "vs tutorial", "compile",
              "/GEMMs", "max|dparam|"]
    lines = []
    previous = None
    tutorial = {}
    for row in rows:
        if row.engine == "tutorial":
            tutorial[row.workload] = row.seconds
    for row in rows:
        w = row.workload
        gflops = row.flops / row.seconds / 1e9
        base = tutorial.get(w)
        label = ""
        if w is not previous:
            label = f"{w.key} {w.title} {w.dtype} /{w.unit}"
        previous = w
        lines.append([
            label, row.engine, _fmt_time(row.seconds), f"{gflops:.2f}",
            f"{100 * gflops / peaks[w.dtype]:.1f}%",
            f"{base / row.seconds:.2f}x" if base else "-",
            _fmt_compile(row.compile_seconds),
            f"{row.gemm_ratio:.2f}" if row.gemm_ratio is not None else "-",
            f"{row.diff:.1e}" if row.diff is not None else "-",
        ])
    return _columns(header, lines)


def _columns(header, lines):
    widths = [max(len(str(line[i])) for line in [header] + lines) for i in range(len(header))]
    def fmt(line):
        return "  ".join(str(cell).ljust(widths[i]) if i < 2 else str(cell).rjust(widths[i])
                         for i, cell in enumerate(line)).rstrip()
    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule] + [fmt(line) for line in lines])


def select(workloads, cold=True):
    """The workloads named in "W1,W3" (all if empty); ``cold``: "COLD" (the cold-start rows) is
    a name too.  Unknown names end the program with a message."""
    if not workloads:
        return list(WORKLOADS)
    keys = {key.strip().upper() for key in workloads.split(",") if key.strip()}
    known = {w.key for w in WORKLOADS} | ({"COLD"} if cold else set())
    unknown = keys - known
    if unknown:
        raise SystemExit(f"unknown workload(s) {sorted(unknown)}; choose from {sorted(known)}")
    return [w for w in WORKLOADS if w.key in keys]


FOOTNOTES = """
time/unit: median per epoch (per step for W3), compilation excluded (each engine trains once before
  the timed repeats).  Each engine runs all workloads in a fresh process of its own, one engine
  after the other, 1 s idle between them: importing PyTorch or JAX speeds up NumPy code in the
  same process (allocator thresholds), and spinning thread pools slow the next library down.
  GFLOP/s counts GEMM FLOPs only (forward and dW: 2*N*in*out per layer; delta: 2*N*in*out for
  layers > 0).  %peak: of the
  np.dot peak above (NumPy's BLAS; the line above says which BLAS fastbp's kernels call).
  vs tutorial: the tutorial's class time / this time.
compile: first call minus a warm call of the same size (fast engines only; ~0: below the noise).
  In-process, so after the first workload of a dtype numba has little left to compile, and a warm
  on-disk cache makes it a cache load -- see the cold-start lines for a fresh interpreter.
/GEMMs (W4): time per epoch / time of the same step's GEMMs alone ("GEMMs only": 3 forward, 3 dW
  and 2 delta np.dot calls into preallocated outputs, transposed views, no copies).
max|dparam|: largest weight or bias difference from fastbp's numpy reference engine after the same
  training (the tutorial's class against the reference in tutorial_compat=True, because it uses
  the tutorial's update rule).  W3 trains with lr=0 (weights unchanged), so its difference is
  after one extra step with lr=0.1.
The tutorial's class runs on float32 inputs as a user would: its weights and relu_derivative are
  float64, so most of its float32 arithmetic is float64.  Its full-batch loop is train_network's
  (forward, loss, backward, accuracy) without printing.  PyTorch / JAX (if installed): exact-mode
  math, manual backward; JAX compiles the whole full-batch loop (lax.fori_loop) and scans over
  mini-batches (jit(scan)); they do not record loss/accuracy per epoch, fastbp's fit does."""


def run_bench(quick=False, workloads=None, threads=None, repeats=3, cold=None, peak_size=None,
              settle=1.0, out=print, log=None, isolate=True):
    """Run the selected workloads on every available engine; print and return the table rows.

    ``workloads``: "W1,W3" (``COLD`` selects the cold-start rows); default all, cold start included.
    ``cold``: force the cold-start measurement on/off (default: when selected).
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    selected = select(workloads)
    if cold is None:
        cold = not workloads or "COLD" in workloads.upper()
    thread_note = set_threads(threads)
    engines = [engine for engine in ENGINES if engine.available()]
    peak_size = peak_size or 2048
    peaks = {dtype: gemm_peak(np.dtype(dtype), peak_size, repeats)
             for dtype in sorted({w.dtype for w in selected})}

    rows = (run_workloads(selected, quick, repeats, engines, log, settle, threads, isolate)
            if selected else [])
    cold_results = run_cold_start(quick, log) if cold else None
    memory = epoch_memory(quick) if cold else None

    ran = list(dict.fromkeys(row.engine for row in rows if row.engine != "GEMMs only"))
    out(f"fastbp bench{' --quick' if quick else ''}: engines {', '.join(ran or [e.name for e in engines])}"
        f"; median of {repeats} repeats; numpy {np.__version__}, fastbp {fastbp.__version__}")
    out(f"BLAS pools: {blas_pools()}" + (f"; {thread_note}" if thread_note else ""))
    if peaks:
        out("GEMM peak (np.dot " + f"{peak_size}^3, this run): "
            + ", ".join(f"{dtype} {peak:.1f} GFLOP/s" for dtype, peak in peaks.items()))
    if rows:
        out("")
        out(format_table(rows, peaks))
        out("")
    for w in selected:
        size = w.size(quick)
        desc = (f"{size.samples}x{w.sizes[0]} {list(w.sizes)}, "
                f"{gemm_flops(w.sizes, size.samples) / 1e6:.3g} MFLOP/{w.unit}, ")
        if w.kind == "step":
            desc += (f"forward+backward(lr={w.lr}) steps, median of {repeats * size.blocks} blocks "
                     f"of {size.timed} steps")
        elif w.kind == "full":
            desc += (f"full batch, lr {w.lr}, {size.units} epochs trained and compared; timed "
                     f"{size.timed} epochs per repeat ({size.slow_timed} for tutorial/numpy/torch)")
        else:
            steps = math.ceil(size.samples / w.batch_size)
            desc += (f"batch {w.batch_size} ({steps} steps/epoch), lr {w.lr}, "
                     f"{size.units} shuffled epoch(s)")
        out(f"  {w.key} {w.dtype}: {desc}")
    if rows:
        out(FOOTNOTES)
    if cold_results:
        epochs, results = cold_results
        out("")
        out(f"cold start: a fresh `python -c` imports fastbp and runs the first W1 fit "
            f"({epochs} epochs, float64)")
        out(_columns(["engine", "process wall", "import fastbp", "first fit"],
                     [[name, _fmt_time(wall), _fmt_time(imp), _fmt_time(fit)]
                      for name, (wall, imp, fit) in results]))
    if memory:
        samples, extra, budget = memory
        out("")
        out(f"memory: one W5 epoch ({samples}x784 float32, batch 128) allocates at its peak "
            f"{extra / 2**20:.2f} MiB beyond the data and the network (tracemalloc) = "
            f"{extra / budget:.2f}x the budget of parameters + one batch's activations and deltas "
            f"({budget / 2**20:.2f} MiB).  The network itself, made before, holds 3 copies of the "
            "parameters (values, gradients, and the backup that makes a diverging step undoable).")
    return rows, cold_results
