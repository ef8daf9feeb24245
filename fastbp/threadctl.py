"""Thread control: one switch for Numba's threads, fastbp's training workers and every BLAS pool.

A typical install has two OpenBLAS copies with two thread pools -- NumPy's, and SciPy's, which
Numba's ``np.dot`` inside compiled code calls.  fastbp's kernels call NumPy's where they can
(``fastbp.kernels.blas.LIBRARY``), so usually one pool serves NumPy code and the kernels alike.
Limiting only one pool would leave the other spinning on a core: :func:`set_num_threads` sets
Numba's thread count (``numba.set_num_threads``, its run-time API) and, through threadpoolctl,
every loaded BLAS pool, loading the kernels' first so that it is covered too.  It never assigns
``numba.config``.  The same count caps the workers of fastbp's data-parallel training loops
(``fastbp.team``; how many a fit uses is its plan's choice, ``fastbp.policy``).  Like the
BLAS pools' limits, the count is process-wide: a fit in any Python thread obeys the newest open
:func:`threads` block, else the last :func:`set_num_threads` (Numba's own count is per thread;
fastbp keeps the process's, see ``_ThreadCount``).
"""
from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections.abc import Iterator

import numba
import threadpoolctl
from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

from . import calibration
from .kernels import blas, openblas
from .kernels.blas import FLOAT32_LIBRARY as KERNEL_BLAS_FLOAT32
from .kernels.blas import LIBRARY as KERNEL_BLAS


def _load_kernel_blas() -> None:
    """Load the BLAS the kernels call (NumPy's is loaded with NumPy; SciPy's on first use)."""
    if "scipy" in (KERNEL_BLAS, KERNEL_BLAS_FLOAT32):
        import scipy.linalg.cython_blas  # noqa: F401


def load_every_blas() -> None:
    """Load the kernels' BLAS and, where SciPy is installed, SciPy's -- which Numba's first
    dispatch imports anyway (scipy.linalg) -- so that a view of the pools made now covers both."""
    _load_kernel_blas()
    if importlib.util.find_spec("scipy") is not None:
        import scipy.linalg.cython_blas  # noqa: F401


def max_threads() -> int:
    """The most threads Numba can use in this process (NUMBA_NUM_THREADS, fixed at start-up).

    Returns
    -------
    int
        The largest count :func:`set_num_threads` and :func:`threads` accept.
    """
    return numba.config.NUMBA_NUM_THREADS


def get_num_threads() -> int:
    """fastbp's thread count, the same in every Python thread: that of the newest ``threads``
    block still open (in any thread), else the last :func:`set_num_threads`; before any,
    Numba's default (NUMBA_NUM_THREADS).

    Returns
    -------
    int
        The thread count in effect, between 1 and :func:`max_threads`.
    """
    n = _thread_count.current()
    return n if n is not None else numba.get_num_threads()


def _from_any_thread(set_limits):
    """``set_limits()`` (a threadpoolctl call that sets BLAS pool limits), effective whichever
    Python thread runs it.

    threadpoolctl (from 3.8) lets one "controlling" thread at a time change the process-wide pool
    of an OpenBLAS without OpenMP and silently ignores the others; a thread that set a limit
    outside a ``with`` block keeps that role while it lives.  So a fit in a second thread could
    not put the pools on one thread for its workers, whose 2-thread BLAS calls then fought over
    the cores (docs/decisions.md has the measurement).
    Here the calling thread takes the role for the call and gives it up afterwards.
    """
    release = getattr(threadpoolctl.OpenBLASController, "clear_controlling_thread", None)
    with _LIMITS_LOCK:  # one thread at a time takes the role, sets, and gives it up
        if release is not None:
            release(force=True)
        try:
            return set_limits()
        finally:
            if release is not None:
                release()


_LIMITS_LOCK = threading.RLock()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in Numba's parallel kernels and in every loaded BLAS pool (inside a
    ``threads`` block: until the newest open block ends).

    Parameters
    ----------
    n : int
        The number of threads, between 1 and :func:`max_threads`.

    Raises
    ------
    TypeError
        If ``n`` is not an int.
    ValueError
        If ``n`` is below 1 or above :func:`max_threads`.
    """
    _check_count(n)
    _load_kernel_blas()
    numba.set_num_threads(n)
    _thread_count.set(n)


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """``with fastbp.threads(1): ...`` -- n threads inside the block; after it, the count of the
    newest block still open, else the count from before any block (blocks may overlap in
    several Python threads: each one's end removes its own count only).

    Parameters
    ----------
    n : int
        The number of threads inside the block, between 1 and :func:`max_threads`.

    Returns
    -------
    contextlib.AbstractContextManager
        A context manager (``with`` binds None) applying the count on entry and removing it on
        exit.

    Raises
    ------
    TypeError
        If ``n`` is not an int (raised on entering the block).
    ValueError
        If ``n`` is below 1 or above :func:`max_threads` (raised on entering the block).
    """
    _check_count(n)
    _load_kernel_blas()
    previous_numba = numba.get_num_threads()  # Numba's count is this thread's own
    numba.set_num_threads(n)
    block = _thread_count.open(n)
    try:
        yield
    finally:
        numba.set_num_threads(previous_numba)
        _thread_count.close(block)


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the number of threads must be an int, got {n!r}")
    if not 1 <= n <= max_threads():
        raise ValueError(f"the number of threads must be between 1 and {max_threads()} "
                         f"(NUMBA_NUM_THREADS), got {n}")


class _ThreadCount:
    """The process-wide count behind set_num_threads / threads, kept in step with the BLAS pools.

    A stack of counts: at the bottom the last set_num_threads (None: never called), above it one
    entry per open ``threads`` block, oldest first, whichever Python thread opened it.  The top
    entry is the count in effect; set_num_threads replaces it; a block's end removes its own
    entry, wherever it is -- so blocks that overlap in several threads (A opens, B opens, A
    ends) leave the count of the one still open, and the last to end restores the one below.
    """

    class _Block:
        def __init__(self, n):
            self.n = n

    def __init__(self):
        self._lock = threading.RLock()
        self._entries = [self._Block(None)]
        self._restore_blas = None  # the pools' limits from before the first count was set

    def current(self):
        return self._entries[-1].n

    def set(self, n):
        with self._lock:
            self._entries[-1].n = n
            _one_blas_thread.set_user_limits(n)

    def open(self, n):
        with self._lock:
            if self.current() is None:  # no count set yet: remember the pools as they are
                self._restore_blas = _one_blas_thread.user_limits()  # not a running fit's limit
            block = self._Block(n)
            self._entries.append(block)
            _one_blas_thread.set_user_limits(n)
            return block

    def close(self, block):
        with self._lock:
            self._entries.remove(block)  # identity: _Block has no __eq__
            n = self.current()
            if n is not None:
                _one_blas_thread.set_user_limits(n)
            else:  # back to no count at all: the pools as they were before the first
                _one_blas_thread.restore_user_limits(self._restore_blas)
                self._restore_blas = None


def thread_report() -> list[tuple[str, str, int]]:
    """[(library, path, threads)] for every BLAS pool loaded, Numba's own count, and the CPU's
    calibration (when fits split their batches over several workers).

    The calibration is measured here if this CPU has none stored yet (``fastbp.calibration``:
    a fraction of a second, plus compiling the full-batch training loop if it is not cached).

    Returns
    -------
    list of (str, str, int)
        One tuple per BLAS pool loaded: its library (threadpoolctl's ``internal_api``, e.g.
        ``"openblas"``), the path of its shared library and its thread count; then
        ``("numba", threading layer, Numba's thread count in this Python thread)``; and last
        ``("calibration", where its value comes from and which table of kernels each bundled
        OpenBLAS serves -- the CPU-dependent choices --, min_parallel_work)``
        (``FASTBP_OPENBLAS_CORE``: docs/threads.md).
    """
    _load_kernel_blas()
    pools = [(info["internal_api"], info["filepath"], info["num_threads"])
             for info in threadpool_info() if info["user_api"] == "blas"]
    measured = calibration.current()
    described = f"{measured.describe()}; OpenBLAS tables: {openblas.describe(blas.CORES)}"
    return pools + [("numba", numba.config.THREADING_LAYER, numba.get_num_threads()),
                    ("calibration", described, measured.min_parallel_work)]


class _OneBlasThread:
    """Context manager: the BLAS pools run on one thread while any training call is inside one.

    The pools' thread counts are process-wide, and fits may run in several Python threads at
    once: the first to enter limits every pool to one thread and the last to leave restores
    what was there before, so overlapping calls neither undo each other's limit nor leave the
    pools limited (each restoring the limit it found set by another would).  Limits the user
    sets meanwhile (set_num_threads, the end of a ``threads`` block) take effect when the last
    call leaves, after the restore -- so they are neither lost nor lift a running call's limit.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._controller = None  # threadpoolctl's view of the BLAS pools, made once (every pool)
        self._limiter = None
        self._users = 0
        self._pending = None  # the user's limits set while calls ran: applied after the last

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                if self._controller is None:
                    load_every_blas()  # else SciPy's pool, loaded later, would stay unlimited
                    self._controller = ThreadpoolController()
                self._limiter = _from_any_thread(
                    lambda: self._controller.limit(limits=1, user_api="blas"))
            self._users += 1

    def __exit__(self, *exc_info):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                _from_any_thread(self._limiter.restore_original_limits)
                self._limiter = None
                if self._pending is not None:
                    _from_any_thread(self._pending)
                    self._pending = None

    def user_limits(self):
        """A function restoring the pools' limits as users set them: while training calls hold
        the pools at one thread, the limits a user set meanwhile, else those from before the
        first of the calls."""
        with self._lock:
            if self._users:  # what the last call to leave will set
                return self._pending or self._limiter.restore_original_limits
            return _from_any_thread(lambda: threadpool_limits(limits=None)).restore_original_limits

    def restore_user_limits(self, restore):
        """Call ``restore`` (from user_limits) now, or -- while training calls run -- when the
        last of them ends."""
        self._apply_user_limits(restore)

    def set_user_limits(self, n):
        """Every BLAS pool to ``n`` threads, now or when the last running training call ends."""
        self._apply_user_limits(lambda: threadpool_limits(limits=n, user_api="blas"))

    def _apply_user_limits(self, set_limits):
        with self._lock:
            if self._users == 0:
                _from_any_thread(set_limits)
            else:
                self._pending = set_limits


_one_blas_thread = _OneBlasThread()
_thread_count = _ThreadCount()


def one_blas_thread() -> contextlib.AbstractContextManager[None]:
    """Context manager: every BLAS pool on one thread inside it (overlapping uses from several
    Python threads share the limit; the last to leave restores the pools).

    Returns
    -------
    contextlib.AbstractContextManager
        The process's one shared context manager (``with`` binds None); it may be entered again
        and from several threads at once.
    """
    return _one_blas_thread
