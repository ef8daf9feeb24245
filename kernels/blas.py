"""``gemm(A, B, C)``: C = A @ B through BLAS, for the products of wide layers.

The same BLAS call as ``np.dot(A, B, C)`` inside ``@njit`` (Numba's ``numba_xxgemm`` helper, which
calls SciPy's ``cython_blas`` ``dgemm``/``sgemm``, with transposes chosen from the layouts), without
what ``np.dot`` compiles around it: shape checks with formatted error messages, copies of
non-contiguous operands, a zero-size path.  That wrapper cost ~1 s of compilation before the
first fit (it is compiled into every training loop, wide layers or not).  The callers guarantee
what ``np.dot`` would check: A (m, k) and B (k, n) C- or F-contiguous, C (m, n) C-contiguous, one
dtype, k >= 1.
"""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def gemm(typingctx, A, B, C):
    """C = A @ B (see the module docstring for what the caller guarantees)."""
    arrays = (A, B, C)
    if not all(isinstance(t, types.Array) and t.ndim == 2 and t.dtype == C.dtype for t in arrays):
        return None
    if A.layout not in "CF" or B.layout not in "CF" or C.layout != "C":
        return None

    def codegen(context, builder, signature, args):
        # imported when compiling only: a run from the disk cache needs neither (31 ms of import)
        from numba.np.linalg import call_xxgemm, ensure_blas

        ensure_blas()
        views = [context.make_array(t)(context, builder, v) for t, v in zip(signature.args, args)]
        shapes = [cgutils.unpack_tuple(builder, view.shape) for view in views]
        call_xxgemm(context, builder,
                    signature.args[0], shapes[0], views[0].data,
                    signature.args[1], shapes[1], views[1].data,
                    signature.args[2], shapes[2], views[2].data)
        return context.get_dummy_value()

    return types.void(A, B, C), codegen
