"""Whole training runs through the public API, on both engines and both dtypes.

* ``<Workload>.time_fit`` / ``peakmem_fit``: ``NeuralNetwork(...).fit(X, y, ...)`` for the tutorial's
  circle and spirals, a wide network and an epoch of mini-batch SGD (see common.WORKLOADS).  A
  fresh seeded network per timed call (built in setup), compiled beforehand, data converted
  beforehand.  peakmem is the benchmark process's peak RSS, so it includes the data set.
* ``EfficiencyDemo``: the tutorial's efficiency demo -- ``forward`` alone and ``forward`` +
  ``backward(y, lr=0.0)`` of [20, 128, 64, 1] on a batch of 100.
* ``JitSpeedup.track_speedup``: reference time / numba time of each workload, both measured in
  the same process (medians of several runs): the number the project promises.
* ``ThreadSpeedup.track_thread_speedup``: the numba engine's fit on one thread / on every thread,
  in the same process: what the data-parallel training loops give; ``_after_idle``: the same
  with the process idle for 0.3 s before every fit.
* ``FinalMetrics``: loss and accuracy after the circle and spirals training -- results are part
  of the contract, so a change there is a regression too.

With ASV_SKIP_SLOW=1 the timing workloads shrink -- mini-batch: 6000 rows,
not 60000; spirals: 300 epochs, not 3000 -- so do not record results with it.  FinalMetrics
always trains in full.
"""
import time

import fastbp

from . import common


class _Training:
    params = (common.ENGINE_PARAMS, common.DTYPES)
    param_names = ["engine", "dtype"]
    workload = None
    number = 1          # each timed fit() starts from a fresh network built by setup()
    timeout = 300

    def setup(self, engine, dtype):
        workload = common.WORKLOADS[self.workload]
        workload.require()
        self.X, self.y = workload.data(dtype)
        workload.warm_up(engine, dtype)
        self.options = workload.fit_options()
        self.nn = common.make_network(workload.sizes, engine, dtype)

    def time_fit(self, engine, dtype):
        self.nn.fit(self.X, self.y, **self.options)

    def peakmem_fit(self, engine, dtype):
        self.nn.fit(self.X, self.y, **self.options)


class Circle(_Training):
    """The tutorial's circle: [2, 16, 8, 1], 500 points, 1000 full-batch epochs, lr 0.1."""

    workload = "circle"


class Spirals(_Training):
    """The tutorial's spirals: [2, 64, 32, 16, 1], 600 points, 3000 full-batch epochs, lr 0.05."""

    workload = "spirals"
    warmup_time = 0     # setup already compiled; seconds per run
    repeat = (2, 5, 40.0)


class Wide(_Training):
    """[256, 1024, 1024, 1] on 2048 random samples: 3 full-batch epochs, lr 0.01."""

    workload = "wide"
    warmup_time = 0
    repeat = (2, 5, 30.0)


class MiniBatch(_Training):
    """[784, 256, 128, 1] on 60000 x 784 random samples: one shuffled epoch, batch 128, lr 0.01."""

    workload = "minibatch"
    warmup_time = 0
    repeat = (1, 3, 60.0)
    timeout = 600


class EfficiencyDemo:
    """The tutorial's efficiency demo: [20, 128, 64, 1], one batch of 100 random samples."""

    params = (common.ENGINE_PARAMS, common.DTYPES)
    param_names = ["engine", "dtype"]
    number = 50
    repeat = (5, 20, 10.0)

    def setup(self, engine, dtype):
        common.require_network()
        common.require_method("forward")
        common.require_method("backward")
        self.X, self.y = common.random_binary_data(
            common.EFFICIENCY_BATCH, common.EFFICIENCY_SIZES[0], dtype)
        self.nn = common.efficiency_network(engine, dtype)

    def time_forward(self, engine, dtype):
        self.nn.forward(self.X)

    def time_forward_backward(self, engine, dtype):
        self.nn.forward(self.X)
        self.nn.backward(self.y, lr=0.0)


# -- one thread: the step itself, without the machine's thread placement ----------------------
class _OneThread:
    """Mixin: fastbp (its workers, Numba) and every BLAS pool on one thread while timed.

    On a 2-core VM the timings above run in one of two modes fixed for a while or for a whole
    process -- where the OS puts a fit's second worker, or the BLAS pool's second thread
    (docs/decisions.md) -- and asv, timing each commit in processes of its own, can set a fast
    mode against a slow one.  On one thread there is one mode: a change in these rows is the
    code's."""

    def setup(self, engine, dtype):
        if not hasattr(fastbp, "threads"):
            raise NotImplementedError("fastbp.threads is missing on this commit")
        super().setup(engine, dtype)
        self._one_thread = fastbp.threads(1)
        self._one_thread.__enter__()

    def teardown(self, engine, dtype):
        self._one_thread.__exit__(None, None, None)


class CircleOneThread(_OneThread, Circle):
    """The circle's fit (as ``Circle``) on one thread."""


class EfficiencyDemoOneThread(_OneThread, EfficiencyDemo):
    """The efficiency demo's calls (as ``EfficiencyDemo``) on one thread."""


# -- the JIT's speedup over the reference, measured in one process ------------------------------
def _fit_runner(name, engine, dtype):
    workload = common.WORKLOADS[name]
    X, y = workload.data(dtype)
    options = workload.fit_options()
    return (lambda: common.make_network(workload.sizes, engine, dtype),
            lambda nn: nn.fit(X, y, **options), 1)


def _efficiency_runner(backward):
    def runner(name, engine, dtype):
        X, y = common.random_binary_data(common.EFFICIENCY_BATCH, common.EFFICIENCY_SIZES[0], dtype)

        def run(nn):
            nn.forward(X)
            if backward:
                nn.backward(y, lr=0.0)
        return (lambda: common.efficiency_network(engine, dtype), run, 50)
    return runner


# workload -> (runner, repeats, repeats when slow runs are skipped)
_SPEEDUP_WORKLOADS = {
    "circle": (_fit_runner, 5, 3),
    "spirals": (_fit_runner, 3, 1),
    "efficiency_forward": (_efficiency_runner(False), 7, 3),
    "efficiency_forward_backward": (_efficiency_runner(True), 7, 3),
    "wide": (_fit_runner, 3, 1),
    "minibatch": (_fit_runner, 3, 1),
}


class JitSpeedup:
    """Reference median time / numba median time of one workload (x; higher is better)."""

    params = (list(_SPEEDUP_WORKLOADS), common.DTYPES)
    param_names = ["workload", "dtype"]
    unit = "x"
    timeout = 600

    def setup(self, workload, dtype):
        common.require_network()
        if workload.startswith("efficiency"):
            common.require_method("forward")
            common.require_method("backward")
            for engine in common.ENGINE_PARAMS:
                common.efficiency_network(engine, dtype)
        else:
            common.WORKLOADS[workload].require()
            for engine in common.ENGINE_PARAMS:
                common.WORKLOADS[workload].warm_up(engine, dtype)

    def track_speedup(self, workload, dtype):
        runner, repeats, quick_repeats = _SPEEDUP_WORKLOADS[workload]
        if common.slow_skipped():
            repeats = quick_repeats
        medians = {}
        for engine in common.ENGINE_PARAMS:
            prepare, run, inner = runner(workload, engine, dtype)
            medians[engine] = common.median_seconds(run, repeats, prepare=prepare, inner=inner)
        return medians["reference"] / medians["numba"]


class ThreadSpeedup:
    """numba engine: fit's median time on one thread / on every thread (x; higher is better), in
    one process -- what the data-parallel training loops give on this machine (1.0 where fit
    keeps one worker, or on a 1-core machine)."""

    params = (["circle", "spirals"], common.DTYPES)
    param_names = ["workload", "dtype"]
    unit = "x"
    timeout = 600

    def setup(self, workload, dtype):
        common.require_network()
        if not hasattr(fastbp, "threads"):
            raise NotImplementedError("fastbp.threads is missing on this commit")
        common.WORKLOADS[workload].require()
        common.WORKLOADS[workload].warm_up("numba", dtype)

    def track_thread_speedup(self, workload, dtype):
        return self._speedup(workload, dtype, idle_seconds=0.0)

    def track_thread_speedup_after_idle(self, workload, dtype):
        """The same with the process idle for 0.3 s before every fit, as between a user's calls:
        Linux then tended to run both workers on one core (the circle's fit fell back to one
        worker 4 times in 5 before the workers were bound to CPUs of their own)."""
        return self._speedup(workload, dtype, idle_seconds=0.3)

    def _speedup(self, workload, dtype, idle_seconds):
        _, repeats, quick_repeats = _SPEEDUP_WORKLOADS[workload]
        if common.slow_skipped():
            repeats = quick_repeats
        make_network, run, inner = _fit_runner(workload, "numba", dtype)

        def prepare():
            nn = make_network()
            time.sleep(idle_seconds)
            return nn

        with fastbp.threads(1):
            one = common.median_seconds(run, repeats, prepare=prepare, inner=inner)
        every = common.median_seconds(run, repeats, prepare=prepare, inner=inner)
        return one / every


# -- results after training ---------------------------------------------------------------------
_METRIC_DATASETS = ["circle", "spirals"]


class FinalMetrics:
    """Loss and accuracy on the training data after the tutorial's circle and spirals training.

    All trainings run once, in setup_cache; the track_ functions only read their results.
    """

    params = (_METRIC_DATASETS, common.ENGINE_PARAMS, common.DTYPES)
    param_names = ["dataset", "engine", "dtype"]

    def setup_cache(self):
        results = {}
        try:
            common.require_network()
            common.require_method("loss")
            common.require_method("score")
        except NotImplementedError as error:
            return {"skip": str(error)}
        for name in _METRIC_DATASETS:
            workload = common.WORKLOADS[name]
            for engine in common.ENGINE_PARAMS:
                for dtype in common.DTYPES:
                    X, y = workload.data(dtype)
                    nn = common.make_network(workload.sizes, engine, dtype)
                    nn.fit(X, y, **workload.fit_options(full=True))
                    results[name, engine, dtype] = (float(nn.loss(X, y)), float(nn.score(X, y)))
        return results

    setup_cache.timeout = 300

    def setup(self, results, dataset, engine, dtype):
        if "skip" in results:
            raise NotImplementedError(results["skip"])

    def track_final_loss(self, results, dataset, engine, dtype):
        return results[dataset, engine, dtype][0]

    track_final_loss.unit = "mean BCE"

    def track_final_accuracy(self, results, dataset, engine, dtype):
        return results[dataset, engine, dtype][1]

    track_final_accuracy.unit = "fraction correct"
