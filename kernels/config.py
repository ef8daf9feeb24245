"""Compilation settings shared by every kernel: one place for fastmath, caching and layout rules.

* ``FAST_FLOATS`` -- the fastmath flags.  Never bare ``fastmath=True``: ``nnan``/``ninf`` would let
  LLVM delete the NaN/inf checks that guard training.  ``reassoc`` lets LLVM vectorise the
  long reductions over the batch (gradients, losses); ``contract`` allows FMA.  No ``arcp``:
  x / n must stay a true division (accuracy = 235 / 500 must print as the reference's 0.47).
* No reference counting (Numba's ``_nrt=False``): the kernels allocate nothing -- every array
  is the caller's or a view of one -- so they need no NRT, and with it every row view a loop
  takes (``Z[o]``) cost an atomic ``NRT_incref``/``NRT_decref`` pair: a large part of a small
  layer's fixed cost per call (docs/decisions.md).  Numba refuses to compile an allocation
  without NRT, so the rule enforces itself.  A kernel that returns an array view must be
  inlined (``inline=True``): Numba without NRT may return only an argument itself.
* ``CACHE_ENABLED`` -- compiled code is cached on disk unless ``FASTBP_CACHE=0``.  Numba falls back
  to a user-wide cache directory when the package directory is read-only and respects
  ``NUMBA_CACHE_DIR``.  Read once, at import.  Numba would judge a cached kernel fresh by the
  timestamp of its own file only, and a kernel compiles its callees (from other files) into
  itself: so every kernel's cache entry is stamped with ``SOURCES_STAMP``, a digest of all kernel
  sources and of the BLAS library the kernels call (``blas.LIBRARY``), and any edit or upgrade of
  any kernel file, or a switch of BLAS, recompiles all of them.
* ``COMPILE_GC_THRESHOLD`` -- while Numba compiles a fastbp kernel (and the kernels it calls),
  the garbage collector's first threshold is raised to it from Python's 700, then restored.
  Compiling allocates millions of short-lived IR objects; Python's default thresholds ran a
  collection every 700 of them, a large part of the first fit's compilation (the numbers, and
  the memory it costs instead, are in docs/decisions.md).  A threshold of 0 (automatic
  collection off) is left as it is.
* ``use_blas`` -- which layer products go to BLAS (``blas.gemm``): both sides at least
  ``BLAS_MIN_WIDTH`` wide and more than ``BLAS_MIN_WEIGHTS`` weights.  Smaller layers (the
  tutorial's 2-wide inputs, 1-wide outputs, the circle's 16x8, the spirals' 32x16) run in
  register-blocked loops over the batch, which beat a BLAS call there (asv's kernel benchmarks
  time both sides of the line; the measurements are in docs/decisions.md).  Where OpenBLAS
  serves a table without AVX-512 on an AVX-512 CPU (``blas.NARROW_TABLE``: e.g. a table named
  in ``OPENBLAS_CORETYPE``), the loops run twice its vector width and the line moves up to
  ``BLAS_MIN_WEIGHTS_NARROW`` weights.  Derived from the tables and the CPU's features, not
  measured: the line changes a fit's last bits.
* ``delta_sample_major`` -- which BLAS weight gradients ``A_in @ D.T`` lay the delta out
  sample-major first (a transposed copy, then ``A_in @ D_t``): where OpenBLAS computes the
  product with its small-matrix kernels (``blas.SMALL_KERNELS``: AVX-512 cores, up to 100^3
  multiply-adds), whose kernel for that layout is faster than the one for ``A_in @ D.T`` by more
  than the copy costs once the layer is ``DELTA_T_MIN_IN`` inputs by ``DELTA_T_MIN_OUT`` outputs
  over ``DELTA_T_MIN_SAMPLES`` samples (whole, or split into blocks of rows by
  ``product_rows``: ``A_in @ D.T``'s kernel takes no such block); and no more outputs than
  inputs, as the copy goes where the previous layer's delta will be (``train.delta_scratch``).
  Not measured at run time: the choice can change a product's last bits, and a fit's bits must
  not depend on a measurement (docs/decisions.md).
* ``product_rows`` -- how a BLAS product past that permit is split: into calls over blocks of
  C's rows (``products.product``), each within the permit, so the small-matrix kernels compute
  every block without packing the operands or clearing C first (``products.product`` does so
  only while the BLAS pool runs one thread, as in fits).  Derived, like the line above,
  from the core OpenBLAS reports and the permit, not measured: a block of rows can have other
  last bits than the whole product (docs/decisions.md).  Elsewhere (no small-matrix kernels,
  or a product so large that not even 16 rows in float32, 8 in float64, stay within the permit)
  one call computes the whole product.
"""
import gc
import hashlib
import os

try:
    import fcntl
except ImportError:  # pragma: no cover -- Windows: Numba's own unlocked cache writes
    fcntl = None
from pathlib import Path

import numba
from numba.core import event

from . import linking  # noqa: F401 -- callers always call their own copies (see there)
from .blas import FLOAT32_LIBRARY as BLAS_LIBRARY_FLOAT32
from .blas import LIBRARY as BLAS_LIBRARY
from .blas import NARROW_TABLE, SMALL_KERNEL_MOST_WORK, SMALL_KERNELS

FAST_FLOATS = frozenset({"nsz", "contract", "reassoc"})

CACHE_ENABLED = os.environ.get("FASTBP_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}
CACHE_PROBLEMS = []  # why kernels compile in memory although the cache is enabled (API: a warning)

COMPILE_GC_THRESHOLD = 10_000

BLAS_MIN_WIDTH = 8
BLAS_MIN_WEIGHTS_ENV = "FASTBP_BLAS_MIN_WEIGHTS"


BLAS_MIN_WEIGHTS_DEFAULT = 512
BLAS_MIN_WEIGHTS_NARROW = 128 * 128


def _blas_min_weights():
    """The BLAS line's weights: ``FASTBP_BLAS_MIN_WEIGHTS`` if set; else 128 x 128 where the
    kernels' OpenBLAS serves a table without AVX-512 on an AVX-512 CPU (``blas.NARROW_TABLE``),
    512 elsewhere (why: docs/decisions.md)."""
    text = os.environ.get(BLAS_MIN_WEIGHTS_ENV, "").strip()
    if not text:
        return BLAS_MIN_WEIGHTS_NARROW if NARROW_TABLE else BLAS_MIN_WEIGHTS_DEFAULT
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{BLAS_MIN_WEIGHTS_ENV} must be an int >= 0, got {text!r}")
    return value


BLAS_MIN_WEIGHTS = _blas_min_weights()


def _sources_stamp():
    digest = hashlib.sha256(f"{BLAS_LIBRARY} {BLAS_LIBRARY_FLOAT32}".encode())  # the libraries called
    digest.update(f"{BLAS_MIN_WIDTH} {BLAS_MIN_WEIGHTS} {SMALL_KERNELS}".encode())  # compiled-in constants
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


SOURCES_STAMP = _sources_stamp()


def _stamp_cache(dispatcher):
    """Key ``dispatcher``'s cache entries to SOURCES_STAMP, and make its saves and loads hold an
    inter-process lock; False if this Numba's cache differs."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    needed = ("_source_stamp", "_index_path", "save", "load")
    if cache_file is None or not all(hasattr(cache_file, name) for name in needed):
        return False
    cache_file._source_stamp = SOURCES_STAMP
    if fcntl is not None:
        cache_file.save = _locked(cache_file.save, cache_file._index_path, fcntl.LOCK_EX)
        cache_file.load = _locked(cache_file.load, cache_file._index_path, fcntl.LOCK_SH)
    return True


def _locked(method, index_path, mode):
    """``method`` holding an flock on ``index_path + ".lock"``.  Numba's save reads the index,
    picks the first free data file name, rewrites the index and writes the data: two processes
    compiling different signatures of one kernel at once could both pick one name, and an index
    could then point to the other's code.  Under the lock a save is whole before a load or another
    save looks.  (Without a writable lock file the method runs unlocked, as Numba's own.)"""
    def run(*args):
        try:
            handle = open(index_path + ".lock", "a+b")
        except OSError:
            return method(*args)
        with handle:
            fcntl.flock(handle, mode)
            try:
                return method(*args)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    return run


class _FewerCollections(event.Listener):
    """Raises the collector's first threshold while a fastbp kernel compiles (see above)."""

    def __init__(self):
        self.depth = 0  # nested compilations: the callees of the kernel being compiled
        self.saved = None

    def on_start(self, event):
        self.depth += 1
        if self.depth == 1 and event.data["dispatcher"].py_func.__module__.startswith(__package__):
            thresholds = gc.get_threshold()
            if thresholds[0] > 0:
                self.saved = thresholds
                gc.set_threshold(max(thresholds[0], COMPILE_GC_THRESHOLD), *thresholds[1:])

    def on_end(self, event):
        self.depth -= 1
        if self.depth == 0 and self.saved is not None:
            gc.set_threshold(*self.saved)
            self.saved = None


event.register("numba:compile", _FewerCollections())  # Numba compiles under its global lock


def kernel(func=None, *, inline=False, python=True, linked=True):
    """Compile ``func`` lazily with fastbp's settings (one specialisation per dtype).

    ``linked=False`` (the big loop kernels, the whole-network passes and the training steps'
    parts) has compiled callers call the kernel's one compiled code by address instead of
    linking a copy of it, which Numba would optimise and compile to machine code again in every
    caller and in the callers' callers (``linking``; docs/decisions.md).  Small kernels stay
    linked: LLVM inlines them into their callers' loops (and two reductions, ``derivative_row``
    and ``bce_loss_sum``, keep the bits of their linked copies).

    ``inline=True`` (the per-layer wrappers and small helpers) inlines the function into its
    compiled callers at Numba's IR level: one module less to compile, no call.

    ``python=False`` (kernels only ever called from compiled code) compiles no CPython wrapper,
    which shortens the first fit's compilation.  Such a kernel must not be called from Python (it
    would crash); none of them is exported by ``fastbp.kernels``.  No kernel gets Numba's C
    wrapper (``cfunc``, for first-class function values, which fastbp does not use).

    With caching on, a kernel whose cache has nowhere to go (read-only install and no writable
    user cache directory), or a Numba whose cache cannot be stamped with SOURCES_STAMP, compiles
    in memory instead: the cache is only a speed-up, stale code never is.  The reason goes into
    ``CACHE_PROBLEMS``, which the API layer reports once (fastbp.compilation).
    """
    if func is None:
        return lambda f: kernel(f, inline=inline, python=python, linked=linked)
    options = {"fastmath": set(FAST_FLOATS), "nogil": True, "error_model": "numpy",
               "no_cfunc_wrapper": True, "_nrt": False}
    if inline:
        options["inline"] = "always"
    if not python:
        options["no_cpython_wrapper"] = True
    jit = numba.njit if linked else linking.called_by_address
    if CACHE_ENABLED:
        try:
            cached = jit(func, cache=True, **options)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            cached = None
            _cache_problem("no writable cache directory (a read-only install, and no writable "
                           "NUMBA_CACHE_DIR or user cache directory)")
        if cached is not None and _stamp_cache(cached):
            return cached
        if cached is not None:
            _cache_problem(f"Numba {numba.__version__}'s cache cannot be keyed to fastbp's kernel "
                           "sources, and a stale cached kernel is never used")
    return jit(func, **options)


def _cache_problem(reason):
    if reason not in CACHE_PROBLEMS:
        CACHE_PROBLEMS.append(reason)


DELTA_T_MIN_IN = 64
DELTA_T_MIN_OUT = 24
DELTA_T_MIN_SAMPLES = 32


@kernel
def use_blas(n_in, n_out):
    """True when an (n_in, n_out) layer's products should go to BLAS rather than explicit loops."""
    return n_in >= BLAS_MIN_WIDTH and n_out >= BLAS_MIN_WIDTH and n_in * n_out > BLAS_MIN_WEIGHTS


@kernel
def product_rows(m, n, k, itemsize):
    """How many of C's m rows one BLAS call of a product C (m, n) = A (m, k) @ B (k, n) computes
    (see the module docstring): all m, or, where OpenBLAS has small-matrix kernels for this
    dtype (``itemsize`` bytes) and the product is past their permit, the most rows whose share
    stays within it, a multiple of 16 rows in float32 or 8 in float64: a block of an F-ordered
    A then starts on a 64-byte line (blocks that did not ran up to 2x slower)."""
    small = SMALL_KERNELS[1] if itemsize == 4 else SMALL_KERNELS[0]
    if not small or m * n * k <= SMALL_KERNEL_MOST_WORK:
        return m
    align = 64 // itemsize
    rows = SMALL_KERNEL_MOST_WORK // (n * k) // align * align
    return rows if 0 < rows < m else m


@kernel
def delta_sample_major(n_in, n_out, n, float32):
    """True when the BLAS weight gradient of an (n_in, n_out) layer over n samples should lay its
    delta out sample-major first (see the module docstring); ``float32``: the products' dtype."""
    small = SMALL_KERNELS[1] if float32 else SMALL_KERNELS[0]
    return (small and use_blas(n_in, n_out) and n_in >= DELTA_T_MIN_IN
            and DELTA_T_MIN_OUT <= n_out <= n_in and n >= DELTA_T_MIN_SAMPLES
            and (n_in * n_out * n <= SMALL_KERNEL_MOST_WORK
                 or product_rows(n_in, n_out, n, 4 if float32 else 8) < n_in))
