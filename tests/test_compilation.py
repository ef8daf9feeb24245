"""The first run is never silent: a long compilation is announced once, and a cache that cannot be
used is warned about once -- while training goes on, compiled in memory."""
import io
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from fastbp import compilation


def fake_kernel(module):
    """A real Numba compilation of a function that says it is one of fastbp's kernels."""
    def slow_to_compile(x):
        return x + 1

    slow_to_compile.__module__ = module
    return numba.njit(slow_to_compile)


def test_a_long_compilation_is_announced_once_with_its_time(monkeypatch):
    stream = io.StringIO()
    notice = compilation.CompileNotice(stream)
    monkeypatch.setattr(compilation, "DELAY", 0.0)
    numba.core.event.register("numba:compile", notice)
    try:
        kernel = fake_kernel("fastbp.kernels.fake")
        kernel(np.zeros(3))                      # compiles: announced
        kernel(np.zeros(3, dtype=np.float32))    # another dtype: announced
        kernel(np.zeros((2, 2)))                 # same name and dtype again: not repeated
        fake_kernel("someone.else")(np.zeros(3))  # not fastbp's: never announced
    finally:
        numba.core.event.unregister("numba:compile", notice)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert "compiling slow_to_compile (float64) for its first use" in lines[0]
    assert "(float32)" in lines[1]
    assert all(line.endswith(" s") for line in lines)


def test_a_short_compilation_is_not_announced():
    stream = io.StringIO()
    notice = compilation.CompileNotice(stream)  # the real DELAY: a tiny function is quicker
    numba.core.event.register("numba:compile", notice)
    try:
        fake_kernel("fastbp.kernels.fake")(np.zeros(3))
    finally:
        numba.core.event.unregister("numba:compile", notice)
    assert stream.getvalue() == ""


def test_no_usable_cache_warns_once_and_trains_in_memory(tmp_path):
    """Numba without any usable cache directory (as a read-only install with no writable home):
    one CompileCacheWarning, the announcement says 'not cached', and the fit gives the same bits
    as in this process."""
    import fastbp

    code = textwrap.dedent(f"""
        import warnings
        import numpy as np
        import numba.core.caching
        numba.core.caching.CacheImpl._locator_classes = []   # no cache directory anywhere
        import fastbp
        X, y = fastbp.datasets.make_circle()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
            nn.fit(X, y, epochs=3, lr=0.1)
            nn.fit(X, y, epochs=3, lr=0.1)
        kinds = [w.category.__name__ for w in caught]
        assert kinds == ["CompileCacheWarning"], kinds
        assert "NUMBA_CACHE_DIR" in str(caught[0].message)
        np.save({str(tmp_path / "p.npy")!r}, nn.weights[0])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("fastbp: compiling train_full_batch (float64)") == 1, done.stderr
    assert "not cached" in done.stderr
    X, y = fastbp.datasets.make_circle()
    nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
    nn.fit(X, y, epochs=3, lr=0.1)
    nn.fit(X, y, epochs=3, lr=0.1)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), nn.weights[0])


def test_a_real_read_only_install_trains_in_memory_with_one_warning(tmp_path):
    """fastbp copied as an install lays it out (fastbp/, fastbp/kernels/) into a directory
    bind-mounted read-only, HOME read-only too: the fit trains (in memory), warns once, and gives
    this process's bits.  Needs permission to mount (root); skipped elsewhere."""
    import os
    import shutil

    import fastbp

    site = tmp_path / "site"
    source = os.path.dirname(fastbp.__file__)
    shutil.copytree(source, site / "fastbp", ignore=shutil.ignore_patterns("__pycache__"))
    kernels = os.path.dirname(fastbp.kernels.__file__)
    if not (site / "fastbp" / "kernels").exists():
        shutil.copytree(kernels, site / "fastbp" / "kernels",
                        ignore=shutil.ignore_patterns("__pycache__"))
    (site / "home").mkdir()
    mounted = subprocess.run(f"mount --bind {site} {site} && mount -o remount,ro,bind {site} {site}",
                             shell=True, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot bind-mount a read-only directory here (needs root)")
    try:
        assert subprocess.run(["touch", str(site / "fastbp" / "probe")]).returncode != 0
        out = tmp_path / "p.npy"
        code = textwrap.dedent(f"""
            import warnings
            import numpy as np
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                import fastbp
                assert fastbp.__file__.startswith({str(site)!r}), fastbp.__file__
                X, y = fastbp.datasets.make_circle()
                nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
                nn.fit(X, y, epochs=3, lr=0.1)
            kinds = [w.category.__name__ for w in caught]
            assert kinds == ["CompileCacheWarning"], kinds
            np.save({str(out)!r}, nn.weights[0])
        """)
        env = {key: value for key, value in os.environ.items()
               if key not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
        env.update(PYTHONPATH=str(site), HOME=str(site / "home"),
                   XDG_CACHE_HOME=str(site / "home" / ".cache"), FASTBP_CACHE="1")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, cwd=str(tmp_path), timeout=600)
        assert done.returncode == 0, done.stderr
        assert "not cached" in done.stderr
        nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
        X, y = fastbp.datasets.make_circle()
        nn.fit(X, y, epochs=3, lr=0.1)
        np.testing.assert_array_equal(np.load(out), nn.weights[0])
    finally:
        subprocess.run(["umount", str(site)])
