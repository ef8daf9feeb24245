"""fastbp against the tutorial's literal code (tests/tutorial_oracle.py, whose class is
fastbp/bench/tutorial_class.py: the one copy, which the bench times too).

Everything here is compared with the oracle -- the tutorial's NumPy code
copied verbatim -- never with numbers written down by hand:

* the helper functions and the tutorial's printed sanity checks;
* the data sets and the untouched global random state;
* the He initial weights drawn from NumPy's global state;
* ``tutorial_compat=True``: the tutorial's update rule, step for step, on the
  circle and spiral networks, through forward/backward, ``train_network``
  (same printed text) and ``fit``;
* the exact mode: the exact gradient (the tutorial divides the bias gradient
  by N twice), ``gradient_check`` telling the two apart, and the accuracy it
  reaches where the tutorial's rule stalls.

The float64 comparisons use tight tolerances: the tutorial's training is
numerically tame (perturbing its weights by 1 ulp moves them by ~1e-14
relative after 1000 epochs), so a looser match would be a real difference.
"""

import contextlib
import copy
import io
import os
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # works with any pytest --import-mode
    sys.path.insert(0, _HERE)

import fastbp  # noqa: E402
import tutorial_oracle as oracle  # noqa: E402

BACKENDS = ["numpy", "numba"]

# float64 tolerances for "the same computation up to float rounding"
RTOL = 1e-9
ATOL = 1e-12

CIRCLE_SIZES = [2, 16, 8, 1]
SPIRAL_SIZES = [2, 64, 32, 16, 1]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def _states_equal(a, b):
    """Compare two np.random.get_state() tuples."""
    return (a[0] == b[0] and np.array_equal(a[1], b[1])
            and tuple(a[2:]) == tuple(b[2:]))


def _tutorial_pair(data_fn, sizes, backend, **kwargs):
    """The tutorial's data, then the oracle network and a fastbp network
    built from the same global random state (the tutorial's order)."""
    X, y = data_fn()
    state = np.random.get_state()
    ref = oracle.NeuralNetwork(sizes)
    np.random.set_state(state)
    kwargs.setdefault("tutorial_compat", True)
    nn = fastbp.NeuralNetwork(sizes, backend=backend, **kwargs)
    return X, y, ref, nn


def _assert_params_close(nn, ref, rtol=RTOL, atol=ATOL, msg=""):
    assert len(nn.weights) == len(ref.weights)
    assert len(nn.biases) == len(ref.biases)
    for i, (W, W_ref) in enumerate(zip(nn.weights, ref.weights)):
        assert W.shape == W_ref.shape, f"W{i} shape {msg}"
        assert_allclose(W, W_ref, rtol=rtol, atol=atol, err_msg=f"W{i} {msg}")
    for i, (b, b_ref) in enumerate(zip(nn.biases, ref.biases)):
        assert b.shape == b_ref.shape, f"b{i} shape {msg}"
        assert_allclose(b, b_ref, rtol=rtol, atol=atol, err_msg=f"b{i} {msg}")


def _run_side_by_side(X, y, ref, nn, epochs, lr, params_every=10):
    """The tutorial's training loop on both networks, compared every epoch.

    Predictions are compared AFTER backward, as the tutorial's loops use
    them (``acc = ((pred > 0.5) == y).mean()`` comes after nn.backward), so
    the array forward returned must not be overwritten by backward.
    """
    for epoch in range(epochs):
        check = epoch % params_every == 0 or epoch == epochs - 1
        if check:
            # loss on the current weights, before this epoch's forward
            loss_api = nn.loss(X, y)

        pred_ref = ref.forward(X)
        loss_ref = oracle.binary_cross_entropy(y, pred_ref)
        ref.backward(y, lr=lr)

        pred = nn.forward(X)
        loss = fastbp.binary_cross_entropy(y, pred)
        nn.backward(y, lr=lr)

        assert pred.shape == pred_ref.shape
        assert_allclose(pred, pred_ref, rtol=RTOL, atol=ATOL,
                        err_msg=f"predictions, epoch {epoch}")
        assert_allclose(loss, loss_ref, rtol=RTOL, err_msg=f"loss, epoch {epoch}")
        acc = ((pred > 0.5) == y).mean()
        acc_ref = ((pred_ref > 0.5) == y).mean()
        assert acc == acc_ref, f"accuracy, epoch {epoch}"
        if check:
            assert_allclose(loss_api, loss_ref, rtol=RTOL,
                            err_msg=f"nn.loss, epoch {epoch}")
            _assert_params_close(nn, ref, msg=f"after epoch {epoch}")


def _oracle_step_direction(net, X, y, exact=False):
    """The tutorial's backward pass without the update: (dWs, dbs).

    Lines copied from oracle.NeuralNetwork.backward; ``exact=True`` replaces
    the bias gradient delta.mean(axis=0) by the true delta.sum(axis=0).
    """
    net.forward(X)
    delta = (oracle.bce_derivative(y, net.activations[-1])
             * oracle.sigmoid_derivative(net.pre_activations[-1]))
    dWs, dbs = [None] * len(net.weights), [None] * len(net.weights)
    for i in range(len(net.weights) - 1, -1, -1):
        dWs[i] = net.activations[i].T @ delta
        dbs[i] = delta.sum(axis=0) if exact else delta.mean(axis=0)
        if i > 0:
            delta = ((delta @ net.weights[i].T)
                     * oracle.relu_derivative(net.pre_activations[i-1]))
    return dWs, dbs


# ----------------------------------------------------------------------------
# helper functions
# ----------------------------------------------------------------------------

SHAPES = [(1,), (7,), (10, 1), (32, 3), (5, 4)]


def _rng(shape):
    return np.random.RandomState(sum(shape) * 7919 + len(shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_loss_functions_match_oracle(shape):
    rng = _rng(shape)
    y_true = (rng.rand(*shape) < 0.5).astype(float)
    y_pred = rng.rand(*shape)
    # include values the clip acts on
    flat = y_pred.reshape(-1)
    flat[0] = 0.0
    if flat.size > 1:
        flat[1] = 1.0
    if flat.size > 2:
        flat[2] = 1e-20
    assert_allclose(fastbp.binary_cross_entropy(y_true, y_pred),
                    oracle.binary_cross_entropy(y_true, y_pred), rtol=1e-12)
    d = fastbp.bce_derivative(y_true, y_pred)
    d_ref = oracle.bce_derivative(y_true, y_pred)
    assert np.shape(d) == d_ref.shape
    assert_allclose(d, d_ref, rtol=1e-12)
    # soft labels too
    y_soft = rng.rand(*shape)
    assert_allclose(fastbp.binary_cross_entropy(y_soft, y_pred),
                    oracle.binary_cross_entropy(y_soft, y_pred), rtol=1e-12)
    assert_allclose(fastbp.bce_derivative(y_soft, y_pred),
                    oracle.bce_derivative(y_soft, y_pred), rtol=1e-12)


@pytest.mark.parametrize("helper", ["binary_cross_entropy", "bce_derivative"])
def test_loss_helpers_refuse_shapes_that_would_broadcast(helper):
    """(N,) labels against (N, 1) predictions: the tutorial's helpers silently average an N x N
    matrix (1.31 instead of 0.19 on the circle); fastbp's name the problem instead."""
    y = np.array([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(3, 1\)"):
        getattr(fastbp, helper)(y, np.full((3, 1), 0.5))


@pytest.mark.parametrize("shape", SHAPES)
def test_activation_functions_match_oracle(shape):
    rng = _rng(shape)
    z = rng.randn(*shape) * 10
    flat = z.reshape(-1)
    flat[0] = 0.0
    extremes = [-1000.0, 1000.0, -600.0, 600.0, -40.0, 40.0]
    for k, v in enumerate(extremes[: flat.size - 1]):
        flat[k + 1] = v
    for name in ["sigmoid", "sigmoid_derivative"]:
        got = getattr(fastbp, name)(z)
        want = getattr(oracle, name)(z)
        assert np.shape(got) == want.shape, name
        assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=name)
    for name in ["relu", "relu_derivative"]:
        got = getattr(fastbp, name)(z)
        want = getattr(oracle, name)(z)
        assert np.asarray(got).dtype == want.dtype, name
        assert_array_equal(got, want, err_msg=name)


def test_tutorial_sanity_check_printout_identical():
    """The tutorial's printed BCE, bce_derivative and derivative-table checks
    come out character for character the same with fastbp's functions."""
    buf_ref, buf = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf_ref):
        oracle.print_sanity_checks()
    with contextlib.redirect_stdout(buf):
        oracle.print_sanity_checks(
            binary_cross_entropy=fastbp.binary_cross_entropy,
            bce_derivative=fastbp.bce_derivative,
            sigmoid_derivative=fastbp.sigmoid_derivative,
            relu_derivative=fastbp.relu_derivative,
        )
    assert buf_ref.getvalue()  # the oracle printed something
    assert buf.getvalue() == buf_ref.getvalue()


# ----------------------------------------------------------------------------
# data sets
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, oracle_fn", [
    ("make_circle", oracle.tutorial_circle_data),
    ("make_spirals", oracle.tutorial_spiral_data),
])
def test_datasets_equal_tutorial_data(name, oracle_fn):
    X_ref, y_ref = oracle_fn()
    X, y = getattr(fastbp.datasets, name)()
    assert X.dtype == X_ref.dtype and y.dtype == y_ref.dtype
    assert X.shape == X_ref.shape and y.shape == y_ref.shape
    assert_array_equal(X, X_ref)
    assert_array_equal(y, y_ref)


@pytest.mark.parametrize("name", ["make_circle", "make_spirals"])
def test_datasets_leave_global_random_state_alone(name):
    np.random.seed(12345)
    np.random.randn(3)  # odd count: leaves a cached gaussian in the state
    before = np.random.get_state()
    getattr(fastbp.datasets, name)()
    getattr(fastbp.datasets, name)(seed=7)
    assert _states_equal(np.random.get_state(), before)


# ----------------------------------------------------------------------------
# initial weights
# ----------------------------------------------------------------------------

def _seed42():
    np.random.seed(42)


INIT_CASES = {
    "circle": (oracle.tutorial_circle_data, CIRCLE_SIZES),
    "spiral": (oracle.tutorial_spiral_data, SPIRAL_SIZES),
    "seed42-2-16-8-1": (_seed42, CIRCLE_SIZES),
    "seed42-check": (_seed42, [2, 4, 1]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tutorial_compat", [True, False])
@pytest.mark.parametrize("case", list(INIT_CASES))
def test_initial_weights_from_global_state(case, tutorial_compat, backend):
    setup, sizes = INIT_CASES[case]
    setup()
    state = np.random.get_state()
    ref = oracle.NeuralNetwork(sizes)
    state_after_ref = np.random.get_state()
    np.random.set_state(state)
    nn = fastbp.NeuralNetwork(sizes, backend=backend,
                              tutorial_compat=tutorial_compat)
    # it consumed exactly the tutorial's draws from the global state
    assert _states_equal(np.random.get_state(), state_after_ref)
    assert len(nn.weights) == len(ref.weights) == len(sizes) - 1
    for W, W_ref in zip(nn.weights, ref.weights):
        assert W.dtype == np.float64
        assert W.shape == W_ref.shape
        assert_array_equal(W, W_ref)
    for b, b_ref in zip(nn.biases, ref.biases):
        assert b.dtype == np.float64
        assert b.shape == b_ref.shape
        assert_array_equal(b, b_ref)  # zeros


# ----------------------------------------------------------------------------
# tutorial_compat=True: the tutorial's update rule, step for step
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_matches_oracle_activations(backend):
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_circle_data,
                                   CIRCLE_SIZES, backend)
    pred_ref = ref.forward(X)
    pred = nn.forward(X)
    assert pred.shape == pred_ref.shape == (len(X), 1)
    assert_allclose(pred, pred_ref, rtol=RTOL, atol=ATOL)
    assert len(nn.activations) == len(ref.activations)
    assert len(nn.pre_activations) == len(ref.pre_activations)
    for i, (a, a_ref) in enumerate(zip(nn.activations, ref.activations)):
        assert np.shape(a) == a_ref.shape, f"activations[{i}]"
        assert_allclose(a, a_ref, rtol=RTOL, atol=ATOL,
                        err_msg=f"activations[{i}]")
    for i, (z, z_ref) in enumerate(zip(nn.pre_activations,
                                       ref.pre_activations)):
        assert np.shape(z) == z_ref.shape, f"pre_activations[{i}]"
        assert_allclose(z, z_ref, rtol=RTOL, atol=ATOL,
                        err_msg=f"pre_activations[{i}]")


@pytest.mark.parametrize("backend", BACKENDS)
def test_tutorial_mode_circle_step_for_step(backend):
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_circle_data,
                                   CIRCLE_SIZES, backend)
    _run_side_by_side(X, y, ref, nn, epochs=200, lr=0.1, params_every=10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tutorial_mode_spirals_step_for_step(backend):
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_spiral_data,
                                   SPIRAL_SIZES, backend)
    _run_side_by_side(X, y, ref, nn, epochs=30, lr=0.05, params_every=5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_network_prints_and_returns_like_tutorial(backend, capsys):
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_circle_data,
                                   CIRCLE_SIZES, backend)
    capsys.readouterr()
    hist_ref = oracle.train_network(ref, X, y, epochs=300, lr=0.1,
                                    print_every=50)
    out_ref = capsys.readouterr().out
    hist = fastbp.train_network(nn, X, y, epochs=300, lr=0.1, print_every=50)
    out = capsys.readouterr().out
    assert out_ref.count("Epoch") == 6
    assert out == out_ref
    assert set(hist) >= {"loss", "accuracy"}
    assert len(hist["loss"]) == len(hist["accuracy"]) == 300
    assert_allclose(np.asarray(hist["loss"], dtype=float),
                    np.asarray(hist_ref["loss"]), rtol=RTOL)
    assert_allclose(np.asarray(hist["accuracy"], dtype=float),
                    np.asarray(hist_ref["accuracy"]), rtol=0, atol=0)
    _assert_params_close(nn, ref, msg="after train_network")


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_full_batch_matches_tutorial_loop(backend, capsys):
    epochs = 150
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_circle_data,
                                   CIRCLE_SIZES, backend)
    for _ in range(epochs):
        ref.forward(X)
        ref.backward(y, lr=0.1)
    capsys.readouterr()
    hist = nn.fit(X, y, epochs=epochs, lr=0.1, shuffle=False)
    assert capsys.readouterr().out == ""  # verbose=0 is silent
    assert len(hist["loss"]) == len(hist["accuracy"]) == epochs
    assert np.all(np.isfinite(np.asarray(hist["loss"], dtype=float)))
    _assert_params_close(nn, ref, msg="after fit")


@pytest.mark.parametrize("backend", BACKENDS)
def test_tutorial_mode_circle_result_matches_tutorial(backend):
    """The tutorial's 1000-epoch circle run: same (poor, ~54%) accuracy."""
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_circle_data,
                                   CIRCLE_SIZES, backend)
    for _ in range(1000):
        ref.forward(X)
        ref.backward(y, lr=0.1)
        nn.forward(X)
        nn.backward(y, lr=0.1)
    pred_ref = ref.forward(X)
    pred = nn.forward(X)
    acc_ref = ((pred_ref > 0.5) == y).mean()
    acc = ((pred > 0.5) == y).mean()
    assert acc == acc_ref
    assert_allclose(nn.loss(X, y), oracle.binary_cross_entropy(y, pred_ref),
                    rtol=RTOL)
    _assert_params_close(nn, ref, msg="after 1000 epochs")


@pytest.mark.parametrize("backend", BACKENDS)
def test_tutorial_mode_float32_tracks_oracle(backend):
    X, y = oracle.tutorial_circle_data()
    state = np.random.get_state()
    ref = oracle.NeuralNetwork(CIRCLE_SIZES)
    np.random.set_state(state)
    nn = fastbp.NeuralNetwork(CIRCLE_SIZES, backend=backend,
                              dtype=np.float32, tutorial_compat=True)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    for W, W_ref in zip(nn.weights, ref.weights):
        assert W.dtype == np.float32
        assert_allclose(W, W_ref, rtol=1e-6, atol=1e-7)
    for b in nn.biases:
        assert b.dtype == np.float32
    for epoch in range(20):
        pred_ref = ref.forward(X)
        loss_ref = oracle.binary_cross_entropy(y, pred_ref)
        ref.backward(y, lr=0.1)
        pred = nn.forward(X32)
        loss = fastbp.binary_cross_entropy(y32, pred)
        nn.backward(y32, lr=0.1)
        assert pred.dtype == np.float32, f"forward dtype, epoch {epoch}"
        assert_allclose(pred, pred_ref, rtol=1e-3, atol=1e-6,
                        err_msg=f"predictions, epoch {epoch}")
        assert_allclose(loss, loss_ref, rtol=1e-3,
                        err_msg=f"loss, epoch {epoch}")
    for W, b in zip(nn.weights, nn.biases):
        assert W.dtype == np.float32 and b.dtype == np.float32
    _assert_params_close(nn, ref, rtol=1e-3, atol=1e-5, msg="float32")


# ----------------------------------------------------------------------------
# gradients(): the step direction of each mode
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tutorial_compat", [True, False])
def test_gradients_match_oracle_step_direction(backend, tutorial_compat):
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_circle_data, CIRCLE_SIZES,
                                   backend, tutorial_compat=tutorial_compat)
    # the helper reproduces the oracle's own update (guards the helper)
    probe = copy.deepcopy(ref)
    dWs_t, dbs_t = _oracle_step_direction(probe, X, y)
    probe.forward(X)
    probe.backward(y, lr=0.1)
    for W0, dW, W1 in zip(ref.weights, dWs_t, probe.weights):
        assert_allclose(W0 - 0.1 * dW, W1, rtol=1e-12, atol=1e-15)
    for b0, db, b1 in zip(ref.biases, dbs_t, probe.biases):
        assert_allclose(b0 - 0.1 * db, b1, rtol=1e-12, atol=1e-15)

    W_before = [W.copy() for W in nn.weights]
    b_before = [b.copy() for b in nn.biases]
    dWs, dbs = nn.gradients(X, y)
    dWs_ref, dbs_ref = _oracle_step_direction(ref, X, y,
                                              exact=not tutorial_compat)
    # tight where the formulas coincide; the exact mode may compute the
    # output delta as (p - y)/N instead of bce_derivative * sigmoid_derivative
    rtol = RTOL if tutorial_compat else 1e-7
    assert len(dWs) == len(dbs) == len(dWs_ref)
    for i, (g, g_ref) in enumerate(zip(dWs, dWs_ref)):
        assert np.shape(g) == g_ref.shape
        assert_allclose(g, g_ref, rtol=rtol,
                        atol=1e-10 * np.max(np.abs(g_ref)), err_msg=f"dW{i}")
    for i, (g, g_ref) in enumerate(zip(dbs, dbs_ref)):
        assert np.shape(g) == g_ref.shape
        assert_allclose(g, g_ref, rtol=rtol,
                        atol=1e-10 * np.max(np.abs(g_ref)), err_msg=f"db{i}")
    # gradients() does not update
    for W, W0 in zip(nn.weights, W_before):
        assert_array_equal(W, W0)
    for b, b0 in zip(nn.biases, b_before):
        assert_array_equal(b, b0)


# ----------------------------------------------------------------------------
# gradient_check: the tutorial's bias bug shows up, the exact mode passes
# ----------------------------------------------------------------------------

def _tutorial_check_setup(backend, tutorial_compat):
    """The tutorial's gradient-check data, in the tutorial's order."""
    np.random.seed(42)
    nn = fastbp.NeuralNetwork([2, 4, 1], backend=backend,
                              tutorial_compat=tutorial_compat)
    X_check = np.random.randn(10, 2)
    y_check = np.array([[1],[0],[1],[1],[0],[0],[1],[0],[1],[0]])
    return nn, X_check, y_check


def test_oracle_own_gradient_check_sees_no_problem():
    """The tutorial's own check (first-layer weights only) reports OK on its
    data -- which is why its bias bug went unnoticed."""
    np.random.seed(42)
    nn_check = oracle.NeuralNetwork([2, 4, 1])
    X_check = np.random.randn(10, 2)
    y_check = np.array([[1],[0],[1],[1],[0],[0],[1],[0],[1],[0]])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        oracle.gradient_check(nn_check, X_check, y_check)
    out = buf.getvalue()
    assert out.count(" OK") == 5 and "MISMATCH" not in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_check_flags_tutorial_bias_gradient(backend):
    nn, X_check, y_check = _tutorial_check_setup(backend, tutorial_compat=True)
    W_before = [W.copy() for W in nn.weights]
    res = fastbp.gradient_check(nn, X_check, y_check, eps=1e-5)
    per = res.per_parameter
    assert set(per) >= {"W0", "b0", "W1", "b1"}
    assert not res.ok
    # weights: the tutorial's dW is right
    assert per["W0"] < 1e-5 and per["W1"] < 1e-5
    # biases: the tutorial's db is the true one divided by N (=10) again
    assert per["b0"] > 0.5 and per["b1"] > 0.5
    assert res.max_rel_error == pytest.approx(max(per.values()))
    for W, W0 in zip(nn.weights, W_before):  # the check leaves weights alone
        assert_allclose(W, W0, rtol=0, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_check_passes_in_exact_mode(backend):
    nn, X_check, y_check = _tutorial_check_setup(backend, tutorial_compat=False)
    res = fastbp.gradient_check(nn, X_check, y_check, eps=1e-5)
    per = res.per_parameter
    assert set(per) >= {"W0", "b0", "W1", "b1"}
    assert res.ok
    assert res.max_rel_error < 1e-5
    assert all(err < 1e-5 for err in per.values())
    assert res.max_rel_error == pytest.approx(max(per.values()))


# ----------------------------------------------------------------------------
# exact mode: where the tutorial's rule stalls, exact gradients learn
# ----------------------------------------------------------------------------

def test_exact_mode_solves_circle_numba():
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_circle_data, CIRCLE_SIZES,
                                   "numba", tutorial_compat=False)
    _assert_params_close(nn, ref, rtol=0, atol=0, msg="initial")
    for _ in range(1000):
        ref.forward(X)
        ref.backward(y, lr=0.1)
        nn.forward(X)
        nn.backward(y, lr=0.1)
    acc_ref = ((ref.forward(X) > 0.5) == y).mean()
    acc = ((nn.forward(X) > 0.5) == y).mean()
    assert acc >= 0.99
    assert acc > acc_ref  # the tutorial's rule does not get there


@pytest.mark.slow
def test_exact_mode_solves_spirals_numba(capsys):
    X, y, ref, nn = _tutorial_pair(oracle.tutorial_spiral_data, SPIRAL_SIZES,
                                   "numba", tutorial_compat=False)
    _assert_params_close(nn, ref, rtol=0, atol=0, msg="initial")
    hist = fastbp.train_network(nn, X, y, epochs=3000, lr=0.05,
                                print_every=500)
    acc = ((nn.forward(X) > 0.5) == y).mean()
    assert acc >= 0.97
    assert len(hist["loss"]) == 3000
    assert hist["loss"][-1] < hist["loss"][0]

