"""NeuralNetwork API on both engines: gradients, engine agreement, fit semantics, parameter views."""
import dataclasses

import numpy as np
import pytest

import fastbp
from conftest import assert_close, make_pair, parameters_of, small_problem


def finite_difference_gradients(nn, X, y, eps=1e-6):
    """Central differences of nn.loss over every weight and bias (float64 networks)."""
    grads = []
    for array in list(nn.weights) + list(nn.biases):
        g = np.zeros(array.shape)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + eps
            plus = nn.loss(X, y)
            array[index] = original - eps
            minus = nn.loss(X, y)
            array[index] = original
            g[index] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("sizes", [(3, 5, 4, 1), (2, 1, 1), (4, 3, 2), (1, 6, 1)])
def test_gradients_equal_finite_differences_of_all_parameters(backend, sizes):
    X, y = small_problem(n_samples=17, sizes=sizes, seed=3)
    nn = fastbp.NeuralNetwork(sizes, backend=backend, seed=1)
    for b in nn.biases:  # nonzero biases, so the bias gradients are exercised away from 0
        b[...] = np.linspace(-0.3, 0.3, b.size)
    dWs, dbs = nn.gradients(X, y)
    numerical = finite_difference_gradients(nn, X, y)
    for analytic, numeric in zip(dWs + dbs, numerical):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_tutorial_mode_bias_step_is_gradient_over_n(backend):
    """The tutorial's weight step is the gradient of its loss; its bias step that gradient / N."""
    X, y = small_problem(n_samples=25)
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=2, tutorial_compat=True)
    dWs, dbs = nn.gradients(X, y)
    numerical = finite_difference_gradients(nn, X, y)
    for analytic, numeric in zip(dWs, numerical[:3]):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    for analytic, numeric in zip(dbs, numerical[3:]):
        np.testing.assert_allclose(analytic * len(X), numeric, rtol=1e-6, atol=1e-9)
    check = fastbp.gradient_check(nn, X, y)
    assert not check.ok
    assert all(check.per_parameter[f"W{i}"] < 1e-5 for i in range(3))
    assert all(check.per_parameter[f"b{i}"] > 0.5 for i in range(3))


def test_gradient_check_all_parameters(backend, dtype):
    X, y = small_problem(n_samples=30, seed=5)
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, dtype=dtype, seed=4)
    before = [W.copy() for W in nn.weights] + [b.copy() for b in nn.biases]
    result = fastbp.gradient_check(nn, X, y)
    assert result.ok, result.table()
    assert set(result.per_parameter) == {"W0", "b0", "W1", "b1", "W2", "b2"}
    assert result.tolerance == (1e-5 if dtype == np.float64 else 1e-3)
    for saved, now in zip(before, list(nn.weights) + list(nn.biases)):
        np.testing.assert_array_equal(saved, now)  # the check leaves the network untouched


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    X, y = small_problem(n_samples=30, seed=5)
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], seed=4)
    real = fastbp.NeuralNetwork.gradients

    def off_by_one_percent(self, X, y):  # a planted 1% error in every weight gradient
        dWs, dbs = real(self, X, y)
        return [dW * 1.01 for dW in dWs], dbs

    monkeypatch.setattr(fastbp.NeuralNetwork, "gradients", off_by_one_percent)
    result = fastbp.gradient_check(nn, X, y)
    assert not result.ok and result.per_parameter["W1"] > 1e-3 and result.per_parameter["b1"] < 1e-5


@pytest.mark.parametrize("eps, error", [(0.0, ValueError), (-1e-5, ValueError),
                                        (float("nan"), ValueError), (float("inf"), ValueError),
                                        (True, TypeError), ("1e-5", TypeError)])
def test_gradient_check_rejects_bad_eps(eps, error):
    X, y = small_problem()
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], seed=0)
    before = nn._params.flat.copy()
    with pytest.raises(error, match="eps must be a"):
        fastbp.gradient_check(nn, X, y, eps=eps)
    np.testing.assert_array_equal(nn._params.flat, before)


def test_gradient_check_prints_table(capsys):
    X, y = small_problem(n_samples=10)
    fastbp.gradient_check(fastbp.NeuralNetwork([3, 5, 4, 1], seed=0), X, y, verbose=True)
    out = capsys.readouterr().out
    assert "Analytical" in out and "W0" in out and "b2" in out


@pytest.mark.parametrize("tutorial_compat", [False, True])
def test_engines_agree_over_hundreds_of_epochs(dtype, tutorial_compat):
    X, y = fastbp.datasets.make_circle(n_samples=200, seed=1)
    nets = make_pair([2, 16, 8, 1], dtype=dtype, tutorial_compat=tutorial_compat, seed=7)
    histories = {b: nn.fit(X, y, epochs=300, lr=0.1) for b, nn in nets.items()}
    ref, jit = nets["numpy"], nets["numba"]
    tol = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(histories["numba"]["loss"], histories["numpy"]["loss"], rtol=tol)
    for a, b in zip(list(jit.weights) + list(jit.biases), list(ref.weights) + list(ref.biases)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_engines_agree_when_the_first_layer_is_a_blas_product(dtype, batch_size):
    """Inputs of a BLAS-wide first layer sit sample-major in the compiled engine (no transpose)."""
    sizes = [max(40, fastbp.kernels.config.BLAS_MIN_WEIGHTS // 24 + 1), 24, 8, 1]  # past the line
    assert fastbp.kernels.inputs_sample_major(np.array(sizes))  # the layout under test
    X, y = small_problem(n_samples=90, sizes=sizes, dtype=dtype)
    nets = make_pair(sizes, dtype=dtype, seed=2)
    histories = {b: nn.fit(X, y, epochs=30, lr=0.05, batch_size=batch_size, seed=5)
                 for b, nn in nets.items()}
    ref, jit = nets["numpy"], nets["numba"]
    tol = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(histories["numba"]["loss"], histories["numpy"]["loss"], rtol=tol)
    for a, b in zip(list(jit.weights) + list(jit.biases), list(ref.weights) + list(ref.biases)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    np.testing.assert_allclose(jit.forward(X[:7]), ref.forward(X[:7]), rtol=tol, atol=tol)
    for mine, theirs in zip(*(nn.gradients(X, y) for nn in (jit, ref))):
        for a, b in zip(mine, theirs):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_fit_full_batch_equals_forward_backward_loop(backend, dtype):
    """fit (one compiled call) and a loop of forward/backward calls train alike.

    Not always bit for bit on the numba engine: with fastmath ``contract`` LLVM may fuse a
    multiply-add into an FMA in one compiled context and not in another (the whole training
    loop vs the separate passes), a last-bit difference seen once in a few dozen runs.
    """
    X, y = fastbp.datasets.make_spirals(n_per_class=50)
    fitted = fastbp.NeuralNetwork([2, 64, 32, 16, 1], backend=backend, dtype=dtype, seed=3)
    looped = fastbp.NeuralNetwork([2, 64, 32, 16, 1], backend=backend, dtype=dtype, seed=3)
    with fastbp.threads(1):
        history = fitted.fit(X, y, epochs=40, lr=0.05, shuffle=False)
    losses = []
    for _ in range(40):
        looped.forward(X)
        losses.append(looped.loss(X, y))
        looped.backward(y, lr=0.05)
    for a, b in zip(list(fitted.weights) + list(fitted.biases),
                    list(looped.weights) + list(looped.biases)):
        assert_close(a, b, dtype)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12 if dtype == np.float64 else 1e-6)


def test_minibatch_fit_learns_spirals_float32():
    X, y = fastbp.datasets.make_spirals()
    nn = fastbp.NeuralNetwork([2, 64, 32, 16, 1], dtype=np.float32, seed=0)
    history = nn.fit(X, y, epochs=300, lr=0.1, batch_size=32, seed=1)
    assert nn.weights[0].dtype == np.float32 and nn.forward(X).dtype == np.float32
    assert history["accuracy"][-1] >= 0.97 and nn.score(X, y) >= 0.97
    assert len(history["loss"]) == 300


def test_minibatch_engines_agree_and_seed_reproduces(dtype):
    X, y = fastbp.datasets.make_circle(n_samples=101)
    nets = make_pair([2, 16, 8, 1], dtype=dtype, seed=3)
    histories = {b: nn.fit(X, y, epochs=20, lr=0.1, batch_size=16, seed=11)
                 for b, nn in nets.items()}
    tol = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(histories["numba"]["loss"], histories["numpy"]["loss"], rtol=tol)
    np.testing.assert_allclose(histories["numba"]["accuracy"], histories["numpy"]["accuracy"])
    again = fastbp.NeuralNetwork([2, 16, 8, 1], dtype=dtype, seed=3)
    assert again.fit(X, y, epochs=20, lr=0.1, batch_size=16, seed=11) == histories["numba"]
    other = fastbp.NeuralNetwork([2, 16, 8, 1], dtype=dtype, seed=3)
    assert other.fit(X, y, epochs=20, lr=0.1, batch_size=16, seed=12) != histories["numba"]


def test_minibatch_history_is_mean_of_batch_losses(backend):
    """One epoch of 3 unshuffled batches: the recorded loss is the mean of the batch losses."""
    X, y = small_problem(n_samples=30, seed=9)
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    twin = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    history = nn.fit(X, y, epochs=1, lr=0.5, batch_size=10, shuffle=False)
    batch_losses, correct = [], 0.0
    for start in range(0, 30, 10):
        Xb, yb = X[start:start + 10], y[start:start + 10]
        batch_losses.append(twin.loss(Xb, yb))
        correct += twin.score(Xb, yb) * 10
        twin.forward(Xb)
        twin.backward(yb, lr=0.5)
    assert history["loss"][0] == pytest.approx(np.mean(batch_losses), rel=1e-12)
    assert history["accuracy"][0] == pytest.approx(correct / 30)
    np.testing.assert_allclose(nn.weights[0], twin.weights[0], rtol=1e-12)


def test_minibatch_shuffle_uses_global_state_for_seed_none():
    X, y = fastbp.datasets.make_circle(n_samples=64)
    results = []
    for _ in range(2):
        np.random.seed(5)
        nn = fastbp.NeuralNetwork([2, 4, 1])
        results.append(nn.fit(X, y, epochs=3, lr=0.1, batch_size=8))
    assert results[0] == results[1]


def test_editing_weights_in_place_reaches_the_engine(backend):
    X, y = small_problem()
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    before = nn.forward(X)
    nn.weights[2][:] = 0.0
    nn.biases[2][:] = 2.0
    after = nn.forward(X)
    np.testing.assert_allclose(after, 1 / (1 + np.exp(-2.0)))
    assert not np.allclose(before, after)


def test_replacing_parameters_copies_into_the_buffer(backend):
    X, y = small_problem()
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    nn.weights[2] = np.zeros((4, 1))
    nn.biases = [np.zeros(5), np.zeros(4), np.full(1, -1.0)]
    np.testing.assert_allclose(nn.forward(X), 1 / (1 + np.exp(1.0)))
    nn.weights[1] -= 0.5  # the tutorial's in-place update form
    assert np.all(nn.weights[1] == nn._params.weights[1])


def test_forward_result_is_not_overwritten(backend):
    X, y = small_problem()
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    first = nn.forward(X)
    saved = first.copy()
    nn.backward(y, lr=1.0)
    nn.forward(X)
    np.testing.assert_array_equal(first, saved)
    assert len(nn.activations) == 4 and len(nn.pre_activations) == 3
    assert nn.activations[1].shape == (40, 5) and nn.pre_activations[2].shape == (40, 1)


def test_changing_X_between_forward_and_backward_changes_no_engine_step():
    """backward steps from the recorded forward pass, whatever the caller does to X after it."""
    X, y = small_problem()
    weights = {}
    for backend in ("numpy", "numba"):
        nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
        X_mine = X.copy()
        nn.forward(X_mine)
        X_mine *= 10
        nn.backward(y, lr=1.0)
        weights[backend] = nn.weights[0].copy()
    reference = fastbp.NeuralNetwork([3, 5, 4, 1], backend="numpy", seed=0)
    reference.forward(X)
    reference.backward(y, lr=1.0)
    np.testing.assert_allclose(weights["numpy"], reference.weights[0], rtol=0, atol=0)
    np.testing.assert_allclose(weights["numba"], reference.weights[0], rtol=1e-12, atol=1e-14)


def test_predict_and_predict_proba(backend):
    X, y = fastbp.datasets.make_circle()
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], backend=backend, seed=0)
    nn.fit(X, y.ravel(), epochs=300, lr=0.5)
    proba = nn.predict_proba(X)
    assert proba.shape == (500, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    labels = nn.predict(X)
    assert labels.shape == (500,) and set(np.unique(labels)) <= {0, 1}
    assert np.mean(labels == y.ravel()) == pytest.approx(nn.score(X, y))


def test_multi_output_network(backend):
    X, _ = small_problem(n_samples=30, sizes=(3, 6, 2))
    y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(float)
    nn = fastbp.NeuralNetwork([3, 6, 2], backend=backend, seed=0)
    assert fastbp.gradient_check(nn, X, y).ok
    nn.fit(X, y, epochs=200, lr=1.0)
    assert nn.predict_proba(X).shape == (30, 2) and nn.predict(X).shape == (30, 2)
    assert nn.score(X, y) > 0.9


def test_seeds_give_independent_reproducible_streams():
    a = fastbp.NeuralNetwork([2, 8, 1], seed=3)
    b = fastbp.NeuralNetwork([2, 8, 1], seed=np.random.default_rng(3))
    c = fastbp.NeuralNetwork([2, 8, 1], seed=4)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    assert not np.array_equal(a.weights[0], c.weights[0])
    state = np.random.get_state()[1].copy()
    fastbp.NeuralNetwork([2, 8, 1], seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_reference_backend_aliases():
    assert fastbp.NeuralNetwork([2, 3, 1], backend="reference").backend == "numpy"
    assert fastbp.NeuralNetwork([2, 3, 1], backend="jit").backend == "numba"


def test_float32_stays_float32_end_to_end(backend):
    X, y = small_problem()
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, dtype=np.float32, seed=0)
    nn.forward(X)
    assert all(a.dtype == np.float32 for a in nn.activations + nn.pre_activations)
    dWs, dbs = nn.gradients(X, y)
    assert all(g.dtype == np.float32 for g in dWs + dbs)
    nn.backward(y, lr=0.1)
    assert all(p.dtype == np.float32 for p in list(nn.weights) + list(nn.biases))


def test_fit_verbose_reports_progress(capsys, monkeypatch):
    import fastbp.progress

    monkeypatch.setattr(fastbp.progress, "tqdm", None)  # the printed fallback (tqdm is optional)
    X, y = fastbp.datasets.make_circle(n_samples=50)
    nn = fastbp.NeuralNetwork([2, 4, 1], seed=0)
    history = nn.fit(X, y, epochs=40, lr=0.1, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 20 and lines[-1].startswith("epoch     40/40: loss=")
    assert f"{history['loss'][-1]:.4f}" in lines[-1]


def test_train_network_runs_the_tutorial_loop_for_other_networks(capsys):
    """train_network accepts any object with the tutorial's forward/backward (e.g. its own class)."""
    import tutorial_oracle

    X, y = fastbp.datasets.make_circle(n_samples=60)
    np.random.seed(1)
    theirs = tutorial_oracle.NeuralNetwork([2, 4, 1])
    np.random.seed(1)
    ours = fastbp.NeuralNetwork([2, 4, 1], tutorial_compat=True)
    fastbp.train_network(theirs, X, y, epochs=30, lr=0.1, print_every=10)
    printed_theirs = capsys.readouterr().out
    fastbp.train_network(ours, X, y, epochs=30, lr=0.1, print_every=10)
    assert capsys.readouterr().out == printed_theirs
    np.testing.assert_allclose(ours.weights[0], theirs.weights[0], rtol=1e-10)


def test_each_dtype_compiles_once_whatever_the_shapes():
    """No specialisation per shape, layout or call: one signature per dtype per entry point."""
    from fastbp import kernels

    for dtype in (np.float32, np.float64):
        for sizes, n in [([2, 16, 8, 1], 500), ([3, 7, 1], 33), ([20, 128, 64, 1], 100)]:
            random = np.random.default_rng(n)
            X = random.random((n, sizes[0]))
            y = (random.random((n, 1)) > 0.5).astype(float)
            nn = fastbp.NeuralNetwork(sizes, dtype=dtype, seed=0)
            nn.fit(X, y, epochs=2, lr=0.1)
            nn.fit(np.asfortranarray(X), y.ravel(), epochs=1, lr=0.1, batch_size=16)
            nn.forward(X[::2])
            nn.backward(y[::2])
            nn.gradients(X, y)
            nn.loss(X, y)
    for entry in (kernels.train_full_batch, kernels.train_minibatch, kernels.forward_pass,
                  kernels.gradient_pass, kernels.network_loss, kernels.sgd_update):
        assert len(entry.signatures) <= 2, (entry, entry.signatures)


def test_parameter_lists_behave_like_the_tutorials_lists():
    nn = fastbp.NeuralNetwork([3, 5, 1], seed=0)
    both = nn.weights + nn.biases
    assert isinstance(both, list) and len(both) == 4 and both[2] is nn.biases[0]
    assert len([np.zeros(1)] + nn.weights) == 3
    assert sum(W.size + b.size for W, b in zip(nn.weights, nn.biases)) == 3 * 5 + 5 + 5 + 1
    both[0][0, 0] = 7.0  # still views into the network's parameters
    assert nn._params.flat[0] == 7.0


@pytest.mark.parametrize("copier", ["deepcopy", "pickle"])
def test_copied_network_keeps_its_parameters_connected(backend, copier):
    import copy
    import pickle

    X, y = fastbp.datasets.make_circle(n_samples=40)
    original = fastbp.NeuralNetwork([2, 3, 1], backend=backend, seed=0)
    original.fit(X, y, epochs=3, lr=0.5)
    twin = copy.deepcopy(original) if copier == "deepcopy" else pickle.loads(pickle.dumps(original))
    np.testing.assert_array_equal(twin.forward(X), original.forward(X))
    assert np.shares_memory(twin.weights[0], twin._params.flat)
    history = twin.fit(X, y, epochs=5, lr=0.5)
    assert history["loss"][-1] < history["loss"][0]                  # the copy learns ...
    assert not np.array_equal(twin.weights[0], original.weights[0])  # ... on its own parameters
    twin.weights[1][:] = 0.0
    twin.biases[1][:] = 3.0
    np.testing.assert_allclose(twin.forward(X), 1 / (1 + np.exp(-3.0)))


def test_global_state_network_pickles():
    import pickle

    np.random.seed(0)
    nn = fastbp.NeuralNetwork([2, 3, 1])
    restored = pickle.loads(pickle.dumps(nn))
    assert restored._random is np.random
    np.testing.assert_array_equal(restored.weights[0], nn.weights[0])


def test_compiled_workspaces_start_on_cache_lines():
    """AVX loads that straddle cache lines cost W1 ~15%: every workspace buffer is 64-byte aligned."""
    from fastbp.engines import aligned_empty

    for size, dtype in [(1, np.float32), (1000, np.float64), (7, np.float32)]:
        buffer = aligned_empty(size, dtype)
        assert buffer.ctypes.data % 64 == 0 and buffer.shape == (size,) and buffer.dtype == dtype
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
    nn.forward(np.ones((13, 2)))
    workspace = nn._engine._recorded
    for buffer in (workspace.x, workspace.y, workspace.z, workspace.a, workspace.d):
        assert buffer.ctypes.data % 64 == 0
    X, y = fastbp.datasets.make_circle()
    nn.fit(X, y, epochs=1, lr=0.1)
    blocks = nn._engine._blocks.record
    for rows in blocks:  # every block's row of every training buffer
        assert all(row.ctypes.data % 64 == 0 for row in rows)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_fit_in_many_compiled_calls_trains_as_in_one(backend, monkeypatch, batch_size):
    """fit splits long trainings into calls of policy.max_call_work (so Ctrl-C is seen between
    them); the split never changes the results."""
    X, y = small_problem(n_samples=60, sizes=(3, 8, 1), seed=2)
    engine = type(fastbp.NeuralNetwork([3, 8, 1], backend=backend)._engine)
    method = "train_full_batch" if batch_size is None else "train_minibatch"
    original, calls = getattr(engine, method), []
    monkeypatch.setattr(engine, method, lambda self, *a: calls.append(1) or original(self, *a))
    results = []
    for max_work in (10**12, 60 * 41 * 7):  # one call; calls of 7 epochs (41 parameters)
        calls.clear()
        nn = fastbp.NeuralNetwork([3, 8, 1], backend=backend, seed=5)
        nn.policy = dataclasses.replace(nn.policy, max_call_work=max_work)
        history = nn.fit(X, y, epochs=30, lr=0.2, batch_size=batch_size, seed=7)
        results.append((len(calls), history, nn._params.flat.copy()))
    (one_call, h1, p1), (many_calls, h2, p2) = results
    assert one_call == 1 and many_calls == 5
    assert h1 == h2
    np.testing.assert_array_equal(p1, p2)


def test_ctrl_c_stops_a_long_fit_between_compiled_calls():
    import _thread
    import threading
    import time

    X, y = fastbp.datasets.make_circle()
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
    nn.fit(X, y, epochs=2, lr=0.1)  # compiled before the clock starts
    timer = threading.Timer(0.3, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        nn.fit(X, y, epochs=10**7, lr=0.1)  # minutes of training
    assert time.perf_counter() - start < 30
    assert np.all(np.isfinite(nn._params.flat))
    assert np.isfinite(nn.loss(X, y))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend, n_samples, sizes", [
    ("numba", 300, [3, 16, 8, 1]), ("numpy", 300, [3, 16, 8, 1]), ("numba", 2000, [3, 64, 32, 1])],
    ids=["numba, one block", "numpy", "numba, steps in blocks"])
def test_a_network_whose_workspaces_were_freed_trains_and_steps_as_before(backend, n_samples,
                                                                          sizes):
    """free_workspaces drops the training workspaces and the step buffers; what the network
    does next -- fits (Adam, continuing its state), forward + backward steps, a step that would
    diverge and is undone -- is bit for bit what it does without freeing (the larger batch's
    recorded passes run in blocks, whose backward keeps its buffers through the free)."""
    X, y = small_problem(n_samples=n_samples, sizes=sizes)
    in_blocks = n_samples == 2000
    twins = [fastbp.NeuralNetwork(sizes, backend=backend, seed=0) for _ in range(2)]
    for freeing, nn in zip([True, False], twins):
        def maybe_free(nn=nn, freeing=freeing):
            if freeing:
                nn.free_workspaces()
        nn.fit(X, y, epochs=3, lr=0.05, optimizer="adam")
        maybe_free()
        if freeing:  # released (a fit makes them again)
            assert nn._params._grads is None and nn._params._backup is None
        nn.fit(X, y, epochs=3, lr=0.05, optimizer="adam")
        maybe_free()
        nn.forward(X)
        if backend == "numba":
            assert isinstance(nn._engine._recorded, tuple) == in_blocks
        maybe_free()  # between a recorded pass and its backward
        if freeing and in_blocks:  # kept for that backward
            assert nn._params._grads is not None and nn._params._backup is not None
        nn.backward(y, lr=0.1)
        maybe_free()
        nn.fit(X, y, epochs=2, lr=0.05, optimizer="adam")
        maybe_free()
        for _ in range(4):  # huge steps until one would not be finite: undone from the backup
            nn.forward(X)
            try:
                nn.backward(y, lr=1e308)
            except fastbp.TrainingDivergedError:
                break
        else:
            pytest.fail("no step diverged")
    np.testing.assert_array_equal(parameters_of(twins[0]), parameters_of(twins[1]))
    assert np.all(np.isfinite(parameters_of(twins[0])))
    freed = twins[0]
    freed.forward(X[:5])  # a pass in one block replaces the one in blocks: nothing holds them
    freed.free_workspaces()
    assert freed._params._grads is None and freed._params._backup is None


def test_free_workspaces_leaves_the_parameters_and_little_else():
    """After free_workspaces a trained network keeps its parameters, the weight-decay mask and
    the optimizer's state (none for plain SGD) -- not the gradient and backup buffers."""
    import tracemalloc

    sizes = [3, 256, 256, 1]
    X, y = small_problem(n_samples=200, sizes=sizes)
    warm = fastbp.NeuralNetwork(sizes, seed=1)  # everything compiled and loaded beforehand
    warm.fit(X, y, epochs=2)
    warm.forward(X[:10])
    warm.backward(y[:10])
    tracemalloc.start()
    try:
        nn = fastbp.NeuralNetwork(sizes, seed=0)
        nn.fit(X, y, epochs=2)
        nn.forward(X[:10])
        nn.backward(y[:10])  # the step buffers in use
        nn.free_workspaces()
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    parameters = parameters_of(nn).nbytes
    assert 2 * parameters <= kept < 3 * parameters, (kept, parameters)
