"""The on-disk compile cache: on by default, NUMBA_CACHE_DIR honoured, FASTBP_CACHE=0 turns it off,
and no writable location means no cache -- silently, never an import error."""
import os
import subprocess
import sys
import tempfile
import textwrap

FIT_ONCE = """
import fastbp
from fastbp import kernels
X, y = fastbp.datasets.make_circle(n_samples=20)
fastbp.NeuralNetwork([2, 3, 1], seed=0).fit(X, y, epochs=2, lr=0.1)
stats = kernels.train_full_batch.stats
print(type(kernels.train_full_batch._cache).__name__, stats.cache_hits and 1, stats.cache_misses and 1)
"""


def run(code, **env):
    """Run ``code`` in a fresh interpreter outside the source tree (so it imports the install)."""
    environment = {**os.environ, **env}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment,
                            cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_cache_dir_is_used_and_reloaded(tmp_path):
    cold = run(FIT_ONCE, NUMBA_CACHE_DIR=str(tmp_path), FASTBP_CACHE="1")
    assert cold[0] == "FunctionCache" and cold[2] == "1"      # compiled, then saved
    assert any(name.endswith(".nbi") for _, _, files in os.walk(tmp_path) for name in files)
    warm = run(FIT_ONCE, NUMBA_CACHE_DIR=str(tmp_path), FASTBP_CACHE="1")
    assert warm[1] == "1"                                     # loaded from the disk cache


def test_cache_can_be_switched_off(tmp_path):
    out = run(FIT_ONCE, NUMBA_CACHE_DIR=str(tmp_path), FASTBP_CACHE="0")
    assert out[0] == "NullCache"
    assert not any(files for _, _, files in os.walk(tmp_path))


def test_no_writable_cache_location_falls_back_silently():
    code = textwrap.dedent("""
        from numba.core import caching
        def refuse(self):
            raise OSError("read-only file system")
        for locator in caching.CacheImpl._locator_classes:
            locator.ensure_cache_path = refuse
    """) + FIT_ONCE
    out = run(code, FASTBP_CACHE="1")
    assert out[0] == "NullCache"
