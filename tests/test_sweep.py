"""fit_many: every (network, history) pair bit-identical to its fit alone, whatever the threads and
the grouping; errors before anything trains; divergence and Ctrl-C handled per network."""
import threading

import numpy as np
import pytest

import fastbp
from conftest import head_problem, parameters_of
from fastbp import sweep

CTOR = set(sweep.CONSTRUCTOR_KEYS)


def alone(X, y, config, validation_data=None):
    """What the contract compares with: the network built and fitted on its own."""
    constructor = {k: v for k, v in config.items() if k in CTOR}
    fit = {("seed" if k == "fit_seed" else k): v for k, v in config.items() if k not in CTOR}
    if validation_data is not None and not fit.get("validation_split"):
        fit["validation_data"] = validation_data
    nn = fastbp.NeuralNetwork(**constructor)
    try:
        history = nn.fit(X, y, **fit)
    except fastbp.TrainingDivergedError as error:
        history = error
    return nn, history


def assert_same(pair, twin):
    (nn, history), (nn2, history2) = pair, twin
    assert (nn.layer_sizes, nn.output, nn.dtype) == (nn2.layer_sizes, nn2.output, nn2.dtype)
    np.testing.assert_array_equal(parameters_of(nn), parameters_of(nn2))
    if isinstance(history2, Exception):
        assert type(history) is type(history2) and history.epoch == history2.epoch
        history, history2 = history.history, history2.history
    assert history.keys() == history2.keys()
    for key in history:
        np.testing.assert_array_equal(history[key], history2[key])


def data(head, n=120, **options):
    return head_problem(head, n=n, **options)


def random_configs(head, count, seed):
    """Configurations differing in everything a sweep may vary, shapes included."""
    random = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        optimizer = ["sgd", "adam", "sgd"][i % 3]
        config = dict(layer_sizes=[3, int(random.integers(2, 20)), 3], output=head,
                      activation=["relu", "tanh", "leaky_relu"][i % 3], seed=int(i),
                      epochs=int(random.integers(1, 40)), optimizer=optimizer,
                      lr=float(random.choice([0.003, 0.01, 0.05])), fit_seed=i + 100,
                      dtype=[np.float64, np.float32][i % 2])
        if i % 2:
            config["batch_size"] = int(random.integers(8, 64))
        if optimizer == "sgd" and i % 3 == 2:
            config.update(momentum=0.9, nesterov=bool(i % 2))
        if i % 4 == 1:
            config.update(validation_split=0.25, early_stopping=True, patience=3)
        if i % 5 == 3:
            config["lr"] = [0.01 * 0.9 ** e for e in range(config["epochs"])]  # a schedule
        if i % 7 == 4:
            config["weight_decay"] = 1e-3
        configs.append(config)
    return configs


@pytest.mark.parametrize("head", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_pair_is_bit_identical_to_its_fit_alone(head, threads):
    X, y = data(head)
    configs = random_configs(head, 12, seed={"sigmoid": 1, "softmax": 2, "identity": 3}[head])
    with fastbp.threads(min(threads, fastbp.max_threads())):
        pairs = fastbp.fit_many(X, y, configs)
    assert len(pairs) == len(configs)
    for pair, config in zip(pairs, configs):
        assert_same(pair, alone(X, y, config))


def test_shared_validation_data_lbfgs_and_tutorial_mode():
    X, y = data("sigmoid", K=1)
    Xv, yv = data("sigmoid", K=1, seed=9)
    configs = [dict(layer_sizes=[3, 8, 1], seed=1, epochs=20, optimizer="lbfgs"),
               dict(layer_sizes=[3, 8, 1], seed=2, epochs=30, lr=0.1, tutorial_compat=True),
               dict(layer_sizes=[3, 8, 1], seed=3, epochs=50, lr=0.1, early_stopping=True,
                    monitor="val_score", patience=2),
               dict(layer_sizes=[3, 8, 1], seed=4, epochs=10, validation_split=0.2)]
    pairs = fastbp.fit_many(X, y, configs, validation_data=(Xv, yv))
    for pair, config in zip(pairs, configs):
        assert_same(pair, alone(X, y, config, validation_data=(Xv, yv)))
    assert "val_loss" in pairs[0][1] and "val_loss" in pairs[3][1]


def test_the_fits_share_one_converted_copy_of_X_per_dtype(monkeypatch):
    """float64 data for float32 and float64 networks: X is converted and checked once per dtype
    (not once per configuration and again per fit), and every pair is still its fit alone."""
    X, y = data("sigmoid", K=1)
    calls = []
    real_check = sweep.check_X

    def counting(X, n_features, dtype):
        calls.append(np.dtype(dtype).name)
        return real_check(X, n_features, dtype)

    monkeypatch.setattr(sweep, "check_X", counting)
    configs = [dict(layer_sizes=[3, 6, 1], seed=s, dtype=d, epochs=5, lr=0.1)
               for s in range(3) for d in ("float32", "float64")]
    configs.append(dict(layer_sizes=[3, 4, 1], dtype="float32", epochs=3))  # unseeded
    pairs = fastbp.fit_many(X.astype(np.float64), y, configs)
    assert sorted(calls) == ["float32", "float64"]
    for pair, config in zip(pairs[:-1], configs):
        assert_same(pair, alone(X.astype(np.float64), y, config))


def test_unseeded_configs_draw_from_numpy_as_a_loop_of_fits_would():
    X, y = data("sigmoid")
    configs = [dict(layer_sizes=[3, 6, 3], epochs=5, batch_size=16, lr=0.05),
               dict(layer_sizes=[3, 6, 3], seed=7, epochs=5),
               dict(layer_sizes=[3, 5, 3], epochs=4, batch_size=32, lr=0.05)]
    np.random.seed(11)
    pairs = fastbp.fit_many(X, y, configs)
    np.random.seed(11)
    for pair, config in zip(pairs, configs):
        assert_same(pair, alone(X, y, config))


def test_a_diverging_network_does_not_stop_the_sweep():
    X, y = data("identity", K=1)
    y = y * 1e3
    configs = [dict(layer_sizes=[3, 8, 1], output="identity", seed=1, epochs=200, lr=1e3),
               dict(layer_sizes=[3, 8, 1], output="identity", seed=2, epochs=20, lr=1e-4)]
    (bad, error), (good, history) = fastbp.fit_many(X, y, configs)
    assert isinstance(error, fastbp.TrainingDivergedError) and error.epoch is not None
    assert np.all(np.isfinite(parameters_of(bad)))
    assert isinstance(history, dict) and len(history["loss"]) == 20
    assert_same((bad, error), alone(X, y, configs[0]))


BAD = [
    ([dict(epochs=3)], ValueError, r"configs\[0\]: 'layer_sizes' is required"),
    ([dict(layer_sizes=[3, 4, 3]), dict(layer_sizes=[3, 4, 3], lrr=0.1)], ValueError,
     r"configs\[1\]: unknown key 'lrr'"),
    ([dict(layer_sizes=[3, 4, 3], lr=-1.0)], ValueError, r"configs\[0\]: .*lr"),
    ([dict(layer_sizes=[3, 4, 3], optimizer="rmsprop")], ValueError, r"configs\[0\]: .*optimizer"),
    ([dict(layer_sizes=[3, 0, 3])], ValueError, r"configs\[0\]"),
    ([dict(layer_sizes=[4, 4, 3])], ValueError, r"configs\[0\]"),   # X has 3 features
    ([dict(layer_sizes=[3, 4, 3], seed=np.random.default_rng(0))], TypeError, r"configs\[0\]: 'seed'"),
    ([dict(layer_sizes=[3, 4, 3], activation="swish")], ValueError, r"configs\[0\]: .*swish"),
    ([[("layer_sizes", [3, 4, 3])]], TypeError, r"configs\[0\] must be a dict"),
    (dict(layer_sizes=[3, 4, 3]), TypeError, "sequence of dicts"),
]


@pytest.mark.parametrize("configs, error, match", BAD, ids=[m[:30] for _, _, m in BAD])
def test_bad_configs_raise_before_anything_trains(configs, error, match, monkeypatch):
    X, y = data("sigmoid")
    trained = []
    monkeypatch.setattr(sweep, "_train", lambda *args: trained.append(args))
    good = [dict(layer_sizes=[3, 4, 3], seed=0, epochs=2)]
    with pytest.raises(error, match=match):
        fastbp.fit_many(X, y, configs + good if isinstance(configs, list) else configs)
    assert trained == []


def test_cancel_stops_every_fit_at_a_complete_state(monkeypatch):
    """Ctrl-C (here: the cancel the sweep sets on it) stops the running fits between compiled
    calls, and fit_many raises KeyboardInterrupt after they all stopped."""
    X, y = data("sigmoid", n=400)
    configs = [dict(layer_sizes=[3, 64, 3], seed=i, epochs=100000, lr=1e-4) for i in range(3)]
    original = sweep._train

    def interrupt_soon(job, X, y, validation_data, cancel):
        threading.Timer(0.3, cancel.set).start()
        return original(job, X, y, validation_data, cancel)

    monkeypatch.setattr(sweep, "_train", interrupt_soon)
    with pytest.raises(KeyboardInterrupt) as interrupt:
        fastbp.fit_many(X, y, configs)
    pairs = interrupt.value.pairs
    started = [pair for pair in pairs if pair is not None]
    assert started and len(pairs) == 3
    for nn, history in started:  # each stopped after a whole compiled call: a complete state
        epochs = len(history["loss"])
        assert 0 < epochs < 100000
        twin, _ = alone(X, y, dict(configs[pairs.index((nn, history))], epochs=epochs))
        np.testing.assert_array_equal(parameters_of(nn), parameters_of(twin))


def test_memory_grows_with_the_networks_trained_at_once_not_with_the_sweep():
    """Each finished network gives its training workspaces back: a sweep of many networks peaks
    near a sweep of as many networks as train at once, plus their parameters."""
    import tracemalloc

    X, y = data("sigmoid", n=2000)
    threads = 2

    def peak(count):
        configs = [dict(layer_sizes=[3, 256, 3], seed=i, epochs=1) for i in range(count)]
        fastbp.fit_many(X, y, configs[:1])  # compiled before measuring
        tracemalloc.start()
        try:
            with fastbp.threads(threads):
                pairs = fastbp.fit_many(X, y, configs)
            return tracemalloc.get_traced_memory()[1], pairs
        finally:
            tracemalloc.stop()

    few, _ = peak(threads)
    many, pairs = peak(8 * threads)
    workspace = 3 * 256 * 2000 * 8  # one network's activations, pre-activations and deltas
    assert few > workspace  # the measure sees the workspaces at all
    # Kept, the 14 more networks' workspaces would add > 14 x 12 MB; given back, only their
    # parameters (~2,000 values each) and histories remain.  (The bound allows for `few`
    # having trained its two networks one after the other, on a busy machine.)
    assert many < few + 4 * workspace, (many, few)
    assert len(pairs) == 8 * threads
