"""Measuring: the engines in interleaved rounds, the GEMM peak, cold starts and memory.

``run_workloads`` times every engine (each in a long-lived process of its own, ``sessions``) in
interleaved rounds and returns the table's ``Row``s; ``gemm_peak`` measures the np.dot peak the
rows are compared with; ``run_cold_start`` times fresh interpreters; ``epoch_memory`` measures
W5's epoch; ``blas_pools`` and ``cpu_name`` describe what the run ran on.
"""
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

from .. import calibration
from ..workloads import Workload, gemm_flops, initial_state, workload
from . import runners
from .rounds import Ratio, best_of
from .sessions import TURN_SETTLE, EngineSession, Local, Spawned, engine_session, timed


@dataclass
class Row:
    workload: Workload
    engine: str
    seconds: float                   # median per unit (epoch or step) over the rounds
    flops: float                     # GEMM FLOPs per unit
    compile_seconds: float = None
    params: list = field(default=None, repr=False)
    diff: float = None               # largest |parameter - reference engine's|
    per_round: list = field(default=None, repr=False)  # seconds per unit, round by round
    vs_tutorial: Ratio = None        # the tutorial's class time / this time, per round
    vs_peers: Ratio = None           # numba: the best of PyTorch and JAX / this time, per round
    gemm_ratio: Ratio = None         # W4: this time / the GEMMs alone, per round


def gemm_peak(dtype, n, repeats):
    """GFLOP/s of a large np.dot (n^3) of this dtype on the current thread count."""
    random = np.random.default_rng(0)
    a = random.standard_normal((n, n)).astype(dtype)
    b = random.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    np.dot(a, b, out=out)
    seconds = min(timed(np.dot, a, b, out) for _ in range(max(3, repeats)))
    return 2 * n ** 3 / seconds / 1e9


def rounds_for(repeats):
    """Interleaved rounds of a run with ``--repeats repeats``: 2 x repeats + 1, at least 5."""
    return max(5, 2 * repeats + 1)


CORE_ENGINES = ("tutorial", "numpy", "numba")  # a failure of these ends the run; peers are skipped
PEERS = ("torch", "jax")


def run_workloads(workloads, quick, repeats, engines, log, settle=TURN_SETTLE, threads=None,
                  isolate=True, rounds=None):
    """Every engine on every workload, timed in interleaved rounds; the table's ``Row``s.

    Each engine runs in a long-lived process of its own (``sessions.Spawned``; in this
    process with ``isolate=False``, for tests).  Per workload: every engine trains once (the
    first call: compilation, and the parameters compared), then ``rounds`` rounds of one turn
    per engine in table order, ``settle`` idle seconds before each turn (thread pools that spin
    -- OpenBLAS's, PyTorch's OpenMP, XLA's -- would slow the next engine down on a small
    machine; whatever else a shared machine does, it does in some rounds and not in others,
    which the per-round ratios and their spread show); the numba process also times the step's
    GEMMs alone in each round of a ``gemm_only`` workload.  Ratios are taken round by round
    (``rounds.Ratio``).  A peer (PyTorch, JAX) that fails -- installed but broken -- is left
    out with a note.
    """
    rounds = rounds or rounds_for(repeats)
    sessions = {}
    table = []

    def drop(name, error):  # a peer that fails is left out; fastbp's own engines end the run
        _skip_or_raise(name, error, log)
        sessions.pop(name).close()

    try:
        for engine in engines:
            try:
                sessions[engine.name] = (Spawned(engine_session, engine.name, quick, threads)
                                         if isolate else Local(EngineSession(engine, quick, threads)))
            except Exception as error:
                _skip_or_raise(engine.name, error, log)
        for w in workloads:
            log(f"  {w.key} {w.dtype}: {', '.join(sessions)}; {rounds} interleaved rounds ...")
            first, params = {}, {}
            for name in list(sessions):
                time.sleep(settle)
                try:
                    first[name], params[name] = sessions[name].call("prepare", w)
                except Exception as error:
                    drop(name, error)
            times = {name: [] for name in first}
            gemm_times = []
            for _ in range(rounds):
                for name in list(times):
                    time.sleep(settle)
                    try:
                        times[name].append(sessions[name].call("time", w))
                    except Exception as error:
                        drop(name, error)
                        del times[name]
                if w.gemm_only and "numba" in times:
                    time.sleep(settle)
                    gemm_times.append(sessions["numba"].call("gemms", w))
            for name in times:
                sessions[name].call("release", w)
            table.extend(workload_rows(w, quick, times, first, params, gemm_times, engines))
    finally:
        for session in sessions.values():
            session.close()
    return table


def _skip_or_raise(name, error, log):
    if name in CORE_ENGINES:
        raise error
    log(f"  {name} skipped: {type(error).__name__}: {error}")


def workload_rows(w, quick, times, first, params, gemm_times, engines):
    """One workload's rows from its per-round times, first calls and parameters."""
    size = w.size(quick)
    X, y, init = initial_state(w, size.samples)
    flops = gemm_flops(w.sizes, len(X))
    fast = {engine.name: engine.fast for engine in engines}
    peers = [times[name] for name in PEERS if name in times]
    # The tutorial's class follows the tutorial's update rule: compare it with the reference
    # engine in tutorial_compat mode after the same training.
    tutorial_mode = runners.fastbp_runner("numpy", w, X, y, init, tutorial_compat=True)
    tutorial_mode.train(size.units, w.lr if w.check_lr is None else w.check_lr)
    rows = []
    for name, per_round in times.items():
        seconds = statistics.median(per_round)
        target = tutorial_mode.params() if name == "tutorial" else params.get("numpy")
        row = Row(w, name, seconds, flops,
                  first[name] - seconds * size.units if fast[name] else None, params[name],
                  per_round=per_round)
        if target is not None:
            row.diff = max(float(np.max(np.abs(a - b))) for a, b in zip(params[name], target))
        if "tutorial" in times:
            row.vs_tutorial = Ratio.of(times["tutorial"], per_round)
        if name == "numba" and peers:
            row.vs_peers = Ratio.of(best_of(peers), per_round)
        if gemm_times:
            row.gemm_ratio = Ratio.of(per_round, gemm_times)
        rows.append(row)
    if gemm_times:
        gemm = Row(w, "GEMMs only", statistics.median(gemm_times), flops, per_round=gemm_times)
        if "tutorial" in times:
            gemm.vs_tutorial = Ratio.of(times["tutorial"], gemm_times)
        rows.append(gemm)
    return rows


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

def blas_pools():
    from fastbp.kernels import blas
    library = getattr(blas, "LIBRARY", "scipy")
    float32 = getattr(blas, "FLOAT32_LIBRARY", library)
    kernels = f"fastbp's kernels call {library}'s" + (
        f" (float32: {float32}'s)" if float32 != library else "")
    small = getattr(blas, "SMALL_KERNELS", None)
    if small is not None:
        kernels += ("; small-matrix kernels (deltas laid out sample-major for small weight "
                    f"gradients): float64 {'yes' if small[0] else 'no'}, "
                    f"float32 {'yes' if small[1] else 'no'}")
    cores = getattr(blas, "CORES", None)
    if cores is not None:
        from fastbp.kernels import openblas
        kernels += f"; OpenBLAS tables: {openblas.describe(cores)}"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"unknown (threadpoolctl not installed); {kernels}"
    pools = ", ".join(f"{p.get('internal_api')} {os.path.basename(p.get('filepath', ''))} "
                      f"({p.get('architecture', '?')}) x{p.get('num_threads')}" for p in threadpool_info()
                      if p.get("user_api") == "blas") or "none found"
    return f"{pools}; {kernels}"


def cpu_name():
    """The CPU's model name from ``lscpu`` (else the platform's processor string), its family and
    model numbers and vector extensions (a virtual machine may name a Zen 3 and a Zen 4 alike),
    and the machine."""
    name = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "LC_ALL": "C"}).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name:")), None)
    except (OSError, subprocess.SubprocessError):
        pass
    name = name or platform.processor() or "unknown CPU"
    return (f"{name}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()} "
            f"(CPU signature: {calibration.cpu_signature()})")
