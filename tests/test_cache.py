"""The on-disk compile cache: on by default, NUMBA_CACHE_DIR honoured, FASTBP_CACHE=0 turns it off,
and no writable location means no cache -- silently, never an import error."""
import os
import textwrap

from conftest import run_python

FIT_ONCE = """
import fastbp
from fastbp import kernels
X, y = fastbp.datasets.make_circle(n_samples=20)
fastbp.NeuralNetwork([2, 3, 1], seed=0).fit(X, y, epochs=2, lr=0.1)
stats = kernels.train_full_batch.stats
print(type(kernels.train_full_batch._cache).__name__, int(bool(stats.cache_hits)),
      int(bool(stats.cache_misses)))
"""


def run(code, **env):
    """stdout of ``code`` in a fresh interpreter (see conftest.run_python), split; it must succeed."""
    result = run_python(code, **env)
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


def test_editing_any_kernel_file_recompiles_every_kernel(tmp_path):
    """A cached kernel holds its callees' code: a change in a callee's file must invalidate it
    (Numba alone would only look at the caller's own file)."""
    import shutil
    from pathlib import Path

    import fastbp
    import fastbp.kernels

    site = tmp_path / "site"
    shutil.copytree(Path(fastbp.__file__).parent, site / "fastbp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if not (site / "fastbp" / "kernels").exists():  # editable install: kernels/ lives beside
        shutil.copytree(Path(fastbp.kernels.__file__).parent, site / "fastbp" / "kernels",
                        ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(site), "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "FASTBP_CACHE": "1"}
    run(FIT_ONCE, **env)
    assert run(FIT_ONCE, **env)[1] == "1"                   # unchanged sources: loaded
    dense = site / "fastbp" / "kernels" / "dense.py"          # a callee of train_full_batch
    dense.write_text(dense.read_text() + "\n# edited\n")
    recompiled = run(FIT_ONCE, **env)
    assert recompiled[1] == "0" and recompiled[2] == "1"    # not loaded stale: compiled afresh
