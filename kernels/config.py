"""Compilation settings shared by every kernel: one place for fastmath, caching and layout rules.

* ``FAST_FLOATS`` -- the fastmath flags.  Never bare ``fastmath=True``: ``nnan``/``ninf`` would let
  LLVM delete the NaN/inf checks that guard training.  ``reassoc`` lets LLVM vectorise the
  long reductions over the batch (gradients, losses); ``contract`` allows FMA.  No ``arcp``:
  x / n must stay a true division (accuracy = 235 / 500 must print as the reference's 0.47).
* ``CACHE_ENABLED`` -- compiled code is cached on disk unless ``FASTBP_CACHE=0``.  Numba falls back
  to a user-wide cache directory when the package directory is read-only and respects
  ``NUMBA_CACHE_DIR``.  Read once, at import.
* ``use_blas`` -- which layer products go to BLAS (``np.dot`` in ``@njit``): both sides at least
  ``BLAS_MIN_WIDTH`` wide.  Thin layers (the tutorial's 2-wide inputs, 1-wide outputs) run in
  explicit loops over the batch, which beat a BLAS call there (measured: ``python -m fastbp bench``
  and the asv kernel benchmarks).
"""
import os

import numba

FAST_FLOATS = frozenset({"nsz", "contract", "reassoc"})

CACHE_ENABLED = os.environ.get("FASTBP_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}

BLAS_MIN_WIDTH = 8


def kernel(func):
    """Compile ``func`` lazily with fastbp's settings (one specialisation per dtype).

    With caching on, a kernel whose cache has nowhere to go (read-only install and no writable
    user cache directory) is compiled in memory instead -- silently, as the cache is only a speed-up.
    """
    options = {"fastmath": set(FAST_FLOATS), "nogil": True, "error_model": "numpy"}
    if CACHE_ENABLED:
        try:
            return numba.njit(func, cache=True, **options)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            pass
    return numba.njit(func, **options)


@kernel
def use_blas(n_in, n_out):
    """True when an (n_in, n_out) layer's products should go to BLAS rather than explicit loops."""
    return n_in >= BLAS_MIN_WIDTH and n_out >= BLAS_MIN_WIDTH and n_in * n_out >= 256
