"""Beyond the tutorial's network: activations, heads, optimizers, schedules, validation, early
stopping and L-BFGS -- on both engines, against finite differences, the reference and PyTorch."""
import numpy as np
import pytest

import fastbp
from conftest import BACKENDS, assert_close, head_problem, parameters_of

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "identity"]
HEADS = ["sigmoid", "softmax", "identity"]


problem = head_problem


def make(sizes, backend="numba", **options):
    return fastbp.NeuralNetwork(sizes, backend=backend, seed=options.pop("seed", 1), **options)


# -- gradients of every activation x head ---------------------------------------------------------

@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_of_every_activation_and_head_match_finite_differences(backend, activation,
                                                                         head):
    X, y = problem(head)
    nn = make([3, 6, 5, 3], backend, activation=activation, output=head)
    result = fastbp.gradient_check(nn, X, y)
    assert result.ok, result.table()


@pytest.mark.parametrize("head", HEADS)
def test_float32_gradients_of_every_head(head):
    X, y = problem(head, dtype=np.float32)
    nn = make([3, 6, 3], activation="tanh", output=head, dtype=np.float32)
    assert fastbp.gradient_check(nn, X, y).ok


def test_per_layer_activations_and_their_initialisation():
    nn = make([4, 50, 60, 1], activation=["tanh", "relu"], seed=3)
    assert nn.activation == ["tanh", "relu"]
    # Glorot before a tanh layer, He before a ReLU layer, Glorot for the output of a mixed network
    assert abs(np.std(nn.weights[0]) - np.sqrt(2 / 54)) < 0.2 * np.sqrt(2 / 54)
    assert abs(np.std(nn.weights[1]) - np.sqrt(2 / 50)) < 0.1 * np.sqrt(2 / 50)
    X, y = problem("sigmoid", n_in=4, K=1)
    assert fastbp.gradient_check(make([4, 5, 6, 1], activation=["tanh", "relu"]), X, y).ok


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engines_agree_over_long_adam_fits(head, dtype):
    X, y = problem(head, n=120, dtype=dtype)
    results = []
    for backend in BACKENDS:
        nn = make([3, 16, 8, 3], backend, activation="tanh", output=head, dtype=dtype)
        history = nn.fit(X, y, epochs=300, lr=0.01, optimizer="adam", weight_decay=1e-3,
                         batch_size=32, seed=2, validation_split=0.25)
        results.append((history, parameters_of(nn)))
    (h1, p1), (h2, p2) = results
    assert_close(h1["loss"], h2["loss"], dtype, scale=max(h2["loss"]))
    assert_close(h1["val_loss"], h2["val_loss"], dtype, scale=max(h2["val_loss"]))
    tolerance = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(p1, p2, rtol=0, atol=tolerance * np.abs(p2).max())


# -- the heads' conventions -------------------------------------------------------------------

def test_softmax_predictions_probabilities_and_score(backend):
    X, labels = problem("softmax", n=60)
    nn = make([3, 8, 3], backend, output="softmax")
    proba = nn.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(nn.predict(X), proba.argmax(axis=1))
    assert nn.score(X, labels) == np.mean(nn.predict(X) == labels)
    one_hot = np.eye(3)[labels]
    assert nn.loss(X, labels) == nn.loss(X, one_hot)  # labels or one-hot rows: the same loss
    expected = -np.mean(np.log(proba[np.arange(60), labels]))
    assert abs(nn.loss(X, labels) - expected) < 1e-12


def test_regression_predictions_and_r2(backend):
    X, y = problem("identity", n=50, K=1)
    nn = make([3, 8, 1], backend, output="identity")
    predicted = nn.predict(X)
    assert predicted.shape == (50,)
    y = y.ravel()
    r2 = 1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2)
    assert abs(nn.score(X, y) - r2) < 1e-12
    assert abs(nn.loss(X, y) - np.mean((predicted - y) ** 2)) < 1e-12
    with pytest.raises(ValueError, match="predict_proba"):
        nn.predict_proba(X)
    history = nn.fit(X, y, epochs=3, lr=0.01)
    assert set(history) == {"loss"}  # no accuracy for regression


def test_multilabel_sigmoid_scores_subset_accuracy():
    X, y = problem("sigmoid", n=80)
    nn = make([3, 8, 3])
    predicted = nn.predict(X)
    assert predicted.shape == (80, 3)
    assert nn.score(X, y) == np.mean(np.all(predicted == y, axis=1))


# -- optimizers against PyTorch, and their state ----------------------------------------------

OPTIMIZER_SETTINGS = [
    dict(optimizer="sgd", lr=0.1),
    dict(optimizer="sgd", lr=0.05, momentum=0.9),
    dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(optimizer="adam", lr=0.01),
    dict(optimizer="adam", lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
]


def torch_trajectory(nn_sizes, weights, biases, X, y, settings, epochs, activation, head):
    """The same full-batch training written in PyTorch: two parameter groups (weights with the
    weight decay, biases without), torch's own loss functions."""
    torch = pytest.importorskip("torch")
    Ws = [torch.tensor(W, requires_grad=True) for W in weights]
    bs = [torch.tensor(b, requires_grad=True) for b in biases]
    options = {k: v for k, v in settings.items() if k not in ("optimizer", "weight_decay")}
    groups = [{"params": Ws, "weight_decay": settings.get("weight_decay", 0.0)},
              {"params": bs, "weight_decay": 0.0}]
    optimizer = (torch.optim.SGD if settings["optimizer"] == "sgd" else torch.optim.Adam)(
        groups, **options)
    f = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
         "leaky_relu": torch.nn.functional.leaky_relu, "identity": lambda z: z}[activation]
    Xt, yt = torch.tensor(X), torch.tensor(y)
    losses = []
    for _ in range(epochs):
        a = Xt
        for i, (W, b) in enumerate(zip(Ws, bs)):
            a = a @ W + b
            if i < len(Ws) - 1:
                a = f(a)
        if head == "sigmoid":
            loss = torch.nn.functional.binary_cross_entropy_with_logits(a, yt)
        elif head == "softmax":
            loss = torch.nn.functional.cross_entropy(a, yt)
        else:
            loss = torch.nn.functional.mse_loss(a, yt)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses, np.concatenate([p.detach().numpy().ravel() for W, b in zip(Ws, bs)
                                   for p in (W, b)])


@pytest.mark.parametrize("settings", OPTIMIZER_SETTINGS,
                         ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("head, activation", [("sigmoid", "relu"), ("softmax", "tanh"),
                                              ("identity", "leaky_relu")])
def test_optimizers_follow_pytorch_from_the_same_weights(backend, settings, head, activation):
    X, y = problem(head, n=64)
    nn = make([3, 10, 6, 3], backend, activation=activation, output=head)
    weights = [W.copy() for W in nn.weights]
    biases = [b.copy() for b in nn.biases]
    target = y if head != "softmax" else y.astype(np.int64)
    torch_losses, torch_params = torch_trajectory(nn.layer_sizes, weights, biases, X, target,
                                                  settings, 60, activation, head)
    history = nn.fit(X, y, epochs=60, **settings)
    np.testing.assert_allclose(history["loss"], torch_losses, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(parameters_of(nn), torch_params, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("settings", OPTIMIZER_SETTINGS[1:],
                         ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("batch_size", [None, 16])
def test_two_fits_continue_the_optimizer_as_one(backend, settings, batch_size):
    """The optimizer state lives on the network: 2 x 20 epochs == 40 epochs, bit for bit."""
    X, y = problem("sigmoid", n=64)
    one, two = make([3, 8, 3], backend), make([3, 8, 3], backend)
    one_history = one.fit(X, y, epochs=40, batch_size=batch_size, **settings)
    two_history = {k: v + w for (k, v), w in zip(
        two.fit(X, y, epochs=20, batch_size=batch_size, **settings).items(),
        two.fit(X, y, epochs=20, batch_size=batch_size, **settings).values())}
    np.testing.assert_array_equal(parameters_of(one), parameters_of(two))
    assert one_history == two_history


def test_other_optimizer_settings_start_a_fresh_state():
    X, y = problem("sigmoid", n=64)
    a, b = make([3, 8, 3]), make([3, 8, 3])
    a.fit(X, y, epochs=5, optimizer="adam", lr=0.01)
    b.fit(X, y, epochs=5, optimizer="adam", lr=0.01)
    a.fit(X, y, epochs=5, optimizer="adam", lr=0.01, betas=(0.8, 0.999))  # new settings
    fresh = make([3, 8, 3])
    fresh.weights, fresh.biases = list(b.weights), list(b.biases)
    fresh.fit(X, y, epochs=5, optimizer="adam", lr=0.01, betas=(0.8, 0.999))
    np.testing.assert_array_equal(parameters_of(a), parameters_of(fresh))


# -- schedules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [None, 16])
def test_a_schedule_equals_epoch_by_epoch_fits(backend, batch_size):
    X, y = problem("softmax", n=64)
    rates = [0.1 / (1 + e) for e in range(12)]
    scheduled, stepped = make([3, 8, 3], backend, output="softmax"), make([3, 8, 3], backend,
                                                                         output="softmax")
    history = scheduled.fit(X, y, epochs=12, lr=lambda e: 0.1 / (1 + e), batch_size=batch_size,
                            optimizer="sgd", momentum=0.5)
    losses = []
    for rate in rates:
        losses += stepped.fit(X, y, epochs=1, lr=rate, batch_size=batch_size, optimizer="sgd",
                              momentum=0.5)["loss"]
    np.testing.assert_array_equal(parameters_of(scheduled), parameters_of(stepped))
    assert history["loss"] == losses
    array = make([3, 8, 3], backend, output="softmax")
    array.fit(X, y, epochs=12, lr=np.array(rates), batch_size=batch_size, optimizer="sgd",
              momentum=0.5)
    np.testing.assert_array_equal(parameters_of(array), parameters_of(scheduled))


# -- validation and early stopping ------------------------------------------------------------

def test_validation_split_takes_the_last_samples_before_shuffling(backend):
    X, y = problem("sigmoid", n=50)
    nn = make([3, 8, 3], backend)
    history = nn.fit(X, y, epochs=4, lr=0.1, validation_split=0.2, batch_size=8, seed=1)
    assert len(history["val_loss"]) == len(history["val_accuracy"]) == 4
    twin = make([3, 8, 3], backend)
    twin.fit(X[:40], y[:40], epochs=4, lr=0.1, batch_size=8, seed=1)
    np.testing.assert_array_equal(parameters_of(nn), parameters_of(twin))
    assert history["val_loss"][-1] == twin.loss(X[40:], y[40:])
    # the history's accuracy is per output, as the tutorial's (score is subset accuracy)
    assert history["val_accuracy"][-1] == np.mean(twin.predict(X[40:]) == y[40:])


@pytest.mark.parametrize("batch_size", [None, 32])
def test_early_stopping_restores_the_best_validation_loss(backend, batch_size):
    """An over-fitting network: validation loss turns up; the fit stops `patience` epochs after
    its minimum and ends with that minimum's weights."""
    random = np.random.default_rng(3)
    X, Xv = random.standard_normal((40, 5)), random.standard_normal((200, 5))
    y, yv = (random.random((40, 1)) < 0.5).astype(float), (random.random((200, 1)) < 0.5).astype(float)
    nn = make([5, 64, 1], backend)
    history = nn.fit(X, y, epochs=2000, lr=0.02, optimizer="adam", batch_size=batch_size,
                     validation_data=(Xv, yv), early_stopping=True, patience=15, seed=0)
    best = int(np.argmin(history["val_loss"]))
    assert len(history["val_loss"]) == best + 1 + 15 < 2000
    assert nn.loss(Xv, yv) == min(history["val_loss"])


def stopping_reference(values, patience, min_delta):
    """How many epochs a fit monitoring ``values`` (smaller is better) runs, and its best epoch:
    the rule of docs/models.md, written out."""
    best, since, best_epoch = np.inf, 0, None
    for epoch, value in enumerate(values):
        since = 0 if value < best - min_delta else since + 1
        if value < best:
            best, best_epoch = value, epoch
        if since >= patience:
            return epoch + 1, best_epoch
    return len(values), best_epoch


@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("monitor", ["loss", "val_loss", "val_score"])
def test_every_monitor_stops_where_its_rule_says(backend, monitor, head, batch_size):
    """The epoch a fit stops at, and the weights it ends with, follow the rule applied to the
    history it records: the same fit run for all epochs without stopping gives the values."""
    X, y = problem(head, n=80)
    options = dict(epochs=400, lr=0.05, optimizer="adam", batch_size=batch_size, seed=0,
                   validation_split=0.0 if monitor == "loss" else 0.25)
    free = make([3, 16, 3], backend, output=head)
    history = free.fit(X, y, **options)
    if monitor == "loss":
        values = history["loss"]
    elif monitor == "val_loss":
        values = history["val_loss"]
    elif head == "identity":  # R^2 of all outputs together, from the validation targets
        Yv = np.asarray(y[60:], dtype=float)
        values = [loss * Yv.size / ((Yv - Yv.mean(axis=0)) ** 2).sum() - 1
                  for loss in history["val_loss"]]
    else:
        values = [-a for a in history["val_accuracy"]]
    epochs, best_epoch = stopping_reference(values, patience=7, min_delta=1e-3)
    assert epochs < 400
    nn = make([3, 16, 3], backend, output=head)
    stopped = nn.fit(X, y, early_stopping=True, monitor=monitor, patience=7, min_delta=1e-3,
                     **options)
    assert stopped == {key: value[:epochs] for key, value in history.items()}
    kept = make([3, 16, 3], backend, output=head)  # the weights it ends with
    kept.fit(X, y, **dict(options, epochs=epochs if monitor == "loss" else best_epoch + 1))
    np.testing.assert_array_equal(parameters_of(nn), parameters_of(kept))


def fits_on_one_and_two_workers(X, y, **fit):
    """The same fit of a softmax network on one worker and on two (fixed blocks): for each,
    (workers used, history, parameters)."""
    import dataclasses

    results = []
    for workers in (1, 2):
        nn = make([3, 32, 16, 3], output="softmax")
        nn.policy = dataclasses.replace(nn.policy, workers=workers, max_blocks=2,
                                        min_parallel_work=0, min_block_samples=1)
        with fastbp.threads(2):
            history = nn.fit(X, y, **fit)
        results.append((nn.workers_used, history, parameters_of(nn)))
    return results


def test_early_stopping_is_bit_identical_across_workers():
    X, y = problem("softmax", n=400)
    (w1, h1, p1), (w2, h2, p2) = fits_on_one_and_two_workers(
        X, y, epochs=300, lr=0.05, optimizer="adam", validation_split=0.3, early_stopping=True,
        patience=5)
    assert (w1[0], w2[0]) == (1, 2) and len(h1["loss"]) < 300
    assert h1 == h2
    np.testing.assert_array_equal(p1, p2)


# -- L-BFGS ------------------------------------------------------------------------------------

def test_lbfgs_fits_the_circle_in_few_iterations(backend):
    X, y = fastbp.datasets.make_circle()
    nn = make([2, 16, 8, 1], backend, seed=0)
    history = nn.fit(X, y, epochs=100, optimizer="lbfgs")
    assert len(history["loss"]) <= 100 and history["accuracy"][-1] >= 0.99
    assert nn.score(X, y) >= 0.99
    # the loss after the last iteration (summed over the fit's blocks: the same to rounding)
    assert history["loss"][-1] == pytest.approx(nn.loss(X, y), rel=1e-12)


def test_lbfgs_is_bit_identical_across_workers():
    """Each evaluation is split into the fit's blocks and computed by one worker or two: the
    blocks, summed in block order, fix every bit."""
    X, y = problem("softmax", n=400)
    results = fits_on_one_and_two_workers(X, y, epochs=40, optimizer="lbfgs", weight_decay=1e-3)
    (w1, h1, p1), (w2, h2, p2) = results
    assert (w1, w2) == ([1], [2]) and len(h1["loss"]) == 40
    assert h1 == h2
    np.testing.assert_array_equal(p1, p2)


def test_lbfgs_with_weight_decay_minimises_the_penalised_loss():
    X, y = fastbp.datasets.make_circle(n_samples=200)
    plain, decayed = make([2, 8, 1], seed=0), make([2, 8, 1], seed=0)
    plain.fit(X, y, epochs=200, optimizer="lbfgs")
    decayed.fit(X, y, epochs=200, optimizer="lbfgs", weight_decay=0.1)
    norm = lambda nn: sum(float(np.sum(W ** 2)) for W in nn.weights)  # noqa: E731
    assert norm(decayed) < norm(plain)


# -- the demo's new network -------------------------------------------------------------------

def test_three_interleaved_spirals_learned_by_softmax_and_adam():
    X, y = fastbp.datasets.make_spirals(n_classes=3)
    assert X.shape == (900, 2) and sorted(set(y)) == [0, 1, 2]
    nn = make([2, 64, 32, 3], output="softmax", seed=0)
    nn.fit(X, y, epochs=2000, lr=0.01, optimizer="adam")
    assert nn.score(X, y) >= 0.97


def test_a_regression_curve_is_learned():
    X = np.linspace(-3, 3, 300).reshape(-1, 1)
    y = np.sin(2 * X).ravel()
    nn = make([1, 32, 32, 1], activation="tanh", output="identity", seed=0)
    nn.fit(X, y, epochs=3000, lr=0.01, optimizer="adam")
    assert nn.score(X, y) >= 0.99


# -- bad input: rejected, nothing changed -----------------------------------------------------

@pytest.mark.parametrize("options, error, match", [
    (dict(activation="swish"), ValueError, "unknown activation"),
    (dict(activation=["relu"]), ValueError, "hidden layer"),
    (dict(activation=3), TypeError, "activation"),
    (dict(output="tanh"), ValueError, "unknown output"),
    (dict(tutorial_compat=True, activation="tanh"), ValueError, "tutorial"),
    (dict(tutorial_compat=True, output="identity"), ValueError, "tutorial"),
])
def test_bad_constructor_options(options, error, match):
    with pytest.raises(error, match=match):
        fastbp.NeuralNetwork([3, 4, 4, 2], **options)


def test_softmax_needs_two_outputs():
    with pytest.raises(ValueError, match="at least 2 outputs"):
        fastbp.NeuralNetwork([3, 4, 1], output="softmax")


BAD_FITS = [
    ("softmax", dict(y=np.full(40, 3)), ValueError, r"\[0, 3\)"),
    ("softmax", dict(y=np.full(40, 1.5)), ValueError, "whole numbers"),
    ("softmax", dict(y=np.full((40, 3), 0.5)), ValueError, "sum to 1"),
    ("identity", dict(y=np.full((40, 3), np.nan)), ValueError, "NaN"),
    ("sigmoid", dict(lr=[0.1, 0.2]), ValueError, "one rate per epoch"),
    ("sigmoid", dict(lr=lambda e: -1.0), ValueError, "lr"),
    ("sigmoid", dict(optimizer="rmsprop"), ValueError, "unknown optimizer"),
    ("sigmoid", dict(nesterov=True), ValueError, "nesterov"),
    ("sigmoid", dict(optimizer="adam", momentum=0.9), ValueError, "momentum"),
    ("sigmoid", dict(betas=(0.9, 1.0)), ValueError, "betas"),
    ("sigmoid", dict(weight_decay=-1), ValueError, "weight_decay"),
    ("sigmoid", dict(early_stopping=True), ValueError, "validation"),
    ("sigmoid", dict(validation_split=1.0), ValueError, "validation_split"),
    ("sigmoid", dict(validation_split=0.1, validation_data=(np.zeros((2, 3)), np.zeros((2, 3)))),
     ValueError, "not both"),
    ("sigmoid", dict(optimizer="lbfgs", batch_size=8), ValueError, "full batch"),
    ("sigmoid", dict(patience=0), ValueError, "patience"),
    ("sigmoid", dict(early_stopping=True, monitor="val_score"), ValueError, "validation"),
    ("sigmoid", dict(early_stopping=True, monitor="accuracy"), ValueError, "monitor"),
    ("sigmoid", dict(optimizer="lbfgs", max_fun=0), ValueError, "max_fun"),
    ("sigmoid", dict(optimizer="lbfgs", gtol=-1.0), ValueError, "gtol"),
]


@pytest.mark.parametrize("head, bad, error, match", BAD_FITS,
                         ids=[f"{h}-{'-'.join(b)}" for h, b, _, _ in BAD_FITS])
def test_bad_fit_options_change_nothing(backend, head, bad, error, match):
    X, y = problem(head)
    nn = make([3, 6, 3], backend, output=head)
    nn.fit(X, y, epochs=3, lr=0.01, optimizer="adam")  # an optimizer state to keep
    before = parameters_of(nn)
    after_one_more = make([3, 6, 3], backend, output=head)
    after_one_more.fit(X, y, epochs=3, lr=0.01, optimizer="adam")
    options = dict(epochs=5, lr=0.01, optimizer="adam")
    options.update(bad)
    y_bad = options.pop("y", y)
    with pytest.raises(error, match=match):
        nn.fit(X, y_bad, **options)
    np.testing.assert_array_equal(parameters_of(nn), before)
    # the optimizer state is untouched too: one more Adam epoch continues as it would have
    nn.fit(X, y, epochs=1, lr=0.01, optimizer="adam")
    after_one_more.fit(X, y, epochs=1, lr=0.01, optimizer="adam")
    np.testing.assert_array_equal(parameters_of(nn), parameters_of(after_one_more))


def test_tutorial_mode_trains_only_with_plain_sgd():
    X, y = problem("sigmoid")
    nn = fastbp.NeuralNetwork([3, 6, 3], tutorial_compat=True, seed=0)
    for options in (dict(optimizer="adam"), dict(momentum=0.9), dict(weight_decay=0.1)):
        with pytest.raises(ValueError, match="tutorial"):
            nn.fit(X, y, epochs=2, **options)
