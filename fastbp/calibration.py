"""What this machine's CPU prefers: the choices of how fits run that are measured, not fixed.

A choice measured on a shared machine can come out differently from one measurement to the next,
so only choices that change a fit's *speed* are measured here, never its results.  What decides
the results is derived, not measured: the reduction blocks from the batch, the network and the
CPU count (``fastbp.policy.reduction_blocks``), and which layer products go to BLAS from a fixed
line (``kernels.config.use_blas``; ``FASTBP_BLAS_MIN_WEIGHTS`` overrides it, and is part of the
compiled code's cache key).

Measured: ``min_parallel_work`` -- below how many multiply-adds a whole fit runs on one worker
rather than splitting its batches over two (starting the workers costs a fixed time per compiled
call, which differs between CPUs).  ``measure()`` times full-batch fits of the tutorial's circle
network of growing length on one worker and on two, interleaved, fits a straight line (fixed
cost + cost per multiply-add) to each, and takes where the lines cross.  It takes a fraction of
a second once the kernels are compiled.

``current()`` is the calibration fits use: ``FASTBP_MIN_PARALLEL_WORK`` if set, else the one
stored for this CPU beside the compiled code (``NUMBA_CACHE_DIR``, else the kernels'
``__pycache__``, else the user's cache directory), else measured -- on the first fit that could
use two workers -- and stored.  A measurement taken while the machine was busy stays until
``python -m fastbp calibrate`` (``calibrate()``) measures again.  ``FASTBP_CACHE=0`` stores
nothing: each process measures once.  ``thread_report()`` and the bench show it;
``Policy(min_parallel_work=...)`` overrides it for one network.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from . import kernels
from .policy import DEFAULT_MIN_PARALLEL_WORK

try:
    import fcntl
except ImportError:  # pragma: no cover -- Windows: no lock between processes
    fcntl = None

ENV = "FASTBP_MIN_PARALLEL_WORK"
FILE_NAME = "fastbp-calibration.json"
ROUNDS = 7
EPOCH_LADDER = (2, 8, 32, 128, 512)
MOST_WORK = 10 ** 9  # the value when two workers never catch up
METHOD = 2  # part of a stored value's key: a new way of measuring measures again


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The measured choices and where they come from.

    Attributes
    ----------
    min_parallel_work : int
        Multiply-adds (samples x parameters x epochs) of a fit from which it splits its batches
        over several workers.
    source : str
        ``"measured"`` (in this process), ``"stored"`` (measured before, read from ``path``),
        ``"FASTBP_MIN_PARALLEL_WORK"`` or ``"default"`` (a machine with one CPU).
    cpu : str
        The CPU it was measured on (:func:`cpu_signature`).
    seconds : float
        What measuring took (0 when not measured in this process).
    ladder : tuple
        The measurement: (multiply-adds of the fit, seconds on one worker, seconds on two).
    path : str or None
        The file it is stored in.
    """

    min_parallel_work: int
    source: str
    cpu: str
    seconds: float = 0.0
    ladder: tuple = ()
    path: str | None = None

    def describe(self) -> str:
        """One line for reports: the value and where it comes from."""
        where = {"measured": f"measured on this CPU in {self.seconds:.2f} s",
                 "stored": f"measured on this CPU before, stored in {self.path}",
                 ENV: f"set by {ENV}",
                 "default": "the default (one CPU: never parallel)"}[self.source]
        return f"min_parallel_work = {self.min_parallel_work:.3g} multiply-adds ({where})"


def cpu_signature() -> str:
    """The CPU's model name, family and model numbers, the vector extensions that matter here,
    and the CPU count (a virtual machine may name an AMD Zen 3 and a Zen 4 alike "AMD EPYC")."""
    fields, flags = {}, set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value.strip()
                elif key in ("flags", "Features"):
                    flags = set(value.split())
                    break
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    numbers = "/".join(fields[key] for key in ("cpu family", "model") if key in fields)
    extensions = "+".join(f for f in ("avx512f", "avx2", "fma", "asimd") if f in flags)
    return (f"{name}{f' ({numbers})' if numbers else ''} [{extensions or 'baseline'}] "
            f"x{os.cpu_count() or 1}")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, and Numba's thread limit)."""
    from .threadctl import max_threads

    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    return max(1, min(allowed, max_threads()))


def store_path() -> Path | None:
    """The one file the calibration is stored in: in ``NUMBA_CACHE_DIR`` if set, else in the
    kernels' ``__pycache__`` if writable, else in the user's cache directory; None when caching
    is off or none of them is writable."""
    if not kernels.CACHE_ENABLED:
        return None
    if os.environ.get("NUMBA_CACHE_DIR"):
        candidates = [Path(os.environ["NUMBA_CACHE_DIR"])]
    else:
        candidates = [Path(kernels.__file__).parent / "__pycache__",
                      Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fastbp"]
    for directory in candidates:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return directory / FILE_NAME
    return None


def store_key() -> str:
    """This CPU's entry in the store: its signature, usable CPUs, the OpenBLAS tables the kernels'
    libraries serve (``kernels.blas.CORES``), fastbp's version, the method."""
    from . import __version__
    from .kernels import blas

    tables = ",".join(sorted({str(served) for _, served in blas.CORES.values()}))
    return (f"{cpu_signature()} | {usable_cpus()} usable | openblas {tables} "
            f"| fastbp {__version__} | method {METHOD}")


def _read_stored():
    path = store_path()
    if path is None:
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8")).get(store_key())
    except (OSError, ValueError, AttributeError):
        return None
    if not (isinstance(entry, dict) and isinstance(entry.get("min_parallel_work"), int)
            and entry["min_parallel_work"] >= 0):
        return None
    try:
        ladder = tuple((int(w), float(one), float(two)) for w, one, two in entry.get("ladder", ()))
    except (TypeError, ValueError):
        ladder = ()  # the value is what counts
    return Calibration(entry["min_parallel_work"], "stored", cpu_signature(), ladder=ladder,
                       path=str(path))


def _store(calibration):
    """Write the calibration into the store (other CPUs' entries kept); returns it with its
    path (unchanged when there is no store or writing fails: it is only a speed-up)."""
    path = store_path()
    if path is None:
        return calibration
    try:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(entries, dict):
                entries = {}
        except (OSError, ValueError):
            entries = {}
        entries[store_key()] = {"min_parallel_work": calibration.min_parallel_work,
                           "ladder": [list(step) for step in calibration.ladder]}
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(entries, indent=1), encoding="utf-8")
            os.replace(temporary, path)  # whole or not at all, for readers in other processes
        finally:
            temporary.unlink(missing_ok=True)
    except OSError:
        return calibration
    return dataclasses.replace(calibration, path=str(path))


def measure(dtype=np.float64) -> Calibration:
    """Measure ``min_parallel_work`` on this machine now (see the module docstring); not stored.

    Fits of the circle network [2, 16, 8, 1] on 512 samples, at each length of ``EPOCH_LADDER``
    on one worker and on two (``ROUNDS`` interleaved rounds, medians); a least-squares line of
    time against multiply-adds (samples x parameters x epochs) for each, and the work where the
    two lines cross (``MOST_WORK`` if two workers never catch up).  ``seconds`` excludes the
    first fits (compilation, or loading the compiled code).
    """
    from . import datasets, threadctl
    from .network import NeuralNetwork
    from .policy import Policy, n_parameters

    if usable_cpus() < 2:
        return Calibration(DEFAULT_MIN_PARALLEL_WORK, "default", cpu_signature())
    sizes = [2, 16, 8, 1]
    X, y = datasets.make_circle(n_samples=512, seed=0)
    per_epoch = len(X) * n_parameters(sizes)
    networks = {}
    for workers in (1, 2):
        nn = NeuralNetwork(sizes, dtype=dtype, seed=0)
        nn.policy = Policy(max_blocks=2, workers=workers, min_parallel_work=0)
        networks[workers] = nn
    initial = [np.array(W) for W in networks[1].weights], [np.array(b) for b in networks[1].biases]

    def fit(nn, epochs):
        nn.weights, nn.biases = initial
        began = time.perf_counter()
        nn.fit(X, y, epochs=epochs, lr=0.1)
        return time.perf_counter() - began

    ladder = []
    with threadctl.threads(2):
        for nn in networks.values():
            fit(nn, 2)  # compile or load, wake the threads
        start = time.perf_counter()
        for epochs in EPOCH_LADDER:
            times = {1: [], 2: []}
            for _ in range(ROUNDS):
                for workers, nn in networks.items():
                    times[workers].append(fit(nn, epochs))
            ladder.append((per_epoch * epochs, statistics.median(times[1]),
                           statistics.median(times[2])))
    return Calibration(crossing(ladder), "measured", cpu_signature(),
                       time.perf_counter() - start, tuple(ladder))


def crossing(ladder) -> int:
    """Where least-squares lines through (work, seconds on one worker) and (work, seconds on
    two) cross, in [0, MOST_WORK]: MOST_WORK if two workers never catch up."""
    work = np.array([step[0] for step in ladder], dtype=float)
    slope1, fixed1 = np.polyfit(work, [step[1] for step in ladder], 1)
    slope2, fixed2 = np.polyfit(work, [step[2] for step in ladder], 1)
    if slope2 >= slope1:
        return MOST_WORK
    return int(min(MOST_WORK, max(0.0, (fixed2 - fixed1) / (slope1 - slope2))))


_lock = threading.Lock()
_current = None


def from_environment() -> Calibration | None:
    """``FASTBP_MIN_PARALLEL_WORK`` as a Calibration (None if unset).

    Raises
    ------
    ValueError
        The variable is not a whole number >= 0 (``20000000``, ``2e7`` and ``5.7e+06`` are).
    """
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value == int(value)):
        raise ValueError(f"{ENV} must be a whole number >= 0 of multiply-adds (e.g. 20000000 or "
                         f"2e7), got {text!r}")
    return Calibration(int(value), ENV, cpu_signature())


@contextlib.contextmanager
def _store_lock():
    """Holds an flock beside the store: one process measures and stores, the others then read
    (a measurement taken while other processes measure too would be skewed)."""
    path = store_path()
    if path is None or fcntl is None:
        yield
        return
    try:
        handle = open(path.with_name(path.name + ".lock"), "a+b")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _measure_and_store(dtype):
    measured = measure(dtype)
    return measured if measured.source == "default" else _store(measured)


def current(dtype=np.float64) -> Calibration:
    """This process's calibration: ``FASTBP_MIN_PARALLEL_WORK``, else stored for this CPU, else
    measured now (with fits in ``dtype``: the one whose training loop is compiled already) and
    stored -- under a lock between processes, re-reading the store once it is held.

    Raises
    ------
    ValueError
        ``FASTBP_MIN_PARALLEL_WORK`` is not a whole number >= 0.
    """
    global _current
    overridden = from_environment()
    if overridden is not None:
        return overridden
    with _lock:
        if _current is None:
            _current = _read_stored()
        if _current is None:
            with _store_lock():
                _current = _read_stored() or _measure_and_store(dtype)
        return _current


def cached() -> Calibration | None:
    """The calibration this process has read or measured so far (None: none yet); measures
    nothing."""
    return _current


def min_parallel_work(dtype=np.float64) -> int:
    """The calibrated ``min_parallel_work`` (measuring it first, in ``dtype``, if needed)."""
    return current(dtype).min_parallel_work


def calibrate(out=print) -> Calibration:
    """``python -m fastbp calibrate``: measure now, store for this CPU (replacing what was stored)
    and print what was measured -- e.g. after a first measurement on a busy machine."""
    global _current
    if os.environ.get(ENV, "").strip():
        out(f"note: {ENV} is set in this environment and overrides the measurement")
    with _lock, _store_lock():
        _current = _measure_and_store(np.float64)
    out(f"{cpu_signature()}: {_current.describe()}")
    for work, one, two in _current.ladder:
        out(f"  a fit of {work:.3g} multiply-adds: {one * 1e3:.3f} ms on one worker, "
            f"{two * 1e3:.3f} ms on two")
    out(f"stored in {_current.path}" if _current.path else "not stored (no cache location)")
    return _current


def forget() -> None:
    """Drop this process's calibration (the stored one stays): the next use reads or measures."""
    global _current
    with _lock:
        _current = None
