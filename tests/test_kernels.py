"""Every compiled kernel against the NumPy reference, through the one kernel table both use."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastbp import layer_kernels
from conftest import assert_close

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(1, 257))


def run_both(kernel, shape, dtype, **options):
    case = layer_kernels.make_case(kernel, *shape, dtype=dtype, **options)
    outputs = {}
    for engine in ("numpy", "numba"):
        result = layer_kernels.prepare(engine, kernel, case)()
        outputs[engine] = result if isinstance(result, tuple) else (result,)
    return outputs


def check_kernel(kernel, shape, dtype, **options):
    outputs = run_both(kernel, shape, dtype, **options)
    for compiled, ref in zip(outputs["numba"], outputs["numpy"]):
        assert compiled.dtype == ref.dtype == dtype, "a kernel changed the dtype"
        assert_close(compiled, ref, dtype)


@pytest.mark.parametrize("kernel", layer_kernels.KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@settings(max_examples=25, deadline=None)
@given(shape=shapes, tutorial=st.booleans(), activation=st.sampled_from(["relu", "sigmoid"]))
def test_kernel_matches_reference_small_shapes(kernel, dtype, shape, tutorial, activation):
    check_kernel(kernel, shape, np.dtype(dtype), tutorial=tutorial, activation=activation)


@pytest.mark.parametrize("kernel", layer_kernels.KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 16, 1), (1, 1, 500), (64, 64, 64),
                                   (256, 128, 100), (20, 128, 100)])
def test_kernel_matches_reference_edge_and_blas_shapes(kernel, dtype, shape):
    """1-wide layers, a batch of 1, and shapes large enough for the BLAS path."""
    check_kernel(kernel, shape, np.dtype(dtype))


def test_tutorial_output_delta_differs_from_exact():
    """The two modes really compute different deltas (so the mode tests above can fail)."""
    exact = run_both("output_delta", (4, 3, 50), np.float64, tutorial=False)["numba"][0]
    tutorial = run_both("output_delta", (4, 3, 50), np.float64, tutorial=True)["numba"][0]
    assert not np.allclose(exact, tutorial)


def test_parameter_update_flags_non_finite_results():
    from fastbp import kernels

    params = np.ones(5)
    grads = np.array([0, 0, np.inf, 0, 0.0])
    backup = np.empty(5)
    assert not kernels.sgd_step(params, grads, 0.1, backup)
    np.testing.assert_array_equal(backup, np.ones(5))  # the caller restores from here
    assert kernels.sgd_step(np.ones(5), np.ones(5), 0.1, backup)
