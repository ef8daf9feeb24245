"""One engine kept alive for a whole bench run, so that engines can be timed in interleaved rounds.

``EngineSession`` holds one engine's runners (``runners``): ``prepare`` builds a workload's runner
and trains it once (the first call: compilation included; its parameters are compared with the
reference's), ``time`` times one turn of a round, ``gemms`` the step's GEMMs alone, ``release``
frees the workload's data.  ``SpawnedSession`` runs an ``EngineSession`` in a spawned process of
its own and forwards the calls through a pipe: libraries change a process for everything else in
it (importing PyTorch or JAX raised glibc's allocation thresholds and made the tutorial's class
1.7x faster on the spirals), so each engine gets a process, kept for the whole run.
"""
import multiprocessing
import statistics
import time
import traceback

import numpy as np

import fastbp

from ..workloads import initial_state
from . import runners


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


def _serve(connection, engine_name, quick, threads):
    """A spawned process's loop: calls of an EngineSession, by name, until "close"."""
    try:
        session = EngineSession(runners.engine(engine_name), quick, threads)
    except BaseException as error:
        connection.send(("error", f"{type(error).__name__}: {error}", traceback.format_exc()))
        return
    connection.send(("ok", None, None))
    while True:
        method, args = connection.recv()
        if method == "close":
            return
        try:
            connection.send(("ok", getattr(session, method)(*args), None))
        except BaseException as error:
            connection.send(("error", f"{type(error).__name__}: {error}",
                             traceback.format_exc()))


class SessionError(RuntimeError):
    """An engine failed in its process (the message is its exception's)."""


class SpawnedSession:
    """An EngineSession in a fresh spawned process; the same methods, forwarded by pipe."""

    def __init__(self, engine_name, quick, threads=None):
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, engine_name, quick, threads),
                                        daemon=True)
        self._process.start()
        theirs.close()
        self._receive()

    def _receive(self):
        try:
            status, value, trace = self._connection.recv()
        except EOFError:
            raise SessionError("the engine's process ended unexpectedly") from None
        if status == "error":
            raise SessionError(value)
        return value

    def _call(self, method, *args):
        self._connection.send((method, args))
        return self._receive()

    def prepare(self, w):
        return self._call("prepare", w)

    def time(self, w):
        return self._call("time", w)

    def gemms(self, w):
        return self._call("gemms", w)

    def release(self, w):
        return self._call("release", w)

    def close(self):
        if self._process.is_alive():
            try:
                self._connection.send(("close", ()))
            except OSError:
                pass
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
        self._connection.close()
