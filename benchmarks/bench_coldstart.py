"""Cold start: a fresh interpreter imports fastbp and trains one epoch of the circle.

``timeraw_`` benchmarks return code that asv times in a new Python process each sample: the
returned ``setup`` code runs first, untimed (it sets the environment before anything imports
numba), then the ``stmt`` code is timed -- ``import fastbp``, building the network, one epoch
(with numba: compiling, or loading from the on-disk cache, every kernel the epoch needs).

* ``ColdStartNoCache``: ``FASTBP_CACHE=0``, so numba compiles from scratch: the first-call cost a
  user without a cache pays.
* ``ColdStartWarmCache``: ``NUMBA_CACHE_DIR`` points at a directory that ``setup_cache`` filled by
  running the same code once, so numba only loads the cached machine code.

The reference engine compiles nothing; its rows are the import-and-train floor.
"""
import os
import subprocess
import sys
import textwrap

from . import common

_STMT = """
import fastbp
X, y = fastbp.datasets.make_circle()
nn = fastbp.NeuralNetwork({sizes!r}, backend={backend!r}, dtype={dtype!r}, seed=0)
nn.fit(X, y, epochs=1, lr={lr!r})
"""

_ENV = """
import os
os.environ["FASTBP_CACHE"] = {cache!r}
{cache_dir}
"""


def _code(engine, dtype, cache, cache_dir=None):
    """(stmt, setup) for a timeraw benchmark."""
    circle = common.WORKLOADS["circle"]
    stmt = _STMT.format(backend=common.BACKEND_OF_PARAM[engine], dtype=dtype, sizes=circle.sizes,
                        lr=circle.lr)
    setup = _ENV.format(
        cache=cache,
        cache_dir=f'os.environ["NUMBA_CACHE_DIR"] = {cache_dir!r}' if cache_dir else "")
    return textwrap.dedent(stmt), textwrap.dedent(setup)


class ColdStartNoCache:
    """Import + one circle epoch in a fresh process, compile cache off (FASTBP_CACHE=0)."""

    params = (common.ENGINE_PARAMS, common.DTYPES)
    param_names = ["engine", "dtype"]
    repeat = (2, 5, 60.0)
    warmup_time = 0
    timeout = 600

    def setup(self, engine, dtype):
        common.require_network()

    def timeraw_import_and_train(self, engine, dtype):
        return _code(engine, dtype, cache="0")


class ColdStartWarmCache:
    """Import + one circle epoch in a fresh process, numba's on-disk cache already filled."""

    params = (common.ENGINE_PARAMS, common.DTYPES)
    param_names = ["engine", "dtype"]
    repeat = (3, 10, 30.0)
    warmup_time = 0
    timeout = 300

    def setup_cache(self):
        # asv runs setup_cache in a temporary directory that is the working directory of the
        # benchmarks using it and is removed after them: the cache lives there.
        cache_dir = os.path.abspath("numba_cache")
        os.makedirs(cache_dir, exist_ok=True)
        for engine in common.ENGINE_PARAMS:
            for dtype in common.DTYPES:
                stmt, setup = _code(engine, dtype, cache="1", cache_dir=cache_dir)
                subprocess.run([sys.executable, "-c", setup + stmt], check=True)
        return cache_dir

    setup_cache.timeout = 300

    def setup(self, cache_dir, engine, dtype):
        common.require_network()

    def timeraw_import_and_train(self, cache_dir, engine, dtype):
        return _code(engine, dtype, cache="1", cache_dir=cache_dir)


class Calibration:
    """The CPU calibration (``fastbp.calibration.measure``): its cost, timed cold -- measured from
    scratch, nothing read from the store -- with compilation excluded (``setup`` compiles or
    loads the training loop), and the value it chose.  Skipped on commits without it."""

    repeat = (3, 5, 30.0)
    number = 1
    warmup_time = 0

    def setup(self):
        try:
            from fastbp import calibration
        except ImportError:
            raise NotImplementedError("no fastbp.calibration in this commit") from None
        self.calibration = calibration
        calibration.measure()  # compile or load the training loop; wake the threads

    def time_measure(self):
        self.calibration.measure()

    def track_min_parallel_work(self):
        return self.calibration.measure().min_parallel_work

    track_min_parallel_work.unit = "multiply-adds"
