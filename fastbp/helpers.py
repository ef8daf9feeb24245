"""Awake helpers: the threads that share the blocks of stand-alone ``forward``/``backward`` calls.

A training call starts a team of its own (fastbp.team) and pays that start once for many
epochs.  The tutorial's own loop calls ``forward`` and ``backward`` once per step, each ~0.1 ms
of work on a network like the efficiency demo's, where starting a thread (~0.15 ms) costs more
than a second core saves.  So the process keeps helper threads: the first call that splits its
batch wakes them, they wait for jobs inside compiled code (``kernels.serve_jobs``) -- spinning, for
``SPIN_NS`` after their last job -- and then sleep until the next call wakes them.  A call never
waits for a helper to wake: it computes any share no helper has started itself
(``kernels.lead``).

Bits: a call's blocks are fixed (``policy.reduction_blocks``) and summed in block order, and
every block runs its BLAS products on one thread, whichever thread computes it -- so a call's
results do not depend on whether, or how many, helpers took part.  Holding the BLAS pools at one
thread costs ~30 us per change, so it is held for a whole *awake period*: from the first such
call until the helpers fall asleep (as during a fit, the process's BLAS pools run one thread
meanwhile).
"""
import contextlib
import os
import threading
from collections import namedtuple

import numpy as np

from . import kernels, threadctl

SPIN_NS = 1_000_000  # a helper's spin after its last job: the gap between a loop's calls fits
SEQ = kernels.serve_layout.SEQ  # the board's job number

Job = namedtuple("Job", "binding net blocks grads scalars")


class Helpers:
    """The process's helper threads and the board they share with one leading call at a time."""

    def __init__(self):
        self._lock = threading.Lock()        # one leading call; the awake period changes under it
        self._wake = threading.Condition()
        self._board = np.zeros((kernels.MAX_HELPERS + 2) * kernels.SLOT, dtype=np.int64)
        self._alone = np.zeros_like(self._board)  # the board of a call that computes alone
        self._threads = []
        self._job = None          # the arrays the helpers serve
        self._awake = False       # helpers serving (or about to)
        self._blas_held = False   # this period holds the BLAS pools at one thread
        self._spinning = False    # helpers spin for jobs (calls with several workers)
        self._calls = 0           # calls led so far

    @property
    def board(self):
        """The board the helpers and the leading call share (kernels.serve's layout)."""
        return self._board

    @property
    def awake(self):
        """True during an awake period (helpers serving or keeping time, pools maybe held)."""
        return self._awake

    def run(self, command, job, data, out, n_total, tutorial, n_workers, one_blas, lr=0.0):
        """``data`` (X for kernels.FORWARD, outputs into ``out``; Y for STEP, at rate ``lr``; for
        EVALUATE the blocks hold the batch: any arrays of the network's dtype) of ``n_total``
        samples through every block of ``job``, shared with up to ``n_workers - 1`` helpers;
        ``one_blas``: the network has BLAS layers.  Returns False when a STEP made a parameter
        NaN or infinite."""
        job.scalars[0] = lr
        if (n_workers > 1 or one_blas) and self._lock.acquire(blocking=False):
            try:
                self._start_period(job, n_workers, one_blas)
                finite = kernels.lead(self._board, job.binding, command, job.net, job.blocks,
                                      job.grads, job.scalars, data, out, n_total, tutorial,
                                      min(n_workers, len(self._threads) + 1))
                self._calls += 1
            finally:
                self._lock.release()
            return finite
        # alone: nothing to share or hold, or another call leads the helpers
        with threadctl.one_blas_thread() if one_blas else contextlib.nullcontext():
            return kernels.lead(self._alone, job.binding, command, job.net, job.blocks, job.grads,
                                job.scalars, data, out, n_total, tutorial, 1)

    def _start_period(self, job, n_workers, one_blas):
        """(Holding the lock.)  The period on: the pools held at one thread if ``one_blas``, the
        helpers serving ``job`` when ``n_workers > 1`` -- else helper 1 only keeps the time, to
        end the period after SPIN_NS without calls."""
        if one_blas and not self._blas_held:
            threadctl.one_blas_thread().__enter__()
            self._blas_held = True
        while len(self._threads) < max(1, min(n_workers, kernels.MAX_HELPERS + 1) - 1):
            worker = len(self._threads) + 1
            thread = threading.Thread(target=self._serve, args=(worker,), daemon=True,
                                      name=f"fastbp-helper-{worker}")
            self._threads.append(thread)
            thread.start()
        spinning = n_workers > 1
        if self._job is not job or not self._awake or spinning != self._spinning:
            with self._wake:
                self._job, self._awake, self._spinning = job, True, spinning
                self._wake.notify_all()

    def _end_period(self):
        """(Holding the lock.)  Helpers to sleep, the BLAS pools back to their limits, the last
        job's arrays no longer kept alive here."""
        self._awake, self._job = False, None
        if self._blas_held:
            self._blas_held = False
            threadctl.one_blas_thread().__exit__(None, None, None)

    def _serve(self, worker):
        seen = 0
        while True:
            job = None  # (asleep, a helper keeps no network's arrays alive)
            with self._wake:
                while not self._awake or not (self._spinning or worker == 1):
                    self._wake.wait()
                job, spinning, calls = self._job, self._spinning, self._calls
                if not spinning:  # keep the time: wait SPIN_NS, or until the period changes
                    self._wake.wait(SPIN_NS / 1e9)
                    if self._spinning or self._job is not job:
                        continue
            if spinning:
                seen = kernels.serve_jobs(worker, self._board, job.binding, job.net, job.blocks,
                                          job.grads, job.scalars, seen, SPIN_NS)
                if self._board[SEQ] > seen:
                    continue  # a job for other arrays: serve those
            with self._lock:  # idle for SPIN_NS: the period ends unless a call came meanwhile
                if self._awake and self._calls == calls:
                    self._end_period()

    def after_fork(self):
        """In a forked child: no helper threads, no period (the parent's pools' limits stay)."""
        self.__init__()


_bindings = iter(range(1, 1 << 62))
_bindings_lock = threading.Lock()


def new_job(net, blocks, grads):
    """A Job: ``net`` (kernels.Net), ``blocks`` (kernels.Blocks) and ``grads`` (the network's
    gradient buffer) under a binding number of their own, so that a helper serving other arrays
    never computes a share of these; its scalars (kernels.serve's layout) made to fit."""
    with _bindings_lock:
        binding = next(_bindings)
    n_blocks = blocks.grads.shape[0]
    return Job(binding, net, blocks, grads, np.zeros(kernels.serve_layout.LOSSES + 2 * n_blocks))


HELPERS = Helpers()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=HELPERS.after_fork)
