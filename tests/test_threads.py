"""fastbp.set_num_threads / fastbp.threads govern Numba's threads and every loaded BLAS pool."""
import numpy as np
import pytest

import fastbp


def blas_threads():
    return {path: n for api, path, n in fastbp.thread_report() if api != "numba"}


def test_threads_context_limits_every_pool_and_restores():
    before_numba, before_blas = fastbp.get_num_threads(), blas_threads()
    assert len(before_blas) >= 1
    with fastbp.threads(1):
        assert fastbp.get_num_threads() == 1
        assert set(blas_threads().values()) == {1}
        X, y = fastbp.datasets.make_circle(n_samples=50)
        nn = fastbp.NeuralNetwork([2, 8, 1], seed=0)
        nn.fit(X, y, epochs=5, lr=0.1)
    assert fastbp.get_num_threads() == before_numba
    assert blas_threads() == before_blas


def test_results_do_not_depend_on_thread_count():
    X = np.random.default_rng(0).standard_normal((300, 64))
    y = (X[:, :1] > 0).astype(float)
    weights = []
    for n in sorted({1, fastbp.max_threads()}):
        with fastbp.threads(n):
            nn = fastbp.NeuralNetwork([64, 96, 80, 1], seed=1)
            nn.fit(X, y, epochs=5, lr=0.1)
            weights.append(nn.weights[0].copy())
    for w in weights[1:]:
        np.testing.assert_allclose(w, weights[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, error", [(0, ValueError), (10_000, ValueError), (1.5, TypeError)])
def test_bad_thread_counts(n, error):
    before = fastbp.get_num_threads()
    with pytest.raises(error, match="threads"):
        fastbp.set_num_threads(n)
    assert fastbp.get_num_threads() == before
