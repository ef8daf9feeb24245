"""fastbp.set_num_threads / fastbp.threads govern Numba's threads and every loaded BLAS pool."""
import threading

import numpy as np
import pytest

import fastbp
from conftest import parameters_of
from fastbp import threadctl


@pytest.fixture(autouse=True)
def every_pool_loaded():
    """Training calls load SciPy's pool (if installed) when they first limit the pools: load it
    before any test compares the pools before and after."""
    threadctl.load_every_blas()


def blas_threads():
    return {path: n for api, path, n in fastbp.thread_report()
            if api not in ("numba", "calibration")}


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
    after = blas_threads()  # the first fit may load a pool too (Numba's first dispatch: SciPy's)
    assert {path: after[path] for path in before_blas} == before_blas


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
        np.testing.assert_array_equal(w, weights[0])  # the same bits (fixed reduction blocks)


@pytest.mark.parametrize("n, error", [(0, ValueError), (10_000, ValueError), (1.5, TypeError)])
def test_bad_thread_counts(n, error):
    before = fastbp.get_num_threads()
    with pytest.raises(error, match="threads"):
        fastbp.set_num_threads(n)
    assert fastbp.get_num_threads() == before


def in_thread(function):
    """function()'s result, run in a new Python thread."""
    results = []
    worker = threading.Thread(target=lambda: results.append(function()))
    worker.start()
    worker.join()
    return results[0]


def _hold(context):
    """Enter ``context`` in a new thread; returns (release, thread): set release to leave."""
    entered, release = threading.Event(), threading.Event()

    def body():
        with context:
            entered.set()
            release.wait()

    thread = threading.Thread(target=body)
    thread.start()
    entered.wait()
    return release, thread


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two threads to tell limits apart")
def test_limits_set_from_any_python_thread_take_effect():
    """threadpoolctl lets one "controlling" thread change an OpenBLAS pool and ignores others;
    fastbp's calls work from whichever thread makes them."""
    before = blas_threads()
    with fastbp.threads(2):  # this (main) thread has set a limit first
        assert in_thread(lambda: _limited_view(1)) == {1}
        assert set(blas_threads().values()) == {2}  # restored by the other thread's block
    assert blas_threads() == before


def _limited_view(n):
    with fastbp.threads(n):
        return set(blas_threads().values())


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two threads to tell limits apart")
def test_overlapping_training_calls_keep_blas_on_one_thread_and_restore_it():
    """Fits in several threads at once: BLAS stays on one thread until the last one leaves, then
    the pools are back as they were -- whichever thread entered or left first."""
    before = blas_threads()
    limit = threadctl.one_blas_thread()
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def first_user():
        with limit:
            seen["first"] = set(blas_threads().values())
            entered.set()
            release.wait()

    user = threading.Thread(target=first_user)
    user.start()
    entered.wait()
    with limit:                                # a second, overlapping call in this thread
        release.set()
        user.join()                            # the first call has left
        seen["after first left"] = set(blas_threads().values())
    assert seen == {"first": {1}, "after first left": {1}}
    assert blas_threads() == before


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two workers")
def test_concurrent_fits_in_threads_train_correctly_and_leave_the_pools_as_they_were():
    X, y = fastbp.datasets.make_spirals(n_per_class=100)
    before = blas_threads()
    with fastbp.threads(1):
        alone = fastbp.NeuralNetwork([2, 64, 32, 16, 1], seed=0)
        alone.fit(X, y, epochs=100, lr=0.05)
    nets = [fastbp.NeuralNetwork([2, 64, 32, 16, 1], seed=0) for _ in range(3)]
    fits = [threading.Thread(target=nn.fit, args=(X, y), kwargs=dict(epochs=100, lr=0.05))
            for nn in nets]
    for fit in fits:
        fit.start()
    for fit in fits:
        fit.join()
    for nn in nets:
        np.testing.assert_array_equal(parameters_of(nn), parameters_of(alone))
    assert blas_threads() == before


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two threads to tell limits apart")
def test_a_threads_block_overlapping_a_fit_restores_the_users_limits():
    """A training call in another thread holds the pools at one thread; a `threads` block that
    starts inside it and ends after it must not restore that temporary limit."""
    before = blas_threads()
    release, call = _hold(threadctl.one_blas_thread())
    with fastbp.threads(2):
        release.set()
        call.join()  # the training call ends inside the block
    assert blas_threads() == before


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two threads to tell limits apart")
def test_the_thread_count_is_process_wide():
    """Numba's count is per Python thread; fastbp's cap holds in every thread, fits included."""
    X, y = fastbp.datasets.make_spirals(n_per_class=100)
    nn = fastbp.NeuralNetwork([2, 64, 32, 16, 1], seed=0)
    with fastbp.threads(1):
        assert in_thread(fastbp.get_num_threads) == 1
        in_thread(lambda: nn.fit(X, y, epochs=200, lr=0.05))
        assert nn.workers_used == [1]
    assert in_thread(fastbp.get_num_threads) == fastbp.get_num_threads()


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two threads to tell limits apart")
def test_set_num_threads_during_a_training_call_takes_effect_when_it_ends():
    """The user's count is neither lost when a running call restores the pools, nor lifts the
    call's one-thread limit while it runs."""
    before = fastbp.get_num_threads()
    seen = []
    try:
        for n in (1, 2):
            release, call = _hold(threadctl.one_blas_thread())
            fastbp.set_num_threads(n)
            seen.append(set(blas_threads().values()))  # still the call's limit
            release.set()
            call.join()
            seen.append(set(blas_threads().values()))  # the user's, now
        assert seen == [{1}, {1}, {1}, {2}]
    finally:
        fastbp.set_num_threads(before)


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two threads to tell limits apart")
def test_threads_blocks_overlapping_in_two_threads_end_with_their_own_count():
    """A opens threads(1), B opens threads(2), A ends: B's 2 holds; B ends: as before both."""
    before, before_blas = fastbp.get_num_threads(), blas_threads()
    release_a, a = _hold(fastbp.threads(1))
    assert fastbp.get_num_threads() == 1
    with fastbp.threads(2):
        release_a.set()
        a.join()
        assert fastbp.get_num_threads() == 2 and in_thread(fastbp.get_num_threads) == 2
        assert set(blas_threads().values()) == {2}
    assert fastbp.get_num_threads() == before
    assert blas_threads() == before_blas


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two threads to tell limits apart")
def test_a_threads_block_after_a_deferred_count_restores_that_count():
    """During a training call: set_num_threads(1) (deferred), then a threads(2) block; when the
    call ends the pools follow the count, 1."""
    before = fastbp.get_num_threads()
    try:
        release, call = _hold(threadctl.one_blas_thread())
        fastbp.set_num_threads(1)
        with fastbp.threads(2):
            assert fastbp.get_num_threads() == 2
        assert fastbp.get_num_threads() == 1
        release.set()
        call.join()
        assert set(blas_threads().values()) == {1}
    finally:
        fastbp.set_num_threads(before)
