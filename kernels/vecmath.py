"""exp, log, the sigmoid and tanh on the ranges the activations and the output head need, as
plain arithmetic that LLVM vectorises.

Numba's ``np.exp``/``np.log``/``np.tanh`` are scalar libm calls inside a loop (pip's llvmlite has
no SVML), which made the sigmoid, tanh and the loss the most expensive passes of the tutorial's
small networks.  The functions work in float64 whatever the array dtype and are accurate to
~3e-16 relative (tanh: ~4.5e-16; tests compare them with NumPy over their whole ranges); faster
than the libm calls (docs/decisions.md).
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .config import kernel

LN2 = 0.6931471805599453
LN2_HI = 0.6931471803691238  # ln 2 split so that n * LN2_HI is exact for the n used here
LN2_LO = 1.9082149292705877e-10
SQRT_HALF = 0.7071067811865476


@intrinsic
def power_of_two(typingctx, k):
    """2.0**k (float64) for an integer -1022 <= k <= 1023: the exponent field set from k, one
    integer add, shift and reinterpretation, which LLVM vectorises (outside that range: not a
    power of two, and no error)."""
    if not isinstance(k, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        (value,) = args
        bits = ir.IntType(64)
        if value.type.width < 64:
            value = builder.sext(value, bits) if signature.args[0].signed else builder.zext(value, bits)
        biased = builder.add(value, ir.Constant(bits, 1023))
        return builder.bitcast(builder.shl(biased, ir.Constant(bits, 52)), ir.DoubleType())

    return types.float64(k), codegen


EXP_NEG_MOST = 700.0  # the largest t exp_neg takes
EXP_NEG_AT_MOST = 9.85967654375977e-305  # exp(-700)


@kernel(python=False)
def exp_neg(t):
    """exp(-t) for 0 <= t <= 700 (float64).

    t = n ln2 + r with |r| <= ln2 / 2; exp(-r) by its degree-13 Taylor polynomial (truncation
    < 1e-17), times 2**-n built from its bits (exact: n <= 1010 keeps it a normal number).
    """
    n = np.floor(t * 1.4426950408889634 + 0.5)
    x = (n * LN2_HI - t) + n * LN2_LO  # -r
    p = 1.0 / 6227020800.0
    p = p * x + 1.0 / 479001600.0
    p = p * x + 1.0 / 39916800.0
    p = p * x + 1.0 / 3628800.0
    p = p * x + 1.0 / 362880.0
    p = p * x + 1.0 / 40320.0
    p = p * x + 1.0 / 5040.0
    p = p * x + 1.0 / 720.0
    p = p * x + 1.0 / 120.0
    p = p * x + 1.0 / 24.0
    p = p * x + 1.0 / 6.0
    p = p * x + 0.5
    p = p * x + 1.0
    p = p * x + 1.0
    # A NaN t makes n NaN and int(n) undefined (x86 gives INT_MIN); p is NaN then, and so is
    # the result (tests/test_vecmath.py checks it).  A guard on n would stop the vectoriser.
    return p * power_of_two(-int(n))


@kernel(python=False)
def exp_neg_any(t):
    """exp(-t) for any t >= 0 (float64), as libm's exp(-t): exp_neg up to 700; past it
    exp_neg(t - 700) * exp(-700), which goes subnormal and rounds to 0 from t ~ 745 on (an
    exact 0 where a softmax's other outputs dwarf this one, not a floor at exp(-700)).  inf
    gives 0, NaN NaN."""
    far = t > EXP_NEG_MOST
    u = min(t - EXP_NEG_MOST if far else t, EXP_NEG_MOST)
    return exp_neg(u) * (EXP_NEG_AT_MOST if far else 1.0)


@kernel(python=False)
def sigmoid(z, limit):
    """1 / (1 + exp(-z)) in float64, z clipped to [-limit, limit] (limit <= 700).

    Through exp(-|z|) on both sides, so large negative z keeps full relative accuracy.
    """
    z = min(max(np.float64(z), -limit), limit)
    e = exp_neg(abs(z))
    a = 1.0 / (1.0 + e)
    return a if z >= 0.0 else e * a


TANH_SERIES_BELOW = 0.35  # |z| under which tanh is its Taylor series
TANH_ONE_FROM = 20.0  # |z| from which tanh(z) rounds to +-1 in float64
# tanh(z) = z + z^3 * sum_j TANH_SERIES[j] z^(2j): the Taylor coefficients of z^3 ... z^25,
# 2^(2n) (2^(2n) - 1) B_2n / (2n)! (B: Bernoulli numbers; tests/test_vecmath.py derives them);
# at |z| < 0.35 the first term left out is below 2e-17 of tanh(z).
TANH_SERIES = (
    -0.3333333333333333,
    0.13333333333333333,
    -0.05396825396825397,
    0.021869488536155203,
    -0.008863235529902197,
    0.003592128036572481,
    -0.0014558343870513183,
    0.000590027440945586,
    -0.00023912911424355248,
    9.691537956929451e-05,
    -3.927832388331683e-05,
    1.5918905069328964e-05,
)


@kernel(python=False)
def tanh(z):
    """tanh(z) in float64, vectorisable, within 4.5e-16 relative of NumPy's.

    Below ``TANH_SERIES_BELOW`` its odd Taylor series (TANH_SERIES), where 1 - exp(-2|z|) would
    cancel; above, (1 - e) / (1 + e) for e = exp(-2|z|) < 1/2, where 1 - e loses nothing.  Both
    are computed and one selected, so the loop stays a plain vector pass; |z| is clipped at
    ``TANH_ONE_FROM`` (within exp_neg's range), where tanh is +-1 in float64 anyway.  NaN stays
    NaN.
    """
    z = np.float64(z)
    s = z * z
    q = TANH_SERIES[11]
    for j in range(10, -1, -1):
        q = q * s + TANH_SERIES[j]
    near = z + z * s * q
    x = 2.0 * min(abs(z), TANH_ONE_FROM)
    e = exp_neg(x)
    far = (1.0 - e) / (1.0 + e)
    far = far if z >= 0.0 else -far
    return near if abs(z) < TANH_SERIES_BELOW else far


@kernel(python=False)
def log_half_to_one(m):
    """log(m) for 0.5 <= m <= 1 (float64): 2 atanh((u - 1) / (u + 1)), with u = 2m and
    -ln 2 below sqrt(1/2), so |s| <= 0.172 and eleven odd terms reach 1e-17."""
    low = m < SQRT_HALF
    u = 2.0 * m if low else m
    s = (u - 1.0) / (u + 1.0)
    s2 = s * s
    p = 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    r = 2.0 * s + 2.0 * s * s2 * p
    return r - LN2 if low else r
