"""Input checks that need no temporary arrays (np.isfinite(X) would allocate a copy of X's size)."""
from .config import kernel


@kernel
def finite_and_within(A, low, high):
    """(every entry of the 2-D array A is finite, every entry lies in [low, high])."""
    zero = A.dtype.type(0.0)
    lo = A.dtype.type(low)
    hi = A.dtype.type(high)
    poison = zero  # inf * 0 and NaN * 0 are NaN; finite * 0 is 0
    outside = 0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            a = A[i, j]
            poison += a * zero
            outside += (a < lo) | (a > hi)
    return poison == zero, outside == 0
