"""Engines kept alive for a whole bench run, so that they can be timed in interleaved rounds.

``EngineSession`` holds one engine's runners (``runners``): ``prepare`` builds a workload's runner
and trains it once (the first call: compilation included; its parameters are compared with the
reference's), ``time`` times one turn of a round, ``gemms`` the step's GEMMs alone, ``release``
frees the workload's data.  ``Spawned(make, *args)`` builds any such object in a spawned process
of its own and forwards ``call(method, *args)`` through a pipe (``Local``: the same in this
process, for tests).  Libraries change a process for everything else in it -- importing PyTorch
or JAX changes the allocator's thresholds, their idle thread pools compete for the cores
(docs/decisions.md) -- so each engine gets a process, kept for the whole run.
"""
import contextlib
import multiprocessing
import statistics
import time
import traceback

import numpy as np

import fastbp

from ..workloads import initial_state
from . import runners

TURN_SETTLE = 0.25  # idle seconds before each engine's turn: spinning BLAS/OpenMP pools go quiet


@contextlib.contextmanager
def opened(makers, isolate=True, log=print, required=()):
    """{name: session} for ``makers`` ({name: (make, *args)}), each ``Spawned`` in a process of
    its own (``isolate=False``: ``Local``, for tests).  A session that fails to start is left out
    (and logged) unless its name is ``required``; every started session is closed on exit."""
    sessions = {}
    try:
        for name, (make, *args) in makers.items():
            try:
                sessions[name] = Spawned(make, *args) if isolate else Local(make(*args))
            except Exception as error:  # a broken peer is left out; a required one ends the run
                if name in required:
                    raise
                log(f"  {name} skipped: {type(error).__name__}: {error}")
        yield sessions
    finally:
        for session in sessions.values():
            session.close()


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


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


def gemms_alone(w, X, init, blocks=1):
    """Seconds of one step's GEMMs alone (median of ``blocks``): np.dot into preallocated outputs,
    transposed views."""
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
    return statistics.median(timed(step) for _ in range(max(1, blocks)))


class EngineSession:
    """One engine's runners in this process (see the module docstring)."""

    def __init__(self, engine, quick, threads=None):
        self.engine = engine  # a runners.Engine
        self.quick = quick
        set_threads(threads, torch=engine.name == "torch")
        self._prepared = {}  # workload -> (runner, data, initial weights)

    def prepare(self, w):
        """Build the runner and train ``size.units`` once: (seconds of that first call,
        parameters after it -- or after one step at ``w.check_lr`` for step workloads)."""
        size = w.size(self.quick)
        X, y, init = initial_state(w, size.samples)
        runner = self.engine.runner(w, X, y, init)
        self._prepared[w] = (runner, X, init)
        runner.reset()
        first = timed(runner.train, size.units, w.lr)
        if w.check_lr is not None:
            runner.reset()
            runner.train(size.units, w.check_lr)
        return first, runner.params()

    def units(self, w):
        size = w.size(self.quick)
        return size.timed if self.engine.fast else size.slow_timed

    def time(self, w):
        """One turn of a round: the median over ``size.blocks`` blocks of seconds per unit, each
        block from the initial weights.  A step workload's turn starts with one untimed block:
        its blocks are short, and the first steps after the idle time before a turn wake the
        thread pools (an epoch's first steps do too, but among hundreds of steps)."""
        runner = self._prepared[w][0]
        units = self.units(w)
        if w.kind == "step":
            runner.reset()
            runner.train(units, w.lr)
        times = []
        for _ in range(w.size(self.quick).blocks):
            runner.reset()
            times.append(timed(runner.train, units, w.lr) / units)
        return statistics.median(times)

    def gemms(self, w):
        _, X, init = self._prepared[w]
        return gemms_alone(w, X, init, w.size(self.quick).blocks + 2)

    def release(self, w):
        self._prepared.pop(w, None)


def _serve(connection, make, args):
    """A spawned process's loop: calls of the object ``make(*args)``, by name, until "close"."""
    try:
        target = make(*args)
    except BaseException as error:
        connection.send(("error", f"{type(error).__name__}: {error}", traceback.format_exc()))
        connection.close()
        return
    connection.send(("ok", None, None))
    while True:
        method, call_args = connection.recv()
        if method == "close":
            return
        try:
            connection.send(("ok", getattr(target, method)(*call_args), None))
        except BaseException as error:
            connection.send(("error", f"{type(error).__name__}: {error}",
                             traceback.format_exc()))


class SessionError(RuntimeError):
    """A session's object failed in its process: the message is its exception's, ``trace``
    the traceback there."""

    def __init__(self, message, trace=None):
        super().__init__(message)
        self.trace = trace


class Spawned:
    """``make(*args)`` built in a fresh spawned process, kept for calls by name:
    ``call(method, *args)`` returns what the method returns there (arguments and results
    travel by pickle; ``make`` must be importable).  ``close()`` ends the process."""

    def __init__(self, make, *args):
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, make, args), daemon=True)
        self._process.start()
        theirs.close()
        try:
            self._receive()
        except BaseException:
            self.close()
            raise

    def _receive(self):
        try:
            status, value, trace = self._connection.recv()
        except EOFError:
            raise SessionError("the session's process ended unexpectedly") from None
        if status == "error":
            raise SessionError(value, trace)
        return value

    def call(self, method, *args):
        self._connection.send((method, args))
        return self._receive()

    def close(self):
        """End the process: asked to, then killed if it has not ended within a few seconds."""
        if self._process.is_alive():
            try:
                self._connection.send(("close", ()))
            except OSError:
                pass
            self._process.join(3)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()


class Local:
    """The same interface as ``Spawned`` for an object in this process (tests)."""

    def __init__(self, target):
        self._target = target

    def call(self, method, *args):
        return getattr(self._target, method)(*args)

    def close(self):
        pass


def engine_session(engine_name, quick, threads=None):
    """The EngineSession of the engine of ``runners.RUNNERS`` called ``engine_name``."""
    return EngineSession(runners.engine(engine_name), quick, threads)
