"""Thread control: one switch for Numba's worker threads and every BLAS pool the kernels use.

A typical install has two OpenBLAS copies with two thread pools -- NumPy's, and SciPy's, which
Numba's ``np.dot`` inside compiled code calls.  Limiting only one of them leaves the other
spinning on a core.  :func:`set_num_threads` sets Numba's thread count (``numba.set_num_threads``,
its run-time API) and, through threadpoolctl, every loaded BLAS pool, loading SciPy's first so
that it is covered too.  It never assigns ``numba.config``.
"""
import contextlib

import numba
from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

# Below this many multiply-adds in a network's largest layer product, kernels run BLAS on one
# thread: waking a second OpenBLAS thread costs more than it saves on the tutorial's networks
# (measured on 2 cores: spirals 366 vs 487 us/epoch, the efficiency demo 246 vs 305 us/step),
# while the wide and mini-batch workloads gain from two (1.8x and 1.14x).
SMALL_PRODUCT_MACS = 1 << 22


def _load_kernel_blas():
    import scipy.linalg.cython_blas  # noqa: F401  -- the BLAS behind np.dot in @njit code


def max_threads():
    """The most threads Numba can use in this process (NUMBA_NUM_THREADS, fixed at start-up)."""
    return numba.config.NUMBA_NUM_THREADS


def get_num_threads():
    """Numba's current thread count (the BLAS pools are kept equal to it by set_num_threads)."""
    return numba.get_num_threads()


def set_num_threads(n):
    """Use ``n`` threads in Numba's parallel kernels and in every BLAS pool (NumPy's and SciPy's)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the number of threads must be an int, got {n!r}")
    if not 1 <= n <= max_threads():
        raise ValueError(f"the number of threads must be between 1 and {max_threads()} "
                         f"(NUMBA_NUM_THREADS), got {n}")
    _load_kernel_blas()
    numba.set_num_threads(n)
    threadpool_limits(limits=n, user_api="blas")


@contextlib.contextmanager
def threads(n):
    """``with fastbp.threads(1): ...`` -- set_num_threads(n) inside the block, restored after."""
    _load_kernel_blas()
    previous = numba.get_num_threads()
    blas = threadpool_limits(limits=None)  # remembers the current limits of every pool
    try:
        set_num_threads(n)
        yield
    finally:
        numba.set_num_threads(previous)
        blas.restore_original_limits()


def thread_report():
    """[(library, path, threads)] for every BLAS pool loaded, plus Numba's own count."""
    _load_kernel_blas()
    pools = [(info["internal_api"], info["filepath"], info["num_threads"])
             for info in threadpool_info() if info["user_api"] == "blas"]
    return pools + [("numba", numba.config.THREADING_LAYER, numba.get_num_threads())]


class _BlasPool:
    """get/set of one BLAS library's thread count: OpenBLAS's own C entry points when it has its
    own pool (a ctypes call, well under a microsecond), threadpoolctl's controller otherwise."""

    def __init__(self, controller):
        self.get_num_threads = controller.get_num_threads
        self.set_num_threads = controller.set_num_threads
        if controller.internal_api != "openblas" or controller.threading_layer == "openmp":
            return
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_", "_64"):
                getter = getattr(controller.dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
                setter = getattr(controller.dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if getter is not None and setter is not None:
                    self.get_num_threads, self.set_num_threads = getter, setter
                    return


_kernel_blas_pools = []


def _blas_pools():
    """Every loaded BLAS library's pool (SciPy's included), looked up once."""
    if not _kernel_blas_pools:
        _load_kernel_blas()
        controllers = ThreadpoolController().select(user_api="blas").lib_controllers
        _kernel_blas_pools.extend(_BlasPool(controller) for controller in controllers)
    return _kernel_blas_pools


class blas_threads_for:
    """One BLAS thread inside the ``with`` block when the largest layer product is small.

    ``largest_product``: multiply-adds of the biggest (samples x n_in x n_out) product of a step.
    Otherwise nothing changes.  It never raises the thread count the user chose, and costs a
    couple of microseconds (it runs around every compiled call of the numba engine).
    """

    def __init__(self, largest_product):
        self.small = largest_product < SMALL_PRODUCT_MACS
        self.previous = ()

    def __enter__(self):
        if self.small:
            pools = _blas_pools()
            self.previous = [pool.get_num_threads() for pool in pools]
            for pool, threads in zip(pools, self.previous):
                if threads != 1:
                    pool.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for pool, threads in zip(_kernel_blas_pools, self.previous):
            if threads != 1:
                pool.set_num_threads(threads)
        return False
