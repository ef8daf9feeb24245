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


def test_no_writable_cache_location_compiles_in_memory():
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


SEEDED_FITS = """
import dataclasses, sys
import numpy as np
import fastbp
threads, forced = int(sys.argv[1]), sys.argv[2] == "forced"
out = []
for make, sizes in ((fastbp.datasets.make_circle, [2, 16, 8, 1]),
                    (fastbp.datasets.make_spirals, [2, 64, 32, 16, 1])):
    X, y = make()
    for dtype in (np.float64, np.float32):
        for options in (dict(epochs=120, lr=0.1), dict(epochs=6, lr=0.1, batch_size=64, seed=0)):
            with fastbp.threads(threads):
                nn = fastbp.NeuralNetwork(sizes, dtype=dtype, seed=0)
                policy = dict(min_parallel_work=0)
                if forced:  # the team hands over to one worker after its first epoch
                    policy.update(wait_window_ns=0, wait_limit=-1.0)
                nn.policy = dataclasses.replace(nn.policy, **policy)
                history = nn.fit(X, y, **options)
            out += [p.astype(np.float64).ravel() for p in list(nn.weights) + list(nn.biases)]
            out += [np.array(history["loss"]), np.array(history["accuracy"])]
np.save(sys.argv[3], np.concatenate(out))
"""


def test_seeded_fits_are_bit_identical_across_processes_caches_threads_and_fallbacks(tmp_path):
    """The same seeded fits (full batch and mini-batch, both dtypes, thin and BLAS layers) in fresh
    processes: a cold compile, a cache load, no cache, one thread, a forced fallback to one
    worker mid-fit and a repeat -- every parameter and history entry the same bits."""
    import numpy as np

    from conftest import python_file

    script = python_file(tmp_path, SEEDED_FITS)
    cache = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "FASTBP_CACHE": "1"}
    runs = {"cold compile": ("2", "-", cache), "cache load": ("2", "-", cache),
            "no cache": ("2", "-", {"FASTBP_CACHE": "0"}), "one thread": ("1", "-", cache),
            "forced fallback": ("2", "forced", cache), "cache load again": ("2", "-", cache)}
    results = {}
    for name, (threads, forced, env) in runs.items():
        out = tmp_path / f"{len(results)}.npy"
        result = run_python(f"import runpy, sys; sys.argv = ['x', '{threads}', '{forced}', "
                            f"r'{out}']; runpy.run_path(r'{script}', run_name='__main__')", **env)
        assert result.returncode == 0, result.stderr
        results[name] = np.load(out)
    reference = results.pop("cold compile")
    same = {name: bool(np.array_equal(r, reference)) for name, r in results.items()}
    assert same == dict.fromkeys(results, True)
