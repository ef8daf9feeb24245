"""One network shared by many Python threads: inference gives the single-thread results exactly;
calls that change the network run one at a time."""
import threading

import numpy as np
import pytest

import fastbp
from conftest import parameters_of

BATCHES = (1, 7, 50, 600)
N_THREADS = 4
ROUNDS = 60


def _trained(backend, dtype=np.float64):
    X, y = fastbp.datasets.make_spirals()
    nn = fastbp.NeuralNetwork([2, 64, 32, 16, 1], backend=backend, dtype=dtype, seed=0)
    nn.fit(X, y, epochs=30, lr=0.05)
    return nn, X, y


def _run_together(jobs):
    """Run every job (a callable) in its own thread, all released at once; their results."""
    start = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def body(i):
        try:
            start.wait()
            results[i] = jobs[i]()
        except BaseException as error:  # noqa: B902 -- reported by the test
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_inference_from_many_threads_equals_the_single_thread_results(backend):
    """The web-service pattern: four threads predict on batches of 1, 7, 50 and 600 rows from
    one network, round after round; every answer equals the single-thread one, bit for bit."""
    nn, X, y = _trained(backend)
    rows = np.random.default_rng(1).integers(0, len(X), size=max(BATCHES))
    calls = {
        "predict_proba": lambda Xb, yb: nn.predict_proba(Xb),
        "predict": lambda Xb, yb: nn.predict(Xb),
        "forward": lambda Xb, yb: nn.forward(Xb, record=False),
        "loss": lambda Xb, yb: nn.loss(Xb, yb),
        "score": lambda Xb, yb: nn.score(Xb, yb),
        "gradients": lambda Xb, yb: np.concatenate([g.ravel() for g in sum(nn.gradients(Xb, yb), [])]),
    }
    data = {n: (X[rows[:n]], y[rows[:n]]) for n in BATCHES}
    expected = {(name, n): call(*data[n]) for name, call in calls.items() for n in BATCHES}
    before = parameters_of(nn)

    def job(n):
        def run():
            wrong = []
            for r in range(ROUNDS):
                name = list(calls)[r % len(calls)]
                got = calls[name](*data[n])
                if not np.array_equal(got, expected[name, n]):
                    wrong.append((name, n))
            return wrong
        return run

    results = _run_together([job(n) for n in BATCHES])
    assert [wrong for wrong in results if wrong] == []
    np.testing.assert_array_equal(parameters_of(nn), before)


def test_gradient_checks_from_many_threads_agree_and_leave_the_network_alone():
    X, y = fastbp.datasets.make_circle(n_samples=30)
    nn = fastbp.NeuralNetwork([2, 5, 3, 1], seed=0)
    expected = fastbp.gradient_check(nn, X, y)
    before = parameters_of(nn)
    results = _run_together([lambda: fastbp.gradient_check(nn, X, y) for _ in range(3)])
    for result in results:
        assert result.per_parameter == expected.per_parameter and result.ok
    np.testing.assert_array_equal(parameters_of(nn), before)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_fits_from_two_threads_run_one_after_the_other(backend):
    """Two fits of one network at once: each runs alone (the lock), so the network ends exactly
    as two fits in a row."""
    X, y = fastbp.datasets.make_circle()
    shared = fastbp.NeuralNetwork([2, 16, 8, 1], backend=backend, seed=0)
    alone = fastbp.NeuralNetwork([2, 16, 8, 1], backend=backend, seed=0)
    in_a_row = [alone.fit(X, y, epochs=200, lr=0.1) for _ in range(2)]
    histories = _run_together([lambda: shared.fit(X, y, epochs=200, lr=0.1) for _ in range(2)])
    np.testing.assert_array_equal(parameters_of(shared), parameters_of(alone))
    assert sorted(tuple(h["loss"]) for h in histories) == sorted(tuple(h["loss"]) for h in in_a_row)


def test_predictions_during_a_fit_see_the_weights_before_or_after_it_never_between():
    X, y = fastbp.datasets.make_spirals()
    nn = fastbp.NeuralNetwork([2, 64, 32, 16, 1], seed=0)
    before = nn.predict_proba(X)
    twin = fastbp.NeuralNetwork([2, 64, 32, 16, 1], seed=0)
    twin.fit(X, y, epochs=300, lr=0.05)
    after = twin.predict_proba(X)
    started = threading.Event()

    def fit():
        started.set()
        nn.fit(X, y, epochs=300, lr=0.05)

    def predict():
        started.wait()
        seen = []
        for _ in range(40):
            p = nn.predict_proba(X)
            seen.append(np.array_equal(p, before) or np.array_equal(p, after))
        return all(seen)

    results = _run_together([fit, predict, predict])
    assert results[1] and results[2]
    np.testing.assert_array_equal(nn.predict_proba(X), after)
