"""Processes: many processes compiling into one empty cache at once, a process killed mid-compile,
fork after a fit, Ctrl-C during an L-BFGS fit and a validated fit -- every process gets the
serial results and nothing is left broken.  (Each test starts fresh interpreters: ~10-40 s.)"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastbp
from conftest import parameters_of

FIT = """
import numpy as np, fastbp
def train(seed, dtype="float64"):
    X, y = fastbp.datasets.make_circle()
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=seed, dtype=dtype)
    nn.fit(X, y, epochs=30, lr=0.1)
    nn.fit(X, y, epochs=3, lr=0.05, batch_size=64, seed=seed, optimizer="adam")
    return np.concatenate([np.ravel(p) for W, b in zip(nn.weights, nn.biases) for p in (W, b)])
"""


def serial(seed, dtype="float64"):
    X, y = fastbp.datasets.make_circle()
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=seed, dtype=dtype)
    nn.fit(X, y, epochs=30, lr=0.1)
    nn.fit(X, y, epochs=3, lr=0.05, batch_size=64, seed=seed, optimizer="adam")
    return parameters_of(nn)


def python(code, cache_dir, **kwargs):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "FASTBP_CACHE": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=900, **kwargs)


def test_concurrent_first_fits_on_an_empty_cache(tmp_path):
    """Three spawned processes and a loky pool's two workers do their first fit at the same moment
    on an empty cache, in float32 and float64 (two signatures of each kernel written at once):
    none crashes, all get the serial results, and so does a later process
    (which loads what it finds; Numba's cache index is rewritten by each process that compiled,
    so an entry written at the same moment by another may be missing and is compiled again)."""
    cache = tmp_path / "cache"
    out = tmp_path / "out.npy"
    code = FIT + f"""
import multiprocessing
if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        spawned = pool.starmap(train, [(1, "float32"), (2, "float64"), (3, "float32")])
    from joblib import Parallel, delayed
    pooled = Parallel(n_jobs=2, backend="loky")(delayed(train)(s, d)
                                                 for s, d in [(4, "float64"), (5, "float32")])
    np.save({str(out)!r}, np.stack([p.astype(np.float64) for p in spawned + pooled]))
"""
    script = tmp_path / "first_fits.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "NUMBA_CACHE_DIR": str(cache),
                                            "FASTBP_CACHE": "1"})
    assert done.returncode == 0, done.stderr
    results = np.load(out)
    dtypes = ["float32", "float64", "float32", "float64", "float32"]
    for row, seed, dtype in zip(results, [1, 2, 3, 4, 5], dtypes):
        np.testing.assert_array_equal(row, serial(seed, dtype))
    assert any(name.endswith(".nbc") for _, _, files in os.walk(cache) for name in files)
    later = python(FIT + f"np.save({str(out)!r}, train(6))", cache)
    assert later.returncode == 0, later.stderr
    np.testing.assert_array_equal(np.load(out), serial(6))


def test_a_process_killed_mid_compile_leaves_a_usable_cache(tmp_path):
    cache = tmp_path / "cache"
    victim = subprocess.Popen([sys.executable, "-c", FIT + "train(0)"], stderr=subprocess.PIPE,
                              env={**os.environ, "NUMBA_CACHE_DIR": str(cache),
                                   "FASTBP_CACHE": "1"})
    time.sleep(4.0)  # inside the first compilation (several seconds without a cache)
    victim.kill()
    victim.wait(timeout=60)
    out = tmp_path / "out.npy"
    after = python(FIT + f"np.save({str(out)!r}, train(7))", cache)
    assert after.returncode == 0, after.stderr
    np.testing.assert_array_equal(np.load(out), serial(7))


def test_fork_after_a_fit_trains_in_the_child(tmp_path):
    """A fit started worker threads (and bound CPUs); a forked child still trains correctly."""
    out = tmp_path / "child.npy"
    code = FIT + f"""
import multiprocessing, dataclasses
X, y = fastbp.datasets.make_spirals()
nn = fastbp.NeuralNetwork([2, 64, 32, 16, 1], seed=0)
nn.policy = dataclasses.replace(nn.policy, min_parallel_work=0)
nn.fit(X, y, epochs=20, lr=0.05)          # a team of workers ran in this process
def child():
    np.save({str(out)!r}, train(8))
if __name__ == "__main__":
    p = multiprocessing.get_context("fork").Process(target=child)
    p.start(); p.join(120)
    raise SystemExit(p.exitcode)
"""
    script = tmp_path / "fork_after_fit.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out), serial(8))


INTERRUPTED = """
import signal, sys, time, threading, os
import numpy as np, fastbp
X, y = fastbp.datasets.make_spirals()
X, y = np.tile(X, (50, 1)), np.tile(y, (50, 1))  # 30000 samples: every iteration takes a while
nn = fastbp.NeuralNetwork([2, 64, 32, 16, 1], seed=0)
nn.fit(X, y, epochs=2, lr=0.05, optimizer={optimizer!r}, **{options})   # compiled before
print("ready", flush=True)
try:
    nn.fit(X, y, epochs=10**6, lr=0.05, optimizer={optimizer!r}, **{options})
except KeyboardInterrupt:
    flat = np.concatenate([np.ravel(p) for W, b in zip(nn.weights, nn.biases) for p in (W, b)])
    assert np.all(np.isfinite(flat))
    assert np.isfinite(nn.loss(X, y))
    nn.save({path!r})
    print("interrupted cleanly", flush=True)
"""


@pytest.mark.parametrize("optimizer, options", [
    ("lbfgs", {"gtol": 0.0}),
    ("adam", {"validation_split": 0.2, "early_stopping": True, "patience": 10**6}),
])
def test_ctrl_c_leaves_a_usable_network(tmp_path, optimizer, options):
    """SIGINT during an L-BFGS fit and during a fit validating every epoch: the network is at
    its last complete state, finite, and saves."""
    path = tmp_path / "after.npz"
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED.format(optimizer=optimizer, options=options,
                                                  path=str(path))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "interrupted cleanly" in out
    loaded = fastbp.NeuralNetwork.load(path)
    assert np.all(np.isfinite(parameters_of(loaded)))
