"""Soak (opt-in: ``pytest -m soak``; ``FASTBP_SOAK_SECONDS``, default 120): threads predicting
from one shared network, threads fitting their own networks, fit_many sweeps and a process pool
training -- all at once, for minutes -- every result checked against its serial twin."""
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import fastbp
from conftest import parameters_of

pytestmark = pytest.mark.soak

SECONDS = float(os.environ.get("FASTBP_SOAK_SECONDS", "120"))


def fit_spirals(seed, epochs=60, batch_size=None):
    X, y = fastbp.datasets.make_spirals()
    nn = fastbp.NeuralNetwork([2, 32, 16, 1], seed=seed)
    nn.fit(X, y, epochs=epochs, lr=0.01, optimizer="adam", batch_size=batch_size, seed=seed)
    return parameters_of(nn)


def test_threads_and_processes_at_once_give_serial_results():
    X, y = fastbp.datasets.make_spirals()
    shared = fastbp.NeuralNetwork([2, 32, 16, 1], seed=0)
    shared.fit(X, y, epochs=100, lr=0.01, optimizer="adam")
    batches = [X[:1], X[:7], X[:50], X]
    expected_outputs = [shared.predict_proba(b) for b in batches]
    expected = {seed: fit_spirals(seed, batch_size=None if seed % 2 else 32) for seed in range(8)}
    configs = [dict(layer_sizes=[2, 32, 16, 1], seed=s, epochs=60, lr=0.01, optimizer="adam",
                    fit_seed=s, **({} if s % 2 else {"batch_size": 32})) for s in range(8)]
    failures, counts = [], {"predict": 0, "fit": 0, "sweep": 0, "process": 0}
    stop = time.monotonic() + SECONDS

    def predictor():
        while time.monotonic() < stop:
            for batch, want in zip(batches, expected_outputs):
                if not np.array_equal(shared.predict_proba(batch), want):
                    failures.append("predict")
            counts["predict"] += 1

    def fitter(offset):
        seed = offset
        while time.monotonic() < stop:
            seed = (seed + 2) % 8
            if not np.array_equal(fit_spirals(seed, batch_size=None if seed % 2 else 32),
                                  expected[seed]):
                failures.append(f"fit {seed}")
            counts["fit"] += 1

    def sweeper():
        while time.monotonic() < stop:
            for (nn, _), config in zip(fastbp.fit_many(X, y, configs), configs):
                if not np.array_equal(parameters_of(nn), expected[config["seed"]]):
                    failures.append(f"sweep {config['seed']}")
            counts["sweep"] += 1

    threads = [threading.Thread(target=predictor) for _ in range(3)]
    threads += [threading.Thread(target=fitter, args=(k,)) for k in range(2)]
    threads.append(threading.Thread(target=sweeper))
    for thread in threads:
        thread.start()
    with ProcessPoolExecutor(2) as pool:
        while time.monotonic() < stop:
            seeds = list(range(8))
            for seed, result in zip(seeds, pool.map(fit_spirals, seeds,
                                                    [60] * 8, [None if s % 2 else 32 for s in seeds])):
                if not np.array_equal(result, expected[seed]):
                    failures.append(f"process {seed}")
            counts["process"] += 1
    for thread in threads:
        thread.join()
    assert failures == [], failures[:10]
    assert all(count > 0 for count in counts.values()), counts
