"""Many networks at once: ``fastbp.fit_many`` on the sweeps of ``fastbp.workloads.SWEEPS``.

* ``Sweep.time_fit_many`` / ``peakmem_fit_many``: the whole sweep (64 circle networks, 16
  spirals networks; SGD and Adam; float64 and float32) in one call, and its peak memory.
* ``SweepOverSequential.track_speedup``: sequential ``fit`` calls' time / fit_many's for the same
  sweep, measured in one process, interleaved (the sweep issue's targets: >= 1.8x on the circle,
  >= 2x on the spirals).

``ASV_SKIP_SLOW=1`` trains a quarter of the seeds for 50 epochs.  Commits before fit_many show
these as n/a.
"""
import statistics
import time

import fastbp

from . import common

_SWEEPS = ["circle", "spirals"]


def _sweep(name, dtype="float64", optimizer="sgd"):
    if not hasattr(fastbp, "fit_many"):
        raise NotImplementedError("fastbp.fit_many is not in this commit")
    from fastbp.workloads import SWEEPS

    sweep = SWEEPS[name]
    X, y = sweep.data()
    small = common.slow_skipped()
    configs = sweep.configs(dtype, optimizer, seeds=max(1, sweep.seeds // 4) if small else None,
                            epochs=50 if small else None)
    return X, y, configs


def _sequential(X, y, configs):
    """A loop of single fits: the bench's own (fastbp.bench.sweeps.sequential)."""
    from fastbp.bench.sweeps import sequential

    sequential(X, y, configs)


class Sweep:
    params = (_SWEEPS, ["sgd", "adam"], common.DTYPES)
    param_names = ["sweep", "optimizer", "dtype"]
    number = 1
    warmup_time = 0
    repeat = (2, 5, 60.0)
    timeout = 900

    def setup(self, sweep, optimizer, dtype):
        self.X, self.y, self.configs = _sweep(sweep, dtype, optimizer)
        fastbp.fit_many(self.X, self.y, self.configs[:1])  # compile or load the kernels

    def time_fit_many(self, sweep, optimizer, dtype):
        fastbp.fit_many(self.X, self.y, self.configs)

    def peakmem_fit_many(self, sweep, optimizer, dtype):
        fastbp.fit_many(self.X, self.y, self.configs)


class SweepOverSequential:
    params = _SWEEPS
    param_names = ["sweep"]
    number = 1
    repeat = 1
    warmup_time = 0
    timeout = 900
    unit = "x"

    def setup(self, sweep):
        self.X, self.y, self.configs = _sweep(sweep)
        fastbp.fit_many(self.X, self.y, self.configs[:1])
        _sequential(self.X, self.y, self.configs[:1])

    def track_speedup(self, sweep):
        ratios = []
        for _ in range(5):
            start = time.perf_counter()
            _sequential(self.X, self.y, self.configs)
            sequential = time.perf_counter() - start
            start = time.perf_counter()
            fastbp.fit_many(self.X, self.y, self.configs)
            ratios.append(sequential / (time.perf_counter() - start))
        return statistics.median(ratios)
