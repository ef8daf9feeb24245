"""Which BLAS the kernels call: NumPy's OpenBLAS when it has 64-bit-integer CBLAS symbols, SciPy's
otherwise or with FASTBP_BLAS=scipy -- both correct, and never mixed up through the disk cache."""
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from conftest import run_python
from fastbp.kernels import blas, config


def numpy_has_bundled_openblas():
    """An OpenBLAS inside NumPy's package (macOS) or its wheel's numpy.libs (Linux, Windows)."""
    numpy_dir = os.path.dirname(np.__file__)
    return any(info["internal_api"] == "openblas"
               and info["filepath"].startswith((numpy_dir + os.sep, numpy_dir + ".libs"))
               for info in threadpool_info())


@pytest.mark.skipif(not numpy_has_bundled_openblas(), reason="NumPy without a bundled OpenBLAS")
def test_kernels_call_numpys_openblas_when_numpy_bundles_one():
    assert blas.LIBRARY == "numpy"
    addresses = blas._numpy_openblas_gemms()
    assert set(addresses) == {"float32", "float64"} and all(addresses.values())


# Both libraries must give the same training: a network with BLAS-sized layers, both dtypes,
# fit on the JIT engine against the NumPy reference, and gemm on every operand layout.
CHECK_LIBRARY = """
import numpy as np, fastbp
from fastbp.kernels import blas, config
for dtype, tol in ((np.float32, 1e-4), (np.float64, 1e-11)):
    X, y = fastbp.datasets.make_spirals(n_per_class=45)
    X = np.hstack([X] * 8).astype(dtype)                       # 16 inputs: every layer uses BLAS
    nets = [fastbp.NeuralNetwork([16, 64, 32, 1], backend=b, dtype=dtype, seed=1)
            for b in ("numba", "numpy")]
    for net in nets:
        net.fit(X, y, epochs=20, lr=0.1)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        assert np.max(np.abs(a - b)) <= tol * np.max(np.abs(b)), (dtype, np.max(np.abs(a - b)))
print(blas.LIBRARY, config.SOURCES_STAMP)
"""


def test_scipy_blas_on_request_trains_like_the_reference(tmp_path):
    result = run_python(CHECK_LIBRARY, FASTBP_BLAS="scipy", NUMBA_CACHE_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    library, stamp = result.stdout.split()
    assert library == "scipy"
    # a cache entry compiled against one library is never loaded by a process using the other
    assert (stamp != config.SOURCES_STAMP) == (blas.LIBRARY != "scipy")


def test_unknown_blas_setting_is_refused_by_name():
    result = run_python("import fastbp", FASTBP_BLAS="mkl")
    assert result.returncode != 0
    assert "FASTBP_BLAS must be 'numpy' or 'scipy', got 'mkl'" in result.stderr
