"""Measuring: timing an engine on a workload, the GEMM peak, cold starts and memory.

``run_workloads`` runs every engine in a fresh process of its own and returns the table's
``Row``s; ``gemm_peak`` measures the np.dot peak the rows are compared with; ``run_cold_start``
times fresh interpreters; ``epoch_memory`` measures W5's epoch; ``set_threads``, ``blas_pools``
and ``cpu_name`` describe what the run ran on.
"""
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field

import numpy as np

import fastbp

from ..workloads import Workload, gemm_flops, initial_state, workload
from . import runners


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


def engine_worker(engine_name, workloads, quick, repeats, threads):
    """engine_rows in a fresh process: the engine travels by name, the workloads pickled."""
    return engine_rows(runners.engine(engine_name), workloads, quick, repeats, threads)


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
                with context.Pool(1) as pool:
                    results.update(pool.apply(engine_worker,
                                              (engine.name, workloads, quick, repeats, threads)))
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
        tutorial_mode = runners.fastbp_runner("numpy", w, X, y, init, tutorial_compat=True)
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
nn = fastbp.NeuralNetwork({sizes}, backend={backend!r})
nn.fit(X, y, epochs={epochs}, lr={lr})
print(imported - start, time.perf_counter() - imported)
"""


def cold_start(backend, epochs, env):
    """(process wall seconds, import seconds, first-fit seconds) of a fresh interpreter."""
    w1 = workload("W1")  # the tutorial's circle
    code = textwrap.dedent(COLD_START.format(backend=backend, epochs=epochs, sizes=list(w1.sizes),
                                             lr=w1.lr))
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
    epochs = workload("W1").size(quick).units
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
X = random.standard_normal(({samples}, {sizes[0]}), dtype=np.{dtype})
y = (random.random(({samples}, 1)) < 0.5).astype(np.{dtype})
nn = fastbp.NeuralNetwork({sizes}, dtype=np.{dtype}, seed=0)
B = {batch_size}
nn.fit(X[:2 * B], y[:2 * B], epochs=1, lr={lr}, batch_size=B, seed=0)  # compile or load the cache
tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
nn.fit(X, y, epochs=1, lr={lr}, batch_size=B, seed=0)
current, peak = tracemalloc.get_traced_memory()
print(peak, sum(p.nbytes for p in [*nn.weights, *nn.biases]))
"""

MEMORY_QUICK_SAMPLES = 6000  # --quick: W5's epoch on 6000 rows (as asv's ASV_SKIP_SLOW)


def epoch_memory(quick):
    """W5's epoch in a fresh process: (samples, peak memory it allocates, budget), in bytes.

    Measured with tracemalloc (every NumPy allocation during ``fit``; the compiled loop allocates
    nothing).  The budget is the issue's: parameters + one batch's activations, pre-activations
    and deltas (+ its inputs and targets), all in W5's dtype.
    """
    w = workload("W5")
    samples = MEMORY_QUICK_SAMPLES if quick else w.full.samples
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(EPOCH_MEMORY.format(
        samples=samples, sizes=list(w.sizes), dtype=w.dtype, batch_size=w.batch_size, lr=w.lr))],
        check=True, capture_output=True, text=True).stdout
    peak, param_bytes = map(int, out.split()[-2:])
    batch_bytes = (w.batch_size * (3 * sum(w.sizes[1:]) + w.sizes[0] + w.sizes[-1])
                   * np.dtype(w.dtype).itemsize)
    return samples, peak, param_bytes + batch_bytes


# -- what the run ran on ----------------------------------------------------------------------------

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


def cpu_name():
    """The CPU's model name from ``lscpu`` (else the platform's processor string), and the machine."""
    name = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "LC_ALL": "C"}).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name:")), None)
    except (OSError, subprocess.SubprocessError):
        pass
    name = name or platform.processor() or "unknown CPU"
    return f"{name}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}"
