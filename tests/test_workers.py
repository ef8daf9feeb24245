"""Data-parallel training: worker threads meeting at spin barriers inside the compiled loops."""
import dataclasses
import os
import time

import numba
import numpy as np
import pytest

import fastbp
from conftest import assert_close, crowd_of_workers, parameters_of, small_problem
from fastbp import team
from fastbp.kernels.sync import SLOT, barrier, monotonic_ns
from fastbp.policy import Policy, plan_fit, reduction_blocks


def network(sizes, dtype=np.float64, seed=4, tutorial_compat=False, **policy):
    """A network whose fits split every batch into ``blocks`` blocks computed by ``workers``
    threads, however little work they have (and however many cores there are)."""
    nn = fastbp.NeuralNetwork(sizes, dtype=dtype, seed=seed, tutorial_compat=tutorial_compat)
    policy.setdefault("min_parallel_work", 0)
    policy.setdefault("min_block_work", 0)
    policy.setdefault("min_block_samples", 1)
    nn.policy = dataclasses.replace(nn.policy, **policy)
    return nn


def train(X, y, n_workers, blocks, **options):
    """(network, history or the error) of a fit on ``blocks`` blocks and ``n_workers`` workers."""
    nn = network(options.pop("sizes"), X.dtype, tutorial_compat=options.pop("tutorial_compat", False),
                 max_blocks=blocks, workers=n_workers, **options.pop("policy", {}))
    try:
        history = nn.fit(X, y, **options)
    except fastbp.TrainingDivergedError as error:
        history = error
    return nn, history


def assert_identical(one, many):
    """Bit for bit: parameters, every loss and accuracy (or the same error at the same epoch)."""
    (nn1, h1), (nn2, h2) = one, many
    np.testing.assert_array_equal(parameters_of(nn2), parameters_of(nn1))
    if isinstance(h1, fastbp.TrainingDivergedError):
        assert isinstance(h2, fastbp.TrainingDivergedError) and h2.epoch == h1.epoch
        h1, h2 = h1.history, h2.history
    assert h2 == h1


@pytest.mark.parametrize("n_workers", [2, 3])
@pytest.mark.parametrize("tutorial_compat", [False, True])
def test_full_batch_workers_train_as_one(dtype, n_workers, tutorial_compat):
    X, y = small_problem(n_samples=97, sizes=(3, 12, 6, 1), dtype=dtype)
    options = dict(sizes=[3, 12, 6, 1], epochs=60, lr=0.2, tutorial_compat=tutorial_compat)
    one = train(X, y, 1, 3, **dict(options))
    many = train(X, y, n_workers, 3, **dict(options))
    assert one[0].workers_used == [1] and many[0].workers_used[0] == n_workers
    assert_identical(one, many)


@pytest.mark.parametrize("n_workers, n_samples, batch_size", [
    (2, 101, 20),   # the last batch has one sample: one block has none
    (3, 90, 32),    # BLAS-wide layers inside the workers
])
def test_minibatch_workers_train_as_one(dtype, n_workers, n_samples, batch_size):
    sizes = [3, 12, 6, 1] if n_samples == 101 else [40, 24, 16, 1]
    X, y = small_problem(n_samples=n_samples, sizes=sizes, dtype=dtype)
    options = dict(sizes=sizes, epochs=8, lr=0.1, batch_size=batch_size, seed=2)
    assert_identical(train(X, y, 1, n_workers, **dict(options)),
                     train(X, y, n_workers, n_workers, **dict(options)))


def test_a_worker_with_several_blocks_beside_another_changes_no_bit_again_and_again():
    """Two workers, three blocks (one worker computes two), float32 BLAS layers, mini-batches:
    bit-identical to one worker in every one of many repetitions.  With NumPy's bundled
    OpenBLAS for float32 products about 8% of such pairs differed, by up to 1e-2 (a soak;
    docs/decisions.md): one repetition would rarely catch it, 300 cannot miss it."""
    sizes = [40, 24, 16, 1]
    X, y = small_problem(n_samples=90, sizes=sizes, dtype=np.float32)
    options = dict(sizes=sizes, epochs=8, lr=0.1, batch_size=32, seed=2)
    one = train(X, y, 1, 3, **dict(options))
    for _ in range(300):
        assert_identical(one, train(X, y, 2, 3, **dict(options)))


def test_products_in_blocks_of_rows_change_no_bit_between_workers_again_and_again(dtype):
    """Mini-batch blocks whose products are past OpenBLAS's small-matrix permit (computed in
    blocks of rows where those kernels serve, config.product_rows): two workers with three
    blocks are bit-identical to one worker in every one of many repetitions."""
    from fastbp.kernels.blas import SMALL_KERNELS
    from fastbp.kernels.config import product_rows

    sizes = [400, 128, 24, 1]
    X, y = small_problem(n_samples=192, sizes=sizes, dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    if SMALL_KERNELS[itemsize == 4]:  # a block of 32 samples: the first layer's products split
        assert product_rows(128, 32, 400, itemsize) < 128
        assert product_rows(400, 128, 32, itemsize) < 400
    options = dict(sizes=sizes, epochs=3, lr=0.05, batch_size=96, seed=5)
    one = train(X, y, 1, 3, **dict(options))
    for _ in range(25):
        assert_identical(one, train(X, y, 2, 3, **dict(options)))


@pytest.mark.parametrize("batch_size", [None, 16])
def test_divergence_with_workers_restores_the_last_finite_state(batch_size):
    X, y = small_problem(n_samples=64, sizes=(3, 12, 6, 1))
    X = X * 1e3
    options = dict(sizes=[3, 12, 6, 1], epochs=200, lr=1e150, batch_size=batch_size)
    one, many = train(X, y, 1, 2, **dict(options)), train(X, y, 2, 2, **dict(options))
    assert isinstance(many[1], fastbp.TrainingDivergedError)
    assert np.all(np.isfinite(parameters_of(many[0])))
    assert_identical(one, many)


@pytest.mark.parametrize("batch_size", [None, 50])
@pytest.mark.parametrize("sizes", [[2, 16, 8, 1], [2, 64, 32, 16, 1], [30, 300, 250, 1]])
def test_a_forced_fallback_mid_fit_changes_no_bit(dtype, sizes, batch_size):
    """A team that hands over to one worker (here: forced after its first epoch) trains exactly
    as one worker from the start -- thin loop layers, BLAS layers, layers too wide for a team."""
    X, y = small_problem(n_samples=200, sizes=sizes, dtype=dtype)
    options = dict(sizes=sizes, epochs=5, lr=0.1, batch_size=batch_size, seed=3)
    one = train(X, y, 1, 2, **dict(options))
    forced = train(X, y, 2, 2, policy=dict(wait_window_ns=0, wait_limit=-1.0), **dict(options))
    assert forced[0].workers_used == [2, 1]
    assert_identical(one, forced)


def test_products_that_blas_would_thread_train_the_same_on_one_and_two_workers(dtype):
    """A block's first-layer product here is large enough for OpenBLAS to run it on several
    threads, and its last bits then depend on how many (docs/decisions.md): a fit holds the BLAS
    pools at one thread, so one worker and two train alike."""
    sizes = [784, 256, 128, 1]
    X, y = small_problem(n_samples=256, sizes=sizes, dtype=dtype)
    options = dict(sizes=sizes, epochs=3, lr=0.05, seed=5)
    one = train(X, y, 1, 2, **dict(options))
    two = train(X, y, 2, 2, **dict(options))
    assert one[0].workers_used == [1] and two[0].workers_used[0] == 2
    assert_identical(one, two)


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
    done = team.run_workers(lambda w: _exchange(board, w, n_workers, values, seen),
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

    early, late = team.run_workers(body, 2, lambda: None, one_blas_thread=False)
    assert 40_000_000 < early < 1_000_000_000
    assert 0 <= late < 10_000_000


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity (Linux) and two CPUs")
def test_workers_run_on_cpus_of_their_own_and_the_caller_keeps_its_affinity():
    allowed = os.sched_getaffinity(0)
    n_workers = len(allowed)
    cpus = team.worker_cpus(n_workers)
    assert len(cpus) == n_workers == len(set(cpus)) and set(cpus) == allowed
    affinities = team.run_workers(lambda w: os.sched_getaffinity(0), n_workers, lambda: None,
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
        team.run_workers(body, 2, abort, one_blas_thread=False)
    assert returned == [-1]


def test_workers_without_cores_hand_over_to_one():
    """Far more workers than cores: they keep waiting for each other, so fit stops them after a
    complete epoch and trains the rest on one worker -- with the same results."""
    X, y = small_problem(n_samples=400, sizes=(3, 12, 6, 1))
    crowd = crowd_of_workers()
    options = dict(sizes=[3, 12, 6, 1], epochs=300, lr=0.2)
    one = train(X, y, 1, crowd, **dict(options))
    many = train(X, y, crowd, crowd, **dict(options))
    assert many[0].workers_used == [crowd, 1]
    assert len(many[1]["loss"]) == 300
    assert_identical(one, many)


def test_fit_plans():
    circle, wide = [2, 16, 8, 1], [784, 256, 128, 1]
    policy = Policy(max_blocks=2)
    assert plan_fit(policy, circle, 500, None, 1000, threads=2).n_workers == 2  # the tutorial's W1
    assert plan_fit(policy, circle, 500, None, 10, threads=2).n_workers == 1    # too little work
    assert plan_fit(policy, circle, 40, None, 10_000, threads=2).n_workers == 1  # blocks too small
    assert plan_fit(policy, circle, 500, None, 1000, threads=1).n_workers == 1
    assert plan_fit(Policy(max_blocks=2, workers=5), circle, 500, None, 1000, threads=1).n_workers == 2
    assert plan_fit(policy, wide, 60_000, 128, 1, threads=2).n_workers == 2
    # The blocks -- all that decides the results -- do not depend on threads nor on the work
    for threads in (1, 2):
        for epochs in (1, 10**6):
            assert plan_fit(policy, circle, 500, None, epochs, threads=threads).n_blocks == 2
    assert reduction_blocks(Policy(max_blocks=8), circle, 40) == 1
    assert reduction_blocks(Policy(max_blocks=8), wide, 128) == 8
    assert reduction_blocks(Policy(max_blocks=8), wide, 64) == 4    # >= 16 samples a block
    assert Policy().max_blocks <= 8  # gradient rows do not grow with a big host
    with pytest.raises(ValueError, match="max_blocks"):
        Policy(max_blocks=0)


def test_results_with_workers_match_the_reference_engine(dtype):
    X, y = small_problem(n_samples=120, sizes=(3, 12, 6, 1), dtype=dtype)
    jit = network([3, 12, 6, 1], dtype=dtype, seed=1, workers=2, max_blocks=2)
    ref = fastbp.NeuralNetwork([3, 12, 6, 1], dtype=dtype, seed=1, backend="numpy")
    histories = [nn.fit(X, y, epochs=50, lr=0.1) for nn in (jit, ref)]
    assert jit.workers_used[0] == 2
    assert_close(histories[0]["loss"], histories[1]["loss"], dtype)
    assert_close(parameters_of(jit), parameters_of(ref), dtype)


def test_last_batch_shares_fit_the_blocks_buffers():
    """5 blocks, batches of 128, a last batch of 127: block 2 gets 26 samples of it but only 25
    of a full batch -- every block's buffers hold ceil(128 / 5)."""
    X, y = small_problem(n_samples=255, sizes=(3, 12, 6, 1))
    options = dict(sizes=[3, 12, 6, 1], epochs=3, lr=0.1, batch_size=128, shuffle=False)
    one = train(X, y, 1, 5, **dict(options))
    many = train(X, y, 5, 5, **dict(options))
    assert many[0]._engine._blocks.capacity == 26
    assert_identical(one, many)


def test_a_worker_that_cannot_start_releases_the_started_ones(monkeypatch):
    board = np.zeros(4 * SLOT, dtype=np.int64)
    started = []
    real_start = team.threading.Thread.start

    def start(thread):
        if started:
            raise RuntimeError("can't start new thread")
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(team.threading.Thread, "start", start)

    def abort():
        board[3 * SLOT] = 1

    with pytest.raises(RuntimeError, match="can't start"):
        team.run_workers(lambda w: _first_of_three(board, w), 3, abort, one_blas_thread=False)
    assert not started[0].is_alive()  # it left its barrier and was joined


@numba.njit(nogil=True)
def _first_of_three(board, worker):
    return barrier(board, worker, 3, 1)


@pytest.mark.parametrize("batch_size", [None, 100])
def test_a_fit_split_into_calls_keeps_its_workers_and_results(batch_size):
    """fit runs long trainings as several compiled calls: they run one plan (a short last call
    alone would get one worker) and give the results of one call."""
    X, y = fastbp.datasets.make_circle()
    results = []
    for max_work in (10**15, 500 * 193 * 21):  # one call; calls of 21 epochs
        nn = network([2, 16, 8, 1], seed=0, max_blocks=2, workers=2, min_parallel_work=10**6,
                     max_call_work=max_work)
        history = nn.fit(X, y, epochs=50, lr=0.1, batch_size=batch_size, seed=1)
        results.append((nn.workers_used, history, parameters_of(nn)))
    (workers1, h1, p1), (workers2, h2, p2) = results
    assert workers1[0] == workers2[0] == 2
    assert h1 == h2
    np.testing.assert_array_equal(p1, p2)


def test_after_a_fallback_the_rest_of_the_fit_keeps_one_worker(monkeypatch):
    """A team that hands over to one worker (forced at once here): the fit's later calls start
    on one worker."""
    X, y = small_problem(n_samples=400, sizes=(3, 12, 6, 1))
    calls = []
    original = fastbp.engines.NumbaEngine.train_full_batch

    def counted(self, X, Y, lrs, restorable, plan, run):
        calls.append(plan.n_workers)
        return original(self, X, Y, lrs, restorable, plan, run)

    monkeypatch.setattr(fastbp.engines.NumbaEngine, "train_full_batch", counted)
    nn = network([3, 12, 6, 1], max_blocks=2, workers=2, max_call_work=400 * 133 * 100,
                 wait_window_ns=0, wait_limit=-1.0)  # calls of 100 epochs
    history = nn.fit(X, y, epochs=600, lr=0.2)
    assert len(history["loss"]) == 600
    assert calls[0] == 2 and calls[1:] == [1] * (len(calls) - 1) and len(calls) == 7
    assert nn.workers_used == [2, 1]
