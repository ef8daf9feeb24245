"""The CPU calibration (fastbp.calibration): measured choices change speed only, are stored per
CPU, read back, overridable, and visible."""
import json

import numpy as np
import pytest

import fastbp
from fastbp import calibration, kernels
from fastbp.policy import Policy, n_parameters, plan_fit


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh calibration store (NUMBA_CACHE_DIR) and no calibration in this process."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(calibration.ENV, raising=False)
    monkeypatch.setattr(kernels, "CACHE_ENABLED", True)
    calibration.forget()
    yield tmp_path / calibration.FILE_NAME
    calibration.forget()


needs_two_cpus = pytest.mark.skipif(calibration.usable_cpus() < 2,
                                    reason="one usable CPU: nothing to measure")


def test_the_crossing_of_the_two_lines():
    # one worker: 0.1 ms + 1 ns per multiply-add; two: 0.4 ms + 0.5 ns: they cross at 6e5
    ladder = [(w, 1e-4 + 1e-9 * w, 4e-4 + 5e-10 * w) for w in (1e5, 1e6, 1e7)]
    assert calibration.crossing(ladder) == pytest.approx(600_000, abs=1)
    slower = [(w, 1e-4 + 1e-9 * w, 4e-4 + 2e-9 * w) for w in (1e5, 1e6, 1e7)]
    assert calibration.crossing(slower) == calibration.MOST_WORK  # two workers never catch up
    cheaper = [(w, 4e-4 + 1e-9 * w, 1e-4 + 5e-10 * w) for w in (1e5, 1e6, 1e7)]
    assert calibration.crossing(cheaper) == 0  # two workers win at any size


@needs_two_cpus
def test_measure_fits_both_lines_and_takes_their_crossing():
    measured = calibration.measure()
    assert measured.source == "measured" and measured.seconds > 0
    assert [step[0] for step in measured.ladder] == [  # samples x parameters x epochs
        512 * n_parameters([2, 16, 8, 1]) * epochs for epochs in calibration.EPOCH_LADDER]
    assert all(one > 0 and two > 0 for _, one, two in measured.ladder)
    assert 0 <= measured.min_parallel_work <= calibration.MOST_WORK
    assert measured.min_parallel_work == calibration.crossing(measured.ladder)


@needs_two_cpus
def test_stored_per_cpu_and_read_back(store):
    first = calibration.current()
    assert first.source == "measured" and first.path == str(store)
    entries = json.loads(store.read_text())
    assert list(entries) == [calibration.store_key()]
    assert entries[calibration.store_key()]["min_parallel_work"] == first.min_parallel_work
    # another CPU's entry in the same file is kept; a new process reads this CPU's
    entries["Other CPU (25/1) [avx2+fma] x2 | fastbp 0 | method 2"] = {"min_parallel_work": 7}
    store.write_text(json.dumps(entries))
    calibration.forget()
    again = calibration.current()
    assert again.source == "stored" and again.min_parallel_work == first.min_parallel_work
    assert "stored in" in again.describe()


@needs_two_cpus
def test_a_damaged_store_is_measured_again(store):
    store.write_text("{not json")
    assert calibration.current().source == "measured"
    assert json.loads(store.read_text())[calibration.store_key()]["min_parallel_work"] >= 0
    calibration.forget()  # a valid file whose entry is damaged: measured again too
    store.write_text(json.dumps({calibration.store_key(): {"min_parallel_work": "many"}}))
    assert calibration.current().source == "measured"
    calibration.forget()  # a bad measurement record beside a good value: the value counts
    store.write_text(json.dumps({calibration.store_key(): {"min_parallel_work": 5, "ladder": None}}))
    assert (calibration.current().min_parallel_work, calibration.current().ladder) == (5, ())
    assert not list(store.parent.glob("*.tmp"))


def test_no_store_without_the_cache(store, monkeypatch):
    monkeypatch.setattr(kernels, "CACHE_ENABLED", False)
    assert calibration.current().path is None
    assert not store.exists()


def test_the_environment_overrides_it(store, monkeypatch):
    monkeypatch.setenv(calibration.ENV, "12345")
    chosen = calibration.current()
    assert (chosen.min_parallel_work, chosen.source) == (12345, calibration.ENV)
    assert not store.exists()  # nothing measured
    monkeypatch.setenv(calibration.ENV, "2e7")  # as describe() and the docs print it
    assert calibration.current().min_parallel_work == 20_000_000
    for bad in ("-1", "many", "1.5", "nan"):
        monkeypatch.setenv(calibration.ENV, bad)
        with pytest.raises(ValueError, match=f"{calibration.ENV} must be a whole number >= 0"):
            calibration.current()


def test_plans_ask_for_it_only_when_several_workers_could_run():
    def never():
        raise AssertionError("calibration consulted")

    circle = [2, 16, 8, 1]
    policy = Policy(max_blocks=2)
    assert plan_fit(policy, circle, 500, None, 1000, threads=1, calibrated=never).n_workers == 1
    explicit = Policy(max_blocks=2, min_parallel_work=0)
    assert plan_fit(explicit, circle, 500, None, 1, threads=2, calibrated=never).n_workers == 2
    # 500 samples x 193 parameters x 100 epochs = 9.65e6 multiply-adds: two workers from a
    # calibration at or below that only
    assert plan_fit(policy, circle, 500, None, 100, threads=2,
                    calibrated=lambda: 9_650_000).n_workers == 2
    assert plan_fit(policy, circle, 500, None, 100, threads=2,
                    calibrated=lambda: 9_650_001).n_workers == 1
    with pytest.raises(ValueError, match="min_parallel_work must be an int >= 0 or None"):
        Policy(min_parallel_work=-1)


def test_the_calibration_changes_speed_not_results(monkeypatch):
    """A fit planned on one worker (calibration above its work) and on two (below) ends with
    the same bits: the calibration may differ from machine to machine and run to run."""
    X, y = fastbp.datasets.make_circle(n_samples=300)
    results = []
    for value in ("0", str(10 ** 12)):
        monkeypatch.setenv(calibration.ENV, value)
        nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=3)
        nn.policy = Policy(max_blocks=2)
        with fastbp.threads(2):
            history = nn.fit(X, y, epochs=50, lr=0.1)
        results.append((nn.workers_used, [np.array(W) for W in nn.weights], history["loss"]))
    (used0, weights0, loss0), (used1, weights1, loss1) = results
    assert used0 == [2] and used1 == [1]
    assert all(np.array_equal(a, b) for a, b in zip(weights0, weights1))
    assert np.array_equal(loss0, loss1)


def test_thread_report_shows_it(monkeypatch):
    monkeypatch.setenv(calibration.ENV, "4242")
    from fastbp.kernels import blas

    name, described, value = fastbp.thread_report()[-1]
    assert (name, value) == ("calibration", 4242)
    assert described.startswith(
        f"min_parallel_work = 4.24e+03 multiply-adds (set by {calibration.ENV}); OpenBLAS tables: ")
    for library, (_, served) in blas.CORES.items():
        assert f"{library}'s: {served or 'not an OpenBLAS'}" in described


@needs_two_cpus
def test_the_calibrate_command_measures_again_and_stores(store, capsys):
    from fastbp.cli import main

    store.write_text(json.dumps({calibration.store_key(): {"min_parallel_work": 1}}))
    assert calibration.current().min_parallel_work == 1  # stored before
    main(["calibrate"])
    out = capsys.readouterr().out
    stored = json.loads(store.read_text())[calibration.store_key()]["min_parallel_work"]
    assert calibration.current().source == "measured"
    assert calibration.current().min_parallel_work == stored
    assert f"stored in {store}" in out and "on one worker" in out


def test_a_reference_fit_measures_nothing(store):
    """The reference engine runs in one thread whatever its plan says: its fits never measure
    (measuring would compile the kernels in a process that asked for NumPy only)."""
    X, y = fastbp.datasets.make_circle(n_samples=500)
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], backend="numpy", seed=0)
    nn.policy = Policy(max_blocks=2)
    with fastbp.threads(2):
        nn.fit(X, y, epochs=300, lr=0.1)  # 2.9e7 multiply-adds: two workers on the compiled engine
        nn.fit(X, y, epochs=2, optimizer="lbfgs")
    assert calibration.cached() is None and not store.exists()
