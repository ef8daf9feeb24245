"""The layers' BLAS products: ``product(A, B, C)``, C = A @ B in one ``gemm`` call or in blocks
of C's rows (``config.product_rows``), with ``blas.gemm``'s guarantees on the operands."""

from .blas import blas_threads, gemm, gemm_rows
from .config import kernel, product_rows


@kernel(inline=True)
def product(A, B, C):
    """C = A @ B: A (m, k), B (k, n) -> C (m, n).  Not for A C-contiguous with B F-contiguous
    (``A_in @ D.T``): OpenBLAS's small-matrix kernel for that layout takes no block of rows of
    these sizes, so those go to ``gemm`` whole.

    In blocks only while the BLAS pool runs one thread (fits and passes shared by helpers hold
    it there): on several, OpenBLAS splits a whole product of this size between them, faster
    than one thread computes the blocks."""
    m = C.shape[0]
    rows = product_rows(m, C.shape[1], A.shape[1], C.itemsize)
    if rows >= m or blas_threads(C) > 1:
        gemm(A, B, C)
    else:
        for start in range(0, m, rows):
            gemm_rows(A, B, C, start, min(start + rows, m))
