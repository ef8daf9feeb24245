import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
from hypothesis import settings

import fastbp
from fastbp import calibration, policy
from fastbp.engines import BACKENDS as ENGINE_CLASSES

# The tests' fits -- here and in the processes they start -- plan with a fixed min_parallel_work:
# a calibration measured while the suite keeps the cores busy would be stored for this CPU and
# slow later fits down.  tests/test_calibration.py measures (into a store of its own).
os.environ.setdefault(calibration.ENV, str(policy.DEFAULT_MIN_PARALLEL_WORK))

# Hypothesis profiles: CI runs "default"; `HYPOTHESIS_PROFILE=thorough pytest ...` 20x the examples.
settings.register_profile("thorough", max_examples=20 * settings.default.max_examples)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BACKENDS = sorted(ENGINE_CLASSES)
DTYPES = [np.float32, np.float64]
# Relative tolerance (to the magnitude of the values compared) for engine-vs-engine results.
RTOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-10}


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


def assert_close(actual, desired, dtype, scale=None):
    """Entrywise |actual - desired| <= rtol * (scale or max|desired|), rtol chosen by dtype."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape
    scale = scale if scale is not None else max(float(np.max(np.abs(desired), initial=0.0)), 1e-30)
    np.testing.assert_allclose(actual, desired, rtol=0, atol=RTOL[np.dtype(dtype)] * scale)


def parameters_of(nn):
    """Every weight and bias of ``nn`` in one float64 array (W0, b0, W1, b1, ...)."""
    return np.concatenate([np.ravel(p).astype(np.float64)
                           for W, b in zip(nn.weights, nn.biases) for p in (W, b)])


def small_problem(n_samples=40, sizes=(3, 5, 4, 1), seed=0, dtype=np.float64):
    random = np.random.default_rng(seed)
    X = random.standard_normal((n_samples, sizes[0]))
    y = (random.random((n_samples, sizes[-1])) < 0.5).astype(float)
    return X.astype(dtype), y


def head_problem(head, n=40, n_in=3, K=3, seed=0, dtype=np.float64):
    """Inputs and targets a head takes: 0/1 labels (sigmoid), class labels (softmax), real values
    (identity)."""
    random = np.random.default_rng(seed)
    X = random.standard_normal((n, n_in)).astype(dtype)
    if head == "softmax":
        return X, random.integers(0, K, n)
    if head == "identity":
        return X, random.standard_normal((n, K))
    return X, (random.random((n, K)) < 0.5).astype(float)


def make_pair(sizes, dtype=np.float64, tutorial_compat=False, seed=0):
    """The same network on both engines (identical initial weights)."""
    return {b: fastbp.NeuralNetwork(sizes, backend=b, dtype=dtype, tutorial_compat=tutorial_compat,
                                    seed=seed) for b in BACKENDS}


def run_python(code, **env):
    """``code`` run in a fresh interpreter outside the source tree (so it imports the install),
    with ``env`` added to the environment: the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env},
                          cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=600)


def python_file(folder, code):
    """``code`` written to a file in ``folder``: its path."""
    path = folder / "script.py"
    path.write_text(textwrap.dedent(code))
    return path


def crowd_of_workers():
    """Four workers per CPU this process may use (skips the test where that would be > 96)."""
    crowd = 4 * len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 8
    if crowd > 96:
        pytest.skip("too many cores to crowd with 400 samples")
    return crowd
