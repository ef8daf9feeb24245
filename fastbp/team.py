"""The worker team: the threads that run one data-parallel compiled training call together.

``run_workers`` starts a thread per extra worker for the call, binds each worker to a CPU of its
own (:func:`worker_cpus`), holds the BLAS pools at one thread meanwhile when asked, and joins
every worker even when one fails or Ctrl-C arrives.  The workers meet at spin barriers inside
the compiled loop (``fastbp.kernels.sync``); when they wait too long for each other the loop
says so (status TOO_SLOW) and the caller continues on one worker (``FitPlan.after_fallback``).
"""
import contextlib
import ctypes
import functools
import os
import threading

from .threadctl import one_blas_thread as _one_blas_limit


@functools.cache
def _sched_getcpu():
    """The C library's ``sched_getcpu`` (Linux: glibc, musl), or None."""
    try:
        return ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (AttributeError, OSError, TypeError):
        return None


def _current_cpu():
    """The CPU this thread runs on, or None where that is unknown."""
    getcpu = _sched_getcpu()
    cpu = getcpu() if getcpu is not None else -1
    return cpu if cpu >= 0 else None


def worker_cpus(n_workers):
    """A CPU for each worker: worker 0 (the calling thread) keeps the one it is on now, the
    others take the next CPUs this thread may use after it, in turn (so teams started from
    different CPUs -- other processes, other fits -- spread out rather than all taking the
    lowest numbers) -- or None where that is unknown (no sched_setaffinity / sched_getcpu).

    Unbound, Linux often started a helper on the caller's CPU, or woke the caller on the
    helper's, when the other CPU had been idle, so both workers shared one core, each step
    waiting for the other, until Linux's next load balancing milliseconds later (or the
    fallback to one worker; the measurements are in docs/decisions.md).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    current = _current_cpu()
    allowed = sorted(os.sched_getaffinity(0))
    if current is None or current not in allowed or len(allowed) < 2:
        return None
    at = allowed.index(current)
    others = allowed[at + 1:] + allowed[:at]
    return [current] + [others[w % len(others)] for w in range(n_workers - 1)]


def _join_all(helpers, abort):
    """Join every helper even if Ctrl-C interrupts a join (the others are told to stop), so no
    worker still writes to the network after the call; the interrupt is raised after."""
    interrupted = None
    for helper in helpers:
        while True:
            try:
                helper.join()
                break
            except BaseException as error:  # noqa: B902 -- KeyboardInterrupt while waiting
                interrupted = interrupted or error
                abort()
    if interrupted is not None:
        raise interrupted


@contextlib.contextmanager
def _bound_to(cpu):
    """This thread runs on ``cpu`` only inside the block (nothing if cpu is None or refused)."""
    previous = None
    if cpu is not None:
        with contextlib.suppress(OSError):  # e.g. the CPU left the process's cpuset
            previous = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        if previous is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, previous)


def run_workers(body, n_workers, abort, one_blas_thread):
    """[body(0), ..., body(n_workers - 1)], each in its own thread (body(0) in this one).

    ``body`` runs a compiled loop whose workers wait for each other at barriers, so all of them
    must run at once: each call starts its own threads (~0.15 ms; a shared pool could leave a
    worker queued behind another call's), and each worker is bound to a CPU of its own for the
    call (:func:`worker_cpus`; the calling thread's own affinity is restored after).  If one raises,
    ``abort()`` makes the others stop waiting, and the first exception is re-raised here.
    ``one_blas_thread``: the BLAS pools run single-threaded meanwhile (each worker already owns
    a core; OpenBLAS threads inside the workers would fight over them) -- also for one worker
    that took over from a team.
    """
    limits = _one_blas_limit() if one_blas_thread else contextlib.nullcontext()
    results = [None] * n_workers
    errors = []

    def guarded(worker, cpu=None):
        try:
            with _bound_to(cpu):
                results[worker] = body(worker)
        except BaseException as error:  # noqa: B902 -- re-raised in the calling thread
            errors.append(error)
            abort()

    with limits:
        if n_workers == 1:
            return [body(0)]
        cpus = worker_cpus(n_workers) or [None] * n_workers
        helpers = []
        # bound before the helpers start: waiting for a thread to start may move this one
        with _bound_to(cpus[0]):
            try:
                for worker in range(1, n_workers):
                    helper = threading.Thread(target=guarded, args=(worker, cpus[worker]),
                                              daemon=True, name=f"fastbp-worker-{worker}")
                    helper.start()
                    helpers.append(helper)
                guarded(0)
            except BaseException:  # a thread that could not start, Ctrl-C while starting one
                abort()
                raise
            finally:
                _join_all(helpers, abort)
    if errors:
        raise errors[0]
    return results
