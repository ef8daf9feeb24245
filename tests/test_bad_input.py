"""Every bad input gets a clear error naming the problem and leaves the network exactly as it was."""
import numpy as np
import pytest

import fastbp
from conftest import small_problem


@pytest.mark.parametrize("sizes, error, match", [
    ([2], ValueError, "at least"),
    ([], ValueError, "at least"),
    ([2, 0, 1], ValueError, "positive"),
    ([2, -3, 1], ValueError, "positive"),
    ([2, 2.5, 1], TypeError, "integers"),
    ([2, True, 1], TypeError, "integers"),
    ("21", TypeError, "sequence"),
    (5, TypeError, "sequence"),
])
def test_bad_layer_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        fastbp.NeuralNetwork(sizes)


@pytest.mark.parametrize("dtype", [np.int32, "float16", "complex128", "not-a-dtype", object])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        fastbp.NeuralNetwork([2, 1], dtype=dtype)


def test_bad_backend_and_seed():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        fastbp.NeuralNetwork([2, 1], backend="cuda")
    with pytest.raises(TypeError, match="backend must be a string"):
        fastbp.NeuralNetwork([2, 1], backend=["numba"])
    with pytest.raises(TypeError, match="seed"):
        fastbp.NeuralNetwork([2, 1], seed="abc")


def snapshot(nn):
    return nn._params.flat.copy()


X_GOOD, Y_GOOD = small_problem(n_samples=12)


def with_nan(a):
    a = np.array(a, dtype=float)
    a.flat[3] = np.nan
    return a


def with_inf(a):
    a = np.array(a, dtype=float)
    a.flat[0] = np.inf
    return a


BAD_DATA = [
    (X_GOOD[:, :2], Y_GOOD, ValueError, "2 feature"),
    (X_GOOD[0], Y_GOOD, ValueError, "2-D"),
    (X_GOOD[None], Y_GOOD, ValueError, "2-D"),
    (X_GOOD[:0], Y_GOOD[:0], ValueError, "empty"),
    (with_nan(X_GOOD), Y_GOOD, ValueError, "X contains 1 NaN"),
    (with_inf(X_GOOD), Y_GOOD, ValueError, "X contains 1 NaN or infinite"),
    (X_GOOD.astype(str), Y_GOOD, TypeError, "X must hold real numbers"),
    (X_GOOD.astype(complex), Y_GOOD, TypeError, "X must hold real numbers"),
    (X_GOOD, Y_GOOD[:-1], ValueError, "11 row"),
    (X_GOOD, np.hstack([Y_GOOD, Y_GOOD]), ValueError, "one column per output"),
    (X_GOOD, with_nan(Y_GOOD), ValueError, "y contains"),
    (X_GOOD, Y_GOOD * 2, ValueError, r"\[0, 1\]"),
    (X_GOOD, Y_GOOD - 1, ValueError, r"\[0, 1\]"),
    (X_GOOD, np.array(["a"] * 12), TypeError, "y must hold real numbers"),
]


@pytest.mark.parametrize("X, y, error, match", BAD_DATA)
@pytest.mark.parametrize("method", ["fit", "gradients", "loss", "score"])
def test_bad_data_is_rejected_and_changes_nothing(backend, method, X, y, error, match):
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    before = snapshot(nn)
    with pytest.raises(error, match=match):
        getattr(nn, method)(X, y)
    np.testing.assert_array_equal(snapshot(nn), before)


@pytest.mark.parametrize("lr, error", [(-0.1, ValueError), (np.nan, ValueError),
                                       (np.inf, ValueError), (10**400, ValueError),
                                       ("0.1", TypeError), (None, TypeError)])
def test_bad_lr(backend, lr, error):
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    before = snapshot(nn)
    with pytest.raises(error, match="lr"):
        nn.fit(X_GOOD, Y_GOOD, epochs=2, lr=lr)
    nn.forward(X_GOOD)
    with pytest.raises(error, match="lr"):
        nn.backward(Y_GOOD, lr=lr)
    np.testing.assert_array_equal(snapshot(nn), before)


@pytest.mark.parametrize("options, error, match", [
    ({"epochs": -1}, ValueError, "epochs"), ({"epochs": 2.5}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"), ({"batch_size": "8"}, TypeError, "batch_size"),
])
def test_bad_fit_options(options, error, match):
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], seed=0)
    before = snapshot(nn)
    with pytest.raises(error, match=match):
        nn.fit(X_GOOD, Y_GOOD, **options)
    np.testing.assert_array_equal(snapshot(nn), before)


def test_backward_checks(backend):
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    with pytest.raises(RuntimeError, match="forward"):
        nn.backward(Y_GOOD)
    nn.forward(X_GOOD)
    before = snapshot(nn)
    with pytest.raises(ValueError, match="row"):
        nn.backward(Y_GOOD[:5])
    with pytest.raises(ValueError, match="y contains"):
        nn.backward(with_nan(Y_GOOD))
    np.testing.assert_array_equal(snapshot(nn), before)


def test_bad_parameter_assignment(backend):
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    before = snapshot(nn)
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(3, 5\)"):
        nn.weights[0] = np.zeros((5, 3))
    with pytest.raises(ValueError, match="NaN"):
        nn.biases[1] = np.full(4, np.nan)
    with pytest.raises(ValueError, match="expected 3"):
        nn.weights = [np.zeros((3, 5))]
    with pytest.raises(ValueError, match=r"biases\[2\]"):  # all checked before any is written
        nn.biases = [np.ones(5), np.ones(4), np.ones(2)]
    with pytest.raises(TypeError, match="fixed"):
        del nn.weights[0]
    with pytest.raises(AttributeError):
        nn.weights.append(np.zeros((4, 1)))
    np.testing.assert_array_equal(snapshot(nn), before)


def test_values_beyond_float32_are_rejected_before_conversion(backend):
    nn = fastbp.NeuralNetwork([3, 5, 1], backend=backend, dtype="float32", seed=0)
    before = snapshot(nn)
    with pytest.raises(ValueError, match=r"weights\[0\] has values beyond the range of float32"):
        nn.weights[0] = np.full((3, 5), 1e300)
    with pytest.raises(ValueError, match=r"biases\[0\] has values beyond the range of float32"):
        nn.biases = [np.full(5, -1e39), np.zeros(1)]
    np.testing.assert_array_equal(snapshot(nn), before)
    nn.weights[0] = np.full((3, 5), 1e30)  # within float32's range: accepted
    assert np.all(nn.weights[0] == np.float32(1e30))


def test_in_place_edits_write_through_and_report_nan_after_the_fact(backend):
    nn = fastbp.NeuralNetwork([3, 5, 1], backend=backend, seed=0)
    before = nn.weights[0].copy()
    nn.weights[0] *= 0.5  # the tutorial's in-place idiom reaches the network
    np.testing.assert_array_equal(nn.weights[0], before * 0.5)
    with pytest.raises(ValueError, match=r"weights\[0\] now holds NaN or infinite values: the "
                                         r"in-place operation wrote them"):
        nn.weights[0] -= np.full((3, 5), np.inf)
    assert np.all(np.isinf(nn.weights[0]))  # documented: in-place writes are not undone
    nn.weights[0] = before
    nn.weights[0] = nn.weights[0][::-1]  # overlapping the target, another layout: checked, copied
    np.testing.assert_array_equal(nn.weights[0], before[::-1])


@pytest.mark.parametrize("batch_size", [None, 4])
def test_divergence_stops_with_clear_error_at_last_finite_state(backend, batch_size):
    X = np.random.default_rng(0).standard_normal((12, 3)) * 50
    y = (X[:, :1] > 0).astype(float)
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    with pytest.raises(fastbp.TrainingDivergedError, match="NaN or infinite") as caught:
        nn.fit(X, y, epochs=500, lr=1e200, batch_size=batch_size)
    params = snapshot(nn)
    assert np.all(np.isfinite(params))
    assert np.isfinite(nn.loss(X, y))
    assert caught.value.history is not None
    assert all(np.isfinite(caught.value.history["loss"]))


def test_divergence_leaves_same_state_on_both_engines():
    X = np.random.default_rng(0).standard_normal((12, 3)) * 50
    y = (X[:, :1] > 0).astype(float)
    states = {}
    for backend in ("numpy", "numba"):
        nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
        with pytest.raises(fastbp.TrainingDivergedError) as caught:
            nn.fit(X, y, epochs=500, lr=1e200)
        states[backend] = (snapshot(nn), caught.value.epoch, len(caught.value.history["loss"]))
    np.testing.assert_allclose(states["numpy"][0], states["numba"][0], rtol=1e-9)
    assert states["numpy"][1:] == states["numba"][1:]


@pytest.mark.parametrize("batch_size", [None, 4])
def test_a_failed_first_update_is_reported_as_the_first_epoch(backend, batch_size):
    X = np.random.default_rng(0).standard_normal((12, 3)) * 50
    y = (X[:, :1] > 0).astype(float)
    nn = fastbp.NeuralNetwork([3, 5, 4, 1], backend=backend, seed=0)
    before = snapshot(nn)
    with pytest.raises(fastbp.TrainingDivergedError, match="an update became NaN or infinite "
                                                           "in epoch 1 ") as caught:
        nn.fit(X, y, epochs=5, lr=1.7e308, batch_size=batch_size)
    assert caught.value.epoch == 0
    # full batch records the failed epoch's loss (taken before its update); mini-batch epochs
    # are recorded once complete
    assert len(caught.value.history["loss"]) == (1 if batch_size is None else 0)
    np.testing.assert_array_equal(snapshot(nn), before)


def test_an_interrupted_forward_leaves_no_pass_to_step_from(monkeypatch):
    from fastbp import kernels

    nn = fastbp.NeuralNetwork([3, 5, 4, 1], seed=0)
    nn.forward(X_GOOD)
    before = snapshot(nn)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(kernels, "forward_pass", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nn.forward(X_GOOD)
    with pytest.raises(RuntimeError, match="needs a forward"):
        nn.backward(Y_GOOD)
    np.testing.assert_array_equal(snapshot(nn), before)
