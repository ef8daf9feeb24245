"""``gemm(A, B, C)``: C = A @ B through BLAS, for the products of wide layers.

Which BLAS (``LIBRARY`` for float64 and ``FLOAT32_LIBRARY`` for float32, chosen once at import;
``FASTBP_BLAS=numpy`` or ``=scipy`` sets both; by default float32 products call SciPy's, see
``FLOAT32_LIBRARY``):

* ``"numpy"`` -- NumPy's own OpenBLAS (the ``cblas_sgemm``/``cblas_dgemm`` of the 64-bit-integer
  build NumPy's wheels bundle), when it is there.  The same library as ``np.dot`` in NumPy code,
  so the reference engine, the user's NumPy code and the kernels share one BLAS thread pool, and
  it is the newer and faster of the two copies a typical install has (docs/decisions.md).
* ``"scipy"`` -- what ``np.dot`` inside ``@njit`` calls: Numba's ``numba_xxgemm`` helper over
  SciPy's ``cython_blas`` ``sgemm``/``dgemm``.  The fallback where NumPy's BLAS is not an
  OpenBLAS with 64-bit-integer CBLAS symbols (other builds, MKL, Accelerate).

Either way the call skips what ``np.dot`` compiles around it -- shape checks with formatted error
messages, copies of non-contiguous operands, a zero-size path -- whose compilation the first
fit would pay (docs/decisions.md).  The callers guarantee what ``np.dot`` would check: A (m, k) and B (k, n)
C- or F-contiguous, C (m, n) C-contiguous, one dtype (float32 or float64), k >= 1.

Compiled code names the CBLAS function by a fixed symbol (``fastbp_cblas_sgemm``/``_dgemm``)
that this module binds to the library's address in every process, so cached kernels stay valid;
the library choice is part of the cache stamp (``config.SOURCES_STAMP``).
"""
import ctypes
import os

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import openblas

LIBRARY_ENV = "FASTBP_BLAS"
SYMBOLS = {"float32": "fastbp_cblas_sgemm", "float64": "fastbp_cblas_dgemm"}

# CBLAS enums
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _numpy_openblas_gemms():
    """{"float32": address, "float64": address} of NumPy's bundled OpenBLAS ILP64 CBLAS, or None."""
    for path in openblas.library_paths("numpy"):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_cblas_", "64_"), ("cblas_", "64_")):  # NumPy >= 2 / 1.x
            try:
                functions = {dtype: getattr(library, f"{prefix}{letter}gemm{suffix}")
                             for dtype, letter in (("float32", "s"), ("float64", "d"))}
            except AttributeError:
                continue
            return {dtype: ctypes.cast(f, ctypes.c_void_p).value for dtype, f in functions.items()}
    return None


def _choose_library():
    wanted = os.environ.get(LIBRARY_ENV, "").strip().lower()
    if wanted not in {"", "numpy", "scipy"}:
        raise ValueError(f"{LIBRARY_ENV} must be 'numpy' or 'scipy', got {wanted!r}")
    addresses = _numpy_openblas_gemms()
    if addresses is not None:
        # Bound even when SciPy's is chosen: processes with different settings may share one
        # cache directory, and one could load another's freshly written code; it must link.
        for dtype, address in addresses.items():
            binding.add_symbol(SYMBOLS[dtype], address)
    if wanted == "scipy":
        return "scipy"
    if addresses is None:
        if wanted == "numpy":
            raise RuntimeError(f"{LIBRARY_ENV}=numpy, but NumPy's BLAS is not an OpenBLAS with "
                               "64-bit-integer CBLAS symbols")
        return "scipy"
    return "numpy"


LIBRARY = _choose_library()

# float32 products go to SciPy's BLAS unless FASTBP_BLAS names one: through NumPy's bundled
# OpenBLAS sgemm, two workers of which one computes several blocks gave fits that differed from
# the same fit on one worker (the soaks are in docs/decisions.md; float64 and SciPy's copy did
# not).  A seeded fit's bits must not depend on its workers, whatever that costs in speed.
FLOAT32_LIBRARY = LIBRARY if os.environ.get(LIBRARY_ENV, "").strip() else "scipy"


def library_of(dtype):
    """The BLAS library (``"numpy"`` or ``"scipy"``) the kernels' products of ``dtype`` call."""
    return FLOAT32_LIBRARY if str(dtype) == "float32" else LIBRARY


# OpenBLAS's AVX-512 kernels (``openblas.AVX512_CORES``) compute products of up to 100^3
# multiply-adds with "small-matrix" kernels that skip packing, one per operand layout (the permit:
# ``gemm_small_kernel_permit_skylakex.c``).
SMALL_KERNEL_MOST_WORK = 100 ** 3

# {"numpy": (chosen, served), "scipy": ...}: the core each bundled OpenBLAS chose when it was
# loaded and the one it serves -- the AVX-512 table where ``FASTBP_OPENBLAS_CORE`` asks for it
# (``openblas.serve_avx512``; both libraries, so np.dot and the kernels run the same table).
CORES = {library: openblas.serve_avx512(openblas.library_paths(library))
         for library in ("numpy", "scipy")}


# Whether the kernels' libraries serve a table without AVX-512 on an AVX-512 CPU (config's BLAS line).
NARROW_TABLE = openblas.narrow_table({library: CORES[library]
                                      for library in {LIBRARY, FLOAT32_LIBRARY}})


THREADS_SYMBOLS = {"float32": "fastbp_blas_threads_float32",
                   "float64": "fastbp_blas_threads_float64"}


def _small_kernels(dtype):
    """Whether the products of ``dtype`` run on OpenBLAS's small-matrix kernels; if so, the
    library's thread count (``openblas_get_num_threads``) is bound to ``THREADS_SYMBOLS[dtype]``
    for ``blas_threads``."""
    paths = openblas.library_paths(library_of(dtype))
    if CORES[library_of(dtype)][1] not in openblas.AVX512_CORES:
        return False
    threads = openblas.function(paths, ("scipy_openblas_get_num_threads64_",
                                         "scipy_openblas_get_num_threads",
                                         "openblas_get_num_threads64_", "openblas_get_num_threads"))
    if threads is None:
        return False
    binding.add_symbol(THREADS_SYMBOLS[dtype], ctypes.cast(threads, ctypes.c_void_p).value)
    return True


# Whether the products of each dtype run on OpenBLAS's small-matrix kernels (float64, float32):
# kernels.config.delta_sample_major reads it (a compiled-in constant, part of the cache stamp).
SMALL_KERNELS = (_small_kernels("float64"), _small_kernels("float32"))


def _rows(context, builder, signature, args, rows):
    """(A, B, C, m, first): the operands' array structs, the number of C's rows computed and the
    first of them (``rows``: None for all of them, else the (start, stop) values)."""
    A, B, C = (context.make_array(t)(context, builder, v)
               for t, v in zip(signature.args[:3], args[:3]))
    m = cgutils.unpack_tuple(builder, A.shape)[0]
    if rows is None:
        return A, B, C, m, ir.Constant(m.type, 0)
    start, stop = (context.cast(builder, v, t, types.intp) for v, t in zip(rows, signature.args[3:]))
    return A, B, C, builder.sub(stop, start), start


def _row_pointer(builder, array, layout, row, width):
    """Where row ``row`` of a C- (``width`` elements per row) or F-contiguous matrix starts."""
    offset = builder.mul(row, width) if layout == "C" else row
    return builder.gep(array.data, [offset])


def _cblas_call(context, builder, signature, args, rows=None):
    """C[rows] = A[rows] @ B as one cblas_?gemm call, row-major, transposes from the layouts."""
    A_type, B_type, C_type = signature.args[:3]
    A, B, C, m, first = _rows(context, builder, signature, args, rows)
    index = ir.IntType(64)  # blasint of an ILP64 OpenBLAS (intp is narrower on 32-bit machines)

    def blasint(extent):
        return extent if extent.type == index else builder.sext(extent, index)

    m_all, k = (blasint(d) for d in cgutils.unpack_tuple(builder, A.shape))
    n = blasint(cgutils.unpack_tuple(builder, C.shape)[1])
    m, first = blasint(m), blasint(first)
    one = ir.Constant(index, 1)

    def leading(extent):  # BLAS wants a leading dimension >= 1 even for empty operands
        return builder.select(builder.icmp_signed(">", extent, one), extent, one)

    def operand(array_type, rows, cols):  # (transpose flag, leading dimension) of a row-major call
        if array_type.layout == "C":
            return ir.Constant(ir.IntType(32), _NO_TRANS), leading(cols)
        return ir.Constant(ir.IntType(32), _TRANS), leading(rows)

    trans_a, lda = operand(A_type, m_all, k)
    trans_b, ldb = operand(B_type, k, n)
    real = context.get_value_type(C_type.dtype)
    pointer = real.as_pointer()
    function_type = ir.FunctionType(ir.VoidType(), [
        ir.IntType(32), ir.IntType(32), ir.IntType(32), index, index, index,
        real, pointer, index, pointer, index, real, pointer, index])
    function = cgutils.get_or_insert_function(builder.module, function_type,
                                              SYMBOLS[str(C_type.dtype)])
    builder.call(function, [
        ir.Constant(ir.IntType(32), _ROW_MAJOR), trans_a, trans_b, m, n, k,
        ir.Constant(real, 1.0), _row_pointer(builder, A, A_type.layout, first, k), lda,
        B.data, ldb, ir.Constant(real, 0.0), _row_pointer(builder, C, "C", first, n), leading(n)])


def _scipy_call(context, builder, signature, args, rows=None):
    """C[rows] = A[rows] @ B through Numba's ``numba_xxgemm`` helper (SciPy's cython_blas), as
    ``np.dot`` calls it: column-major, so C^T = B^T @ A^T."""
    # imported when compiling only: a run from the disk cache needs neither (nor their import)
    from numba.np.linalg import check_blas_return, ensure_blas, get_blas_kind

    ensure_blas()
    A_type, B_type, C_type = signature.args[:3]
    A, B, C, m, first = _rows(context, builder, signature, args, rows)
    intp = context.get_value_type(types.intp)
    void_p = ir.IntType(8).as_pointer()
    char = ir.IntType(8)
    m_all, k = cgutils.unpack_tuple(builder, A.shape)
    n = cgutils.unpack_tuple(builder, C.shape)[1]

    def slot(value):
        return builder.bitcast(cgutils.alloca_once_value(
            builder, context.get_constant(C_type.dtype, value)), void_p)

    def transpose(array_type):  # against C's (C-contiguous) layout
        return ir.Constant(char, ord("n" if array_type.layout == "C" else "t"))

    function_type = ir.FunctionType(ir.IntType(32), [
        char, char, char, intp, intp, intp, void_p, void_p, intp, void_p, intp, void_p, void_p,
        intp])
    function = cgutils.get_or_insert_function(builder.module, function_type, "numba_xxgemm")
    status = builder.call(function, [
        ir.Constant(char, ord(get_blas_kind(C_type.dtype))), transpose(B_type), transpose(A_type),
        n, m, k, slot(1.0),
        builder.bitcast(B.data, void_p), n if B_type.layout == "C" else k,
        builder.bitcast(_row_pointer(builder, A, A_type.layout, first, k), void_p),
        k if A_type.layout == "C" else m_all, slot(0.0),
        builder.bitcast(_row_pointer(builder, C, "C", first, n), void_p), n])
    check_blas_return(context, builder, status)


def _typed(A, B, C):
    arrays = (A, B, C)
    return (all(isinstance(t, types.Array) and t.ndim == 2 and t.dtype == C.dtype for t in arrays)
            and str(C.dtype) in SYMBOLS and A.layout in "CF" and B.layout in "CF"
            and C.layout == "C")


@intrinsic
def gemm(typingctx, A, B, C):
    """C = A @ B (see the module docstring for what the caller guarantees)."""
    if not _typed(A, B, C):
        return None
    call = _cblas_call if library_of(C.dtype) == "numpy" else _scipy_call

    def codegen(context, builder, signature, args):
        call(context, builder, signature, args)
        return context.get_dummy_value()

    return types.void(A, B, C), codegen


@intrinsic
def gemm_rows(typingctx, A, B, C, start, stop):
    """C[start:stop] = A[start:stop] @ B, rows 0 <= start < stop <= A's (the caller's guarantee,
    with the module docstring's)."""
    if not _typed(A, B, C) or not all(isinstance(t, types.Integer) for t in (start, stop)):
        return None
    call = _cblas_call if library_of(C.dtype) == "numpy" else _scipy_call

    def codegen(context, builder, signature, args):
        call(context, builder, signature, args, rows=args[3:])
        return context.get_dummy_value()

    return types.void(A, B, C, start, stop), codegen


@intrinsic
def blas_threads(typingctx, C):
    """The threads of the BLAS pool that ``gemm`` runs products of C's dtype on (the pool's
    current setting: a fit holds it at one); 1 where that BLAS has no small-matrix kernels
    (``SMALL_KERNELS``), the only case in which the kernels ask."""
    if not isinstance(C, types.Array) or str(C.dtype) not in SYMBOLS:
        return None

    def codegen(context, builder, signature, args):
        count = ir.IntType(64)
        if not SMALL_KERNELS[str(C.dtype) == "float32"]:
            return ir.Constant(count, 1)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), []), THREADS_SYMBOLS[str(C.dtype)])
        return builder.sext(builder.call(function, []), count)

    return types.int64(C), codegen
