"""Stand-alone forward/backward steps split into blocks and shared with awake helper threads
(fastbp.helpers, kernels.serve): the same bits whoever computes the blocks, the reference's
math, thread safety, and the BLAS pools given back when the helpers fall asleep."""
import dataclasses
import threading
import time

import numpy as np
import pytest
import threadpoolctl

import fastbp
from conftest import assert_close
from fastbp import helpers, kernels, policy
from fastbp.kernels.serve import CLAIMED, DONE, SEQ

SHAPES = [  # (sizes, samples): loop-only layers, BLAS layers, uneven blocks, softmax
    ([3, 9, 5, 1], 37),
    ([20, 128, 64, 1], 100),
    ([12, 40, 24, 3], 61),
]


def network(sizes, dtype, output="sigmoid", tutorial_compat=False, backend="numba", **changes):
    nn = fastbp.NeuralNetwork(sizes, dtype=dtype, seed=3, output=output, backend=backend,
                              tutorial_compat=tutorial_compat)
    nn.policy = dataclasses.replace(nn.policy, **{"min_step_work": 0, "min_block_work": 0,
                                                 "min_block_samples": 8, **changes})
    return nn


def wait_for(condition, seconds=5):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def problem(sizes, n, output, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    if output == "softmax":
        return X, rng.integers(0, sizes[-1], n)
    return X, (rng.random((n, sizes[-1])) < 0.5).astype(float)


def steps(nn, X, y, n_steps=4, lr=0.05):
    outputs = []
    for _ in range(n_steps):
        outputs.append(nn.forward(X))
        nn.backward(y, lr)
    return outputs, nn.weights[0].copy(), [W.copy() for W in nn.weights] + [b.copy() for b in nn.biases]


@pytest.mark.parametrize("tutorial_compat", [False, True])
@pytest.mark.parametrize("sizes, n", SHAPES)
def test_helpers_change_no_bit(dtype, sizes, n, tutorial_compat):
    output = "softmax" if sizes[-1] == 3 and not tutorial_compat else "sigmoid"
    X, y = problem(sizes, n, output)
    shared = network(sizes, dtype, output, tutorial_compat, max_blocks=3)
    alone = network(sizes, dtype, output, tutorial_compat, max_blocks=3, workers=1)
    assert policy.plan_step(shared.policy, sizes, n, threads=2).n_blocks == 3
    with fastbp.threads(2):
        out_shared, _, params_shared = steps(shared, X, y)
    out_alone, _, params_alone = steps(alone, X, y)
    for a, b in zip(out_shared + params_shared, out_alone + params_alone):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes, n", SHAPES)
def test_blocked_steps_match_the_reference(dtype, sizes, n):
    output = "softmax" if sizes[-1] == 3 else "sigmoid"
    X, y = problem(sizes, n, output)
    compiled = network(sizes, dtype, output, max_blocks=3)
    reference = network(sizes, dtype, output, backend="numpy")
    out_c, _, params_c = steps(compiled, X, y, n_steps=2)
    out_r, _, params_r = steps(reference, X, y, n_steps=2)
    for a, b in zip(out_c + params_c, out_r + params_r):
        assert_close(a, b, dtype)
    compiled.forward(X)
    reference.forward(X)
    assert len(compiled.activations) == len(reference.activations) == len(sizes)
    for a, b in zip(compiled.activations + compiled.pre_activations,
                    reference.activations + reference.pre_activations):
        assert_close(a, b, dtype)


def test_small_steps_stay_one_block_and_large_ones_split():
    sizes = [20, 128, max(64, kernels.config.BLAS_MIN_WEIGHTS // 128 + 1), 1]  # a BLAS layer
    default = policy.Policy(max_blocks=2)
    small = policy.plan_step(default, sizes, 10, threads=2)
    large = policy.plan_step(default, sizes, 100, threads=2)
    assert (small.n_blocks, small.n_workers) == (1, 1)
    assert (large.n_blocks, large.n_workers, large.one_blas) == (2, 2, True)
    assert policy.plan_step(default, sizes, 100, threads=1).n_blocks == 2  # not the thread count
    with pytest.raises(ValueError, match="min_step_work"):
        policy.Policy(min_step_work=-1)


def test_networks_stepping_in_threads_at_once_get_their_own_results():
    sizes, n = [20, 128, 64, 1], 100
    X, y = problem(sizes, n, "sigmoid")
    expected = [steps(network(sizes, np.float64, max_blocks=2, workers=1), X * (k + 1), y, 20)[2]
                for k in range(3)]
    nets = [network(sizes, np.float64, max_blocks=2) for _ in range(3)]
    results = [None] * 3
    start = threading.Barrier(3)

    def run(k):
        start.wait()
        results[k] = steps(nets[k], X * (k + 1), y, 20)[2]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_asleep_helpers_change_no_bit_and_give_the_blas_pools_back(monkeypatch):
    sizes, n = [20, 128, 64, 1], 100
    X, y = problem(sizes, n, "sigmoid")
    monkeypatch.setattr(helpers, "SPIN_NS", 20_000)  # helpers fall asleep between most calls
    assert wait_for(lambda: not helpers.HELPERS.awake)  # an earlier test's period ended
    before = [info["num_threads"] for info in threadpoolctl.threadpool_info()]
    napping = network(sizes, np.float64, max_blocks=2)
    with fastbp.threads(2):
        outputs = []
        for _ in range(10):
            outputs.append(napping.forward(X))
            time.sleep(0.002)
            napping.backward(y, 0.05)
    alone = network(sizes, np.float64, max_blocks=2, workers=1)
    expected, _, params = steps(alone, X, y, 10)
    for a, b in zip(outputs + [W for W in napping.weights], expected + params[:3]):
        np.testing.assert_array_equal(a, b)
    assert wait_for(lambda: not helpers.HELPERS.awake)
    assert [info["num_threads"] for info in threadpoolctl.threadpool_info()] == before


def test_the_board_counts_jobs_and_a_helper_serves_them():
    sizes, n = [20, 128, 64, 1], 100
    X, y = problem(sizes, n, "sigmoid")
    nn = network(sizes, np.float64, max_blocks=2)
    board = helpers.HELPERS.board
    with fastbp.threads(2):
        first = int(board[SEQ])
        steps = 0
        while steps < 2000 and int(board[kernels.SLOT + DONE]) <= first:  # until the helper
            nn.forward(X)                                                # computed a share
            nn.backward(y, 0.0)
            steps += 1
        # a job per call (a call that found the helpers busy ending a period computes alone)
        assert first < int(board[SEQ]) <= first + 2 * steps
    assert int(board[kernels.SLOT + DONE]) > first
    assert int(board[kernels.SLOT + CLAIMED]) == int(board[SEQ])  # every share claimed


@pytest.mark.parametrize("n_workers", [1, 2])
def test_a_diverging_blocked_step_leaves_the_network_unchanged(n_workers):
    sizes, n = [20, 128, 64, 1], 100
    X, y = problem(sizes, n, "sigmoid")
    nn = network(sizes, np.float64, max_blocks=2, workers=n_workers)
    nn.forward(X)
    nn.backward(y, 0.1)
    before = [W.copy() for W in nn.weights] + [b.copy() for b in nn.biases]
    nn.forward(X * 1e150)
    with fastbp.threads(2), pytest.raises(fastbp.TrainingDivergedError):
        nn.backward(y, 1e300)
    for a, b in zip([W for W in nn.weights] + [b for b in nn.biases], before):
        np.testing.assert_array_equal(a, b)
    nn.forward(X)  # and it still steps
    nn.backward(y, 0.1)
    assert not np.array_equal(nn.weights[0], before[0])


def test_read_only_inputs_give_the_same_steps_without_compiling_again():
    sizes, n = [20, 128, 64, 1], 100
    X, y = problem(sizes, n, "sigmoid")
    writable = network(sizes, np.float64, max_blocks=2)
    expected = steps(writable, X, y, 2)
    signatures = len(kernels.lead.signatures)
    X.flags.writeable = False
    y.flags.writeable = False
    read_only = network(sizes, np.float64, max_blocks=2)
    got = steps(read_only, X, y, 2)
    for a, b in zip(got[0] + got[2], expected[0] + expected[2]):
        np.testing.assert_array_equal(a, b)
    assert len(kernels.lead.signatures) == signatures


def test_read_only_data_compiles_no_second_mini_batch_loop():
    X, y = problem([6, 10, 1], 64, "sigmoid")
    writable = network([6, 10, 1], np.float64)
    writable.fit(X, y, epochs=1, lr=0.1, batch_size=16)
    signatures = len(kernels.train_minibatch.signatures)
    X.flags.writeable = False
    y.flags.writeable = False
    read_only = network([6, 10, 1], np.float64)
    read_only.fit(X, y, epochs=1, lr=0.1, batch_size=16)
    assert len(kernels.train_minibatch.signatures) == signatures
    np.testing.assert_array_equal(read_only.weights[0], writable.weights[0])


def test_the_helpers_keep_no_network_alive_after_their_period(monkeypatch):
    import gc
    import weakref

    sizes, n = [20, 128, 64, 1], 100
    X, y = problem(sizes, n, "sigmoid")
    nn = network(sizes, np.float64, max_blocks=2)
    with fastbp.threads(2):
        steps(nn, X, y, 3)
    blocks = weakref.ref(nn._engine._step_blocks.record.x)  # what the helpers' job holds
    del nn
    assert wait_for(lambda: not helpers.HELPERS.awake)
    assert wait_for(lambda: gc.collect() is not None and blocks() is None)
