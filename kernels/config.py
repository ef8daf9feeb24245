"""Compilation settings shared by every kernel: one place for fastmath, caching and layout rules.

* ``FAST_FLOATS`` -- the fastmath flags.  Never bare ``fastmath=True``: ``nnan``/``ninf`` would let
  LLVM delete the NaN/inf checks that guard training.  ``reassoc`` lets LLVM vectorise the
  long reductions over the batch (gradients, losses); ``contract`` allows FMA.  No ``arcp``:
  x / n must stay a true division (accuracy = 235 / 500 must print as the reference's 0.47).
* ``CACHE_ENABLED`` -- compiled code is cached on disk unless ``FASTBP_CACHE=0``.  Numba falls back
  to a user-wide cache directory when the package directory is read-only and respects
  ``NUMBA_CACHE_DIR``.  Read once, at import.
* ``BLAS_MIN_FLOPS`` -- a layer product at least this large goes to BLAS (``np.dot`` in ``@njit``);
  smaller ones run in explicit loops, where a BLAS call's fixed cost would dominate.
"""
import os

import numba

FAST_FLOATS = frozenset({"nsz", "contract", "reassoc"})

CACHE_ENABLED = os.environ.get("FASTBP_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}

BLAS_MIN_FLOPS = 64 * 64 * 64


def kernel(func):
    """Compile ``func`` lazily with fastbp's settings (one specialisation per dtype)."""
    return numba.njit(
        func,
        cache=CACHE_ENABLED,
        fastmath=set(FAST_FLOATS),
        nogil=True,
        error_model="numpy",
    )
