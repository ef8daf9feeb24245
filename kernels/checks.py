"""Input checks that need no temporary arrays (np.isfinite(X) would allocate a copy of X's size)."""
from .config import kernel


@kernel
def all_finite(A):
    """True when every entry of the 2-D array A is finite (no NaN, no +-inf)."""
    zero = A.dtype.type(0.0)
    poison = zero  # inf * 0 and NaN * 0 are NaN; finite * 0 is 0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            poison += A[i, j] * zero
    return poison == zero
