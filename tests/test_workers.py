"""Data-parallel training: worker threads meeting at spin barriers inside the compiled loops."""
import os
import time

import numba
import numpy as np
import pytest

import fastbp
from fastbp import engines, parallel
from fastbp.kernels.sync import SLOT, barrier, monotonic_ns
from conftest import assert_close, crowd_of_workers, small_problem


@pytest.fixture
def workers(monkeypatch):
    """use(n): every fit from here on splits its batches between n worker threads (even tiny ones,
    even more threads than cores)."""
    def use(n):
        monkeypatch.setattr(engines, "MIN_PARALLEL_WORK", 0)
        monkeypatch.setattr(engines, "MIN_WORKER_STEP_WORK", 0)
        monkeypatch.setattr(parallel, "get_num_threads", lambda: n)
    return use


def train(X, y, n_workers, workers, **options):
    """(network, history or the error) of a fit with n_workers; the network starts from seed 4."""
    if n_workers > 1:
        workers(n_workers)
    sizes = options.pop("sizes")
    nn = fastbp.NeuralNetwork(sizes, dtype=X.dtype, seed=4,
                              tutorial_compat=options.pop("tutorial_compat", False))
    try:
        history = nn.fit(X, y, **options)
    except fastbp.TrainingDivergedError as error:
        history = error
    assert nn._engine.workers_used[0] == n_workers
    return nn, history


def assert_same_training(one, many, dtype):
    (nn1, h1), (nn2, h2) = one, many
    assert_close(h2["loss"], h1["loss"], dtype)
    np.testing.assert_allclose(h2["accuracy"], h1["accuracy"], atol=0.021)
    assert_close(nn2._params.flat, nn1._params.flat, dtype)
    assert_close(nn2._params.grads, nn1._params.grads, dtype)


@pytest.mark.parametrize("n_workers", [2, 3])
@pytest.mark.parametrize("tutorial_compat", [False, True])
def test_full_batch_workers_train_as_one(workers, dtype, n_workers, tutorial_compat):
    X, y = small_problem(n_samples=97, sizes=(3, 12, 6, 1), dtype=dtype)
    options = dict(sizes=[3, 12, 6, 1], epochs=60, lr=0.2, tutorial_compat=tutorial_compat)
    one = train(X, y, 1, workers, **dict(options))
    many = train(X, y, n_workers, workers, **dict(options))
    assert_same_training(one, many, dtype)


@pytest.mark.parametrize("n_workers, n_samples, batch_size", [
    (2, 101, 20),   # the last batch has one sample: one worker has none
    (3, 90, 32),    # BLAS-wide layers inside the workers
])
def test_minibatch_workers_train_as_one(workers, dtype, n_workers, n_samples, batch_size):
    sizes = [3, 12, 6, 1] if n_samples == 101 else [40, 24, 16, 1]
    X, y = small_problem(n_samples=n_samples, sizes=sizes, dtype=dtype)
    options = dict(sizes=sizes, epochs=8, lr=0.1, batch_size=batch_size, seed=2)
    one = train(X, y, 1, workers, **dict(options))
    many = train(X, y, n_workers, workers, **dict(options))
    assert_same_training(one, many, dtype)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_divergence_with_workers_restores_the_last_finite_state(workers, batch_size):
    X, y = small_problem(n_samples=64, sizes=(3, 12, 6, 1))
    X = X * 1e3
    options = dict(sizes=[3, 12, 6, 1], epochs=200, lr=1e150, batch_size=batch_size)
    nn1, error1 = train(X, y, 1, workers, **dict(options))
    nn2, error2 = train(X, y, 2, workers, **dict(options))
    assert isinstance(error1, fastbp.TrainingDivergedError)
    assert isinstance(error2, fastbp.TrainingDivergedError)
    assert error2.epoch == error1.epoch
    assert np.all(np.isfinite(nn2._params.flat))
    assert_close(nn2._params.flat, nn1._params.flat, np.float64)


@numba.njit(nogil=True)
def _exchange(board, worker, n_workers, values, seen):
    """Each round: publish a value, barrier, read everybody's, barrier."""
    for r in range(seen.shape[1]):
        values[worker * SLOT] = r + worker
        if barrier(board, worker, n_workers, 2 * r + 1) < 0:
            return False
        total = 0
        for w in range(n_workers):
            total += values[w * SLOT]
        seen[worker, r] = total
        if barrier(board, worker, n_workers, 2 * r + 2) < 0:
            return False
    return True


@pytest.mark.parametrize("n_workers", [1, 2, 3])
def test_barrier_makes_every_write_visible(n_workers):
    board = np.zeros((n_workers + 1) * SLOT, dtype=np.int64)
    values = np.zeros(n_workers * SLOT, dtype=np.int64)
    seen = np.zeros((n_workers, 2000), dtype=np.int64)
    done = parallel.run_workers(lambda w: _exchange(board, w, n_workers, values, seen),
                                n_workers, lambda: None, one_blas_thread=False)
    assert done == [True] * n_workers
    rounds = np.arange(seen.shape[1])
    expected = n_workers * rounds + n_workers * (n_workers - 1) // 2
    np.testing.assert_array_equal(seen, np.broadcast_to(expected, seen.shape))


@numba.njit(nogil=True)
def _first_barrier(board):
    return barrier(board, 0, 2, 1)


@numba.njit(nogil=True)
def _first_of_two(board, worker):
    return barrier(board, worker, 2, 1)


POSIX = os.name == "posix"


@pytest.mark.skipif(not POSIX, reason="the compiled clock reads clock_gettime (POSIX)")
def test_compiled_clock_counts_nanoseconds():
    start, reference = monotonic_ns(), time.monotonic_ns()
    time.sleep(0.05)
    elapsed, reference_elapsed = monotonic_ns() - start, time.monotonic_ns() - reference
    assert abs(elapsed - reference_elapsed) < 5_000_000
    assert elapsed >= 50_000_000


@pytest.mark.skipif(not POSIX, reason="the compiled clock reads clock_gettime (POSIX)")
def test_barrier_reports_how_long_it_waited():
    """The training loops judge a team by its waiting time: the early worker's barrier returns
    the time it waited for the late one, the late one's (almost) nothing."""
    board = np.zeros(3 * SLOT, dtype=np.int64)
    board[SLOT] = 1
    assert _first_of_two(board, 0) == 0  # compiled now: worker 1 has already arrived
    board[:] = 0

    def body(worker):
        if worker == 1:
            time.sleep(0.05)
        return _first_of_two(board, worker)

    early, late = parallel.run_workers(body, 2, lambda: None, one_blas_thread=False)
    assert 40_000_000 < early < 1_000_000_000
    assert 0 <= late < 10_000_000


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity (Linux) and two CPUs")
def test_workers_run_on_cpus_of_their_own_and_the_caller_keeps_its_affinity():
    allowed = os.sched_getaffinity(0)
    n_workers = len(allowed)
    cpus = parallel.worker_cpus(n_workers)
    assert len(cpus) == n_workers == len(set(cpus)) and set(cpus) == allowed
    affinities = parallel.run_workers(lambda w: os.sched_getaffinity(0), n_workers, lambda: None,
                                      one_blas_thread=False)
    assert all(len(a) == 1 for a in affinities)
    assert len(set.union(*affinities)) == n_workers  # one CPU each
    assert os.sched_getaffinity(0) == allowed         # the calling thread's, restored


def test_a_failing_worker_releases_the_others():
    board = np.zeros(3 * SLOT, dtype=np.int64)
    returned = []

    def body(worker):
        if worker == 1:
            raise RuntimeError("worker 1 failed before its barrier")
        returned.append(_first_barrier(board))  # would wait for worker 1 forever

    def abort():
        board[2 * SLOT] = 1

    with pytest.raises(RuntimeError, match="worker 1 failed"):
        parallel.run_workers(body, 2, abort, one_blas_thread=False)
    assert returned == [-1]


def test_workers_without_cores_hand_over_to_one(workers):
    """Far more workers than cores: they keep waiting for each other, so fit stops them after a
    complete epoch and trains the rest on one worker -- with the same results."""
    X, y = small_problem(n_samples=400, sizes=(3, 12, 6, 1))
    options = dict(sizes=[3, 12, 6, 1], epochs=300, lr=0.2)
    one = train(X, y, 1, workers, **dict(options))
    assert one[0]._engine.workers_used == [1]
    crowd = crowd_of_workers()
    workers(crowd)
    nn = fastbp.NeuralNetwork([3, 12, 6, 1], seed=4)
    history = nn.fit(X, y, **{k: v for k, v in options.items() if k != "sizes"})
    assert nn._engine.workers_used == [crowd, 1]
    assert len(history["loss"]) == 300
    assert_same_training(one, (nn, history), np.float64)


def test_worker_count_policy():
    X, y = fastbp.datasets.make_circle(n_samples=500)
    circle = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)._engine
    wide_input = fastbp.NeuralNetwork([784, 256, 128, 1], seed=0)._engine
    threads = fastbp.get_num_threads()
    assert circle.worker_count(500, 500 * 1000) == threads      # the tutorial's fit of W1
    assert circle.worker_count(500, 500 * 10) == 1               # too little work to wake threads
    assert circle.worker_count(40, 40 * 10_000) == 1             # steps too small for a barrier
    assert wide_input.worker_count(128, 60_000) == 1             # 2-thread BLAS does better there
    with fastbp.threads(1):
        assert circle.worker_count(500, 500 * 1000) == 1


def test_results_with_workers_match_the_reference_engine(workers, dtype):
    X, y = small_problem(n_samples=120, sizes=(3, 12, 6, 1), dtype=dtype)
    workers(2)
    jit = fastbp.NeuralNetwork([3, 12, 6, 1], dtype=dtype, seed=1)
    ref = fastbp.NeuralNetwork([3, 12, 6, 1], dtype=dtype, seed=1, backend="numpy")
    histories = [nn.fit(X, y, epochs=50, lr=0.1) for nn in (jit, ref)]
    assert jit._engine.workers_used[0] == 2
    assert_close(histories[0]["loss"], histories[1]["loss"], dtype)
    assert_close(jit._params.flat, ref._params.flat, dtype)


def test_last_batch_shares_fit_the_workers_buffers(workers, monkeypatch):
    """5 workers, batches of 128, a last batch of 127: worker 2 gets 26 samples of it but only 25
    of a full batch -- every worker's buffers hold ceil(128 / 5)."""
    X, y = small_problem(n_samples=255, sizes=(3, 12, 6, 1))
    options = dict(sizes=[3, 12, 6, 1], epochs=3, lr=0.1, batch_size=128, shuffle=False)
    one = train(X, y, 1, workers, **dict(options))
    capacities = []
    real_team = engines._Team

    def recording_team(params, worker_capacities):
        capacities.append(list(worker_capacities))
        return real_team(params, worker_capacities)

    monkeypatch.setattr(engines, "_Team", recording_team)
    many = train(X, y, 5, workers, **dict(options))
    assert capacities[0] == [26] * 5
    assert_same_training(one, many, np.float64)


def test_a_worker_that_cannot_start_releases_the_started_ones(monkeypatch):
    board = np.zeros(4 * SLOT, dtype=np.int64)
    started = []
    real_start = parallel.threading.Thread.start

    def start(thread):
        if started:
            raise RuntimeError("can't start new thread")
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(parallel.threading.Thread, "start", start)

    def abort():
        board[3 * SLOT] = 1

    with pytest.raises(RuntimeError, match="can't start"):
        parallel.run_workers(lambda w: _first_of_three(board, w), 3, abort, one_blas_thread=False)
    assert not started[0].is_alive()  # it left its barrier and was joined


@numba.njit(nogil=True)
def _first_of_three(board, worker):
    return barrier(board, worker, 3, 1)


@pytest.mark.skipif(fastbp.max_threads() < 2, reason="needs two workers")
def test_a_fit_split_into_calls_keeps_its_workers_and_results(monkeypatch):
    """fit runs long trainings as several compiled calls: each must choose the workers the
    whole fit would (a short last call alone would get one worker and other rounding)."""
    import fastbp.network

    X, y = fastbp.datasets.make_circle()
    results = []
    for max_work in (10**15, 500 * 193 * 210):  # one call; calls of 210 + 20 epochs
        monkeypatch.setattr(fastbp.network, "_MAX_CALL_WORK", max_work)
        nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
        history = nn.fit(X, y, epochs=230, lr=0.1)  # 3.5 ms: shorter than a fallback window
        results.append((nn._engine.workers_used, history, nn._params.flat.copy()))
    (workers1, h1, p1), (workers2, h2, p2) = results
    assert workers1 == workers2 == [2]
    assert h1 == h2
    np.testing.assert_array_equal(p1, p2)


def test_after_a_fallback_the_rest_of_the_fit_keeps_one_worker(workers, monkeypatch):
    """Far more workers than cores hand over to one worker; the fit's later calls start on one."""
    import fastbp.network

    X, y = small_problem(n_samples=400, sizes=(3, 12, 6, 1))
    crowd = crowd_of_workers()
    workers(crowd)
    monkeypatch.setattr(fastbp.network, "_MAX_CALL_WORK", 400 * 133 * 100)  # calls of 100 epochs
    calls = []
    original = engines.NumbaEngine._until_done
    monkeypatch.setattr(engines.NumbaEngine, "_until_done",
                        lambda self, epochs, restorable, n, train:
                        calls.append(n) or original(self, epochs, restorable, n, train))
    nn = fastbp.NeuralNetwork([3, 12, 6, 1], seed=4)
    history = nn.fit(X, y, epochs=600, lr=0.2)
    assert len(history["loss"]) == 600
    assert calls[0] == crowd and calls[-1] == 1
    first_one = calls.index(1)
    assert all(n == 1 for n in calls[first_one:])
    assert nn._engine.workers_used == [crowd, 1]
