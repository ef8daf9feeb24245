"""The vectorisable exp/log/sigmoid of the output head against NumPy over their whole ranges."""
import numpy as np

from fastbp.kernels import vecmath
from fastbp.kernels.config import kernel


@kernel
def _apply_exp_neg(t, out):
    for k in range(t.size):
        out[k] = vecmath.exp_neg(t[k])


@kernel
def _apply_log(m, out):
    for k in range(m.size):
        out[k] = vecmath.log_half_to_one(m[k])


@kernel
def _apply_sigmoid(z, out, limit):
    for k in range(z.size):
        out[k] = vecmath.sigmoid(z[k], limit)


def evaluate(function, x, *args):
    out = np.empty(x.size)
    function(x, out, *args)
    return out


def test_exp_neg_matches_numpy_to_the_last_bits():
    t = np.concatenate([np.linspace(0, 700, 200_001), np.random.default_rng(0).uniform(0, 700, 10_000)])
    expected = np.exp(-t)
    relative = np.abs(evaluate(_apply_exp_neg, t) - expected) / expected
    assert relative.max() < 1e-15


def test_log_on_half_to_one_matches_numpy():
    m = np.concatenate([np.linspace(0.5, 1, 200_001), [np.nextafter(1, 0), np.nextafter(0.5, 1)]])
    got = evaluate(_apply_log, m)
    assert np.abs(got - np.log(m)).max() < 3e-16
    assert got[-3] == 0.0  # log(1) exactly


def test_sigmoid_matches_the_reference_on_both_sides():
    limit = 500.0  # the tutorial's clip
    z = np.concatenate([np.linspace(-800, 800, 200_001), [0.0, -0.0, 1e-300, -1e-300]])
    clipped = np.clip(z, -limit, limit)
    expected = np.where(clipped >= 0, 1 / (1 + np.exp(-clipped)), np.exp(clipped) / (1 + np.exp(clipped)))
    relative = np.abs(evaluate(_apply_sigmoid, z, limit) - expected) / expected
    assert relative.max() < 1e-15


def test_float32_inputs_are_evaluated_in_float64():
    z = np.linspace(-30, 30, 1001).astype(np.float32)
    expected = 1 / (1 + np.exp(-z.astype(np.float64)))
    got = evaluate(_apply_sigmoid, z, 500.0)
    assert np.abs(got - expected).max() < 1e-15


def test_nan_stays_nan():
    """A NaN logit must give a NaN activation, so divergence is seen (int(NaN) is undefined)."""
    z = np.array([np.nan, 0.0, np.nan])
    got = evaluate(_apply_sigmoid, z, 500.0)
    assert np.isnan(got[0]) and np.isnan(got[2]) and got[1] == 0.5
    assert np.isnan(evaluate(_apply_exp_neg, np.array([np.nan])))[0]


@kernel
def _apply_tanh(z, out):
    for k in range(z.size):
        out[k] = vecmath.tanh(z[k])


def test_tanh_matches_numpy_on_both_branches_and_at_the_ends():
    """Both branches (the series below TANH_SERIES_BELOW, exp(-2|z|) above) and the switch
    between them, tiny and huge arguments, within two units in the last place of NumPy's."""
    edge = vecmath.TANH_SERIES_BELOW
    z = np.concatenate([np.linspace(-30, 30, 300_001), np.linspace(-1, 1, 200_001),
                        np.linspace(edge * (1 - 1e-6), edge * (1 + 1e-6), 1001),
                        np.geomspace(1e-300, 1, 5001), -np.geomspace(1e-300, 1, 5001)])
    z = z[z != 0]
    got = evaluate(_apply_tanh, z)
    expected = np.tanh(z)
    relative = np.abs(got - expected) / np.abs(expected)
    assert relative.max() < 5e-16
    assert np.all(np.abs(got) <= 1.0)
    special = evaluate(_apply_tanh, np.array([0.0, np.inf, -np.inf, 1e6, -1e6, np.nan]))
    np.testing.assert_array_equal(special[:5], [0.0, 1.0, -1.0, 1.0, -1.0])
    assert np.isnan(special[5])


def test_tanh_series_coefficients_are_the_taylor_coefficients():
    """TANH_SERIES against 2^(2n) (2^(2n) - 1) B_2n / (2n)!, the Bernoulli numbers computed
    exactly here (so a mistyped coefficient fails)."""
    from fractions import Fraction
    from math import comb, factorial

    bernoulli = [Fraction(1)]
    for m in range(1, 2 * len(vecmath.TANH_SERIES) + 3):
        bernoulli.append(-sum(comb(m + 1, k) * bernoulli[k] for k in range(m)) / (m + 1))
    for j, value in enumerate(vecmath.TANH_SERIES):
        n = j + 2  # the coefficient of z^(2n - 1)
        exact = Fraction(2 ** (2 * n) * (2 ** (2 * n) - 1)) * bernoulli[2 * n] / factorial(2 * n)
        assert value == float(exact), (j, value, float(exact))


@kernel
def _apply_exp_neg_any(t, out):
    for k in range(t.size):
        out[k] = vecmath.exp_neg_any(t[k])


def test_exp_neg_any_goes_subnormal_and_to_zero_as_numpy():
    """Past exp_neg's range: subnormal results close to NumPy's, and exact zeros from ~745 on --
    a softmax output that underflows must be 0, not a floor at exp(-700) (a ReLU unit at exactly
    0 would otherwise get a 1e-300 gradient and wake up where the reference's stays dead)."""
    t = np.concatenate([np.linspace(0, 708, 100_001), np.linspace(700, 800, 100_001)])
    got = evaluate(_apply_exp_neg_any, t)
    expected = np.exp(-t)
    normal = expected > np.finfo(np.float64).tiny
    relative = np.abs(got[normal] - expected[normal]) / expected[normal]
    assert relative.max() < 1e-15
    assert np.all(np.abs(got[~normal] - expected[~normal]) <= 2 * 5e-324)
    assert np.all(got[t > 746] == 0.0)
    special = evaluate(_apply_exp_neg_any, np.array([np.inf, 1e300, np.nan]))
    np.testing.assert_array_equal(special[:2], [0.0, 0.0])
    assert np.isnan(special[2])


def test_softmax_gives_exact_zeros_where_the_exponential_underflows():
    from fastbp import kernels

    Z = np.array([[0.0, 3.0, -1000.0], [-1000.0, 2.0, 0.0]])
    A = np.empty_like(Z)
    kernels.softmax(Z, A)
    np.testing.assert_array_equal(A[:, 0], [1.0, 0.0])
    np.testing.assert_array_equal(A[:, 2], [0.0, 1.0])
    np.testing.assert_allclose(A[:, 1], np.exp(Z[:, 1]) / np.exp(Z[:, 1]).sum(), rtol=1e-15)
