"""Telling the user when fastbp's kernels compile: the wait of a first run is never silent.

A listener on Numba's ``numba:compile`` event (it fires only when a kernel is really compiled,
not when it is loaded from the disk cache) prints one line to stderr when the compilation of one
of fastbp's top-level kernels is still running after ``DELAY`` seconds -- what is compiled and
that it is cached afterwards -- and finishes the line with the time it took.  Each kernel and
dtype is announced once per process; the many short compilations are not.
``FASTBP_QUIET=1`` silences the line.  When the on-disk cache cannot be used at all
(``kernels.CACHE_PROBLEMS``), a :class:`~fastbp.errors.CompileCacheWarning` says so once.
"""
import os
import sys
import threading
import time
import warnings

from numba.core import event

from . import kernels
from .errors import CompileCacheWarning

DELAY = 0.5  # seconds a compilation runs before it is announced
QUIET = os.environ.get("FASTBP_QUIET", "0").strip().lower() not in {"", "0", "false", "no", "off"}


class CompileNotice(event.Listener):
    """Announces the outermost compilation of each fastbp kernel (callees compile inside it)."""

    def __init__(self, stream=None):
        self.stream = stream
        self.announced = set()
        self.warned = False
        self._local = threading.local()
        self._lock = threading.Lock()

    def on_start(self, ev):
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if depth:
            return
        dispatcher = ev.data["dispatcher"]
        module = getattr(dispatcher.py_func, "__module__", "")
        if not module.startswith("fastbp.kernels"):
            return
        self._warn_about_cache()
        types = {str(getattr(arg, "dtype", "")) for arg in ev.data["args"]} & {"float32",
                                                                              "float64"}
        key = (dispatcher.py_func.__name__, tuple(sorted(types)))
        if QUIET or key in self.announced:
            return
        where = ("cached on disk for later runs" if kernels.CACHE_ENABLED
                 and not kernels.CACHE_PROBLEMS else "not cached: compiled in every process")
        line = (f"fastbp: compiling {key[0]} ({', '.join(key[1]) or 'no floats'}) for its first "
                f"use, {where} ...")
        pending = {"key": key, "started": time.perf_counter(), "written": False}
        pending["timer"] = timer = threading.Timer(DELAY, self._announce, (pending, line))
        timer.daemon = True
        self._local.pending = pending
        timer.start()

    def on_end(self, ev):
        self._local.depth -= 1
        pending = getattr(self._local, "pending", None)
        if self._local.depth == 0 and pending is not None:
            self._local.pending = None
            pending["timer"].cancel()
            with self._lock:
                if pending["written"]:  # finish the line
                    self._write(f" {time.perf_counter() - pending['started']:.1f} s\n")

    def _announce(self, pending, line):
        with self._lock:
            if pending["key"] not in self.announced:
                self.announced.add(pending["key"])
                pending["written"] = True
                self._write(line)

    def _warn_about_cache(self):
        if self.warned or not kernels.CACHE_ENABLED or not kernels.CACHE_PROBLEMS:
            return
        self.warned = True
        warnings.warn(f"fastbp's compiled kernels cannot be cached on disk: "
                      f"{'; '.join(kernels.CACHE_PROBLEMS)}.  Every new process compiles them "
                      f"again (~10 s); set NUMBA_CACHE_DIR to a writable directory to keep them "
                      f"(docs/usage.md)", CompileCacheWarning, stacklevel=1)

    def _write(self, text):
        stream = self.stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: the notice is not essential
            pass


NOTICE = CompileNotice()
event.register("numba:compile", NOTICE)
