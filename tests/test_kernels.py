"""Every compiled kernel against the NumPy reference, through the one kernel table both use
(``fastbp._testing``, which the asv suite times too)."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_close
from fastbp import _testing
from fastbp.kernels.blas import SMALL_KERNEL_MOST_WORK, SMALL_KERNELS, gemm, gemm_rows
from fastbp.kernels.config import product_rows
from fastbp.kernels.products import product

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(1, 257))


def run_both(kernel, shape, dtype, **options):
    case = _testing.make_case(kernel, *shape, dtype=dtype, **options)
    outputs = {}
    for engine in ("numpy", "numba"):
        result = _testing.prepare(engine, kernel, case)()
        outputs[engine] = result if isinstance(result, tuple) else (result,)
    return outputs


def check_kernel(kernel, shape, dtype, **options):
    outputs = run_both(kernel, shape, dtype, **options)
    for compiled, ref in zip(outputs["numba"], outputs["numpy"]):
        assert compiled.dtype == ref.dtype == dtype, "a kernel changed the dtype"
        assert_close(compiled, ref, dtype)


@pytest.mark.parametrize("kernel", _testing.KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@settings(max_examples=25, deadline=None)
@given(shape=shapes, tutorial=st.booleans(), activation=st.sampled_from(sorted(_testing.ACTIVATIONS)),
       head=st.sampled_from(sorted(_testing.HEADS)),
       optimizer=st.sampled_from(sorted(_testing.OPTIMIZERS)))
def test_kernel_matches_reference_small_shapes(kernel, dtype, shape, tutorial, activation, head,
                                               optimizer):
    """Random shapes, every activation, head and optimizer (each kernel uses the one it has)."""
    check_kernel(kernel, shape, np.dtype(dtype), tutorial=tutorial, activation=activation,
                 head=head, optimizer=optimizer)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel, option, values", [
    ("dense_forward", "activation", sorted(_testing.ACTIVATIONS)),
    ("propagate_delta", "activation", ["relu", "leaky_relu", "tanh", "sigmoid", "identity"]),
    ("output_delta", "head", sorted(_testing.HEADS)),
    ("parameter_update", "optimizer", sorted(_testing.OPTIMIZERS)),
])
def test_every_option_of_a_kernel_matches_the_reference(dtype, kernel, option, values):
    """Each activation, head and optimizer at a thin-loop and a BLAS shape, and the options
    really differ from each other (so a kernel ignoring its option fails)."""
    for shape in [(3, 5, 37), (64, 48, 70)]:
        results = []
        for value in values:
            check_kernel(kernel, shape, np.dtype(dtype), **{option: value})
            results.append(run_both(kernel, shape, np.dtype(dtype), **{option: value})["numba"][-1])
        for i in range(len(results)):
            for j in range(i):
                assert not np.array_equal(results[i], results[j]), (values[i], values[j])


@pytest.mark.parametrize("kernel", _testing.KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 16, 1), (1, 1, 500), (64, 64, 64),
                                   (256, 128, 100), (20, 128, 100), (784, 256, 64), (200, 96, 70)])
def test_kernel_matches_reference_edge_and_blas_shapes(kernel, dtype, shape):
    """1-wide layers, a batch of 1, and shapes large enough for the BLAS path (the last four
    past the small-matrix kernels' permit: products in blocks of rows where those serve)."""
    check_kernel(kernel, shape, np.dtype(dtype))


@pytest.mark.parametrize("kernel", ["dense_forward", "propagate_delta", "weight_gradient"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(784, 256, 64), (200, 96, 70), (256, 128, 100)])
def test_kernel_matches_reference_on_one_blas_thread(kernel, dtype, shape):
    """As fits run them, the BLAS pool at one thread: products past the small-matrix permit in
    blocks of rows where OpenBLAS has those kernels (products.product)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        check_kernel(kernel, shape, np.dtype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("activation", sorted(set(_testing.ACTIVATIONS) - {"softmax"}))
@pytest.mark.parametrize("n_in", [1, 2, 3, 4, 5, 6, 7, 8, 16, 64])
@pytest.mark.parametrize("n_out", [1, 3, 4, 9, 32])
def test_dense_forward_without_pre_activations_gives_the_same_activations(dtype, activation,
                                                                          n_in, n_out):
    """The training passes' forward (pre-activations not kept; a ReLU taken inside the product's
    last pass, whichever pass of four, two or one inputs that is) gives the activations of the
    recorded forward bit for bit, and those match the reference."""
    from fastbp import kernels

    random = np.random.default_rng(n_in * 100 + n_out)
    n = 37
    W = random.standard_normal((n_in, n_out)).astype(dtype)
    b = random.standard_normal(n_out).astype(dtype)
    a_in = random.standard_normal((n_in, n)).astype(dtype)
    code = _testing.ACTIVATIONS[activation][1]
    Z, A = np.empty((n_out, n), dtype), np.empty((n_out, n), dtype)
    kernels.dense_forward(W, b, a_in, Z, A, code, True)
    Z_scratch = np.full((n_out, n), np.nan, dtype)
    A_fast = np.full((n_out, n), np.nan, dtype)
    kernels.dense_forward(W, b, a_in, Z_scratch, A_fast, code, False)
    np.testing.assert_array_equal(A_fast, A)
    expected = _testing.ACTIVATIONS[activation][0](a_in.T.astype(np.float64) @ W + b).T
    assert_close(A, expected.astype(dtype), np.dtype(dtype))
    assert not np.array_equal(A, Z) or activation == "identity"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
@pytest.mark.parametrize("n_out", [1, 2, 3])
@pytest.mark.parametrize("n_in", [1, 2, 3, 4, 5, 8, 9])
@pytest.mark.parametrize("tutorial", [False, True])
def test_delta_from_one_or_two_outputs_matches_the_reference(dtype, activation, n_out, n_in,
                                                             tutorial):
    """A delta into a ReLU-family layer from a layer of one or two outputs takes the derivative
    and the bias gradient's sums in the product's own pass (``backward.gated_delta``), in blocks
    of four rows and a last partial block; others (three outputs, tanh) in a pass after the
    product: each against the reference, deltas and bias gradient."""
    check_kernel("propagate_delta", (n_in, n_out, 37), np.dtype(dtype), activation=activation,
                 tutorial=tutorial)


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
    assert not kernels.sgd_update(params, grads, 0.1, backup)
    np.testing.assert_array_equal(backup, np.ones(5))  # the caller restores from here
    assert kernels.sgd_update(np.ones(5), np.ones(5), 0.1, backup)


def _optimizer_record(settings):
    from fastbp import kernels

    betas = settings.get("betas", (0.9, 0.999))
    return kernels.Optimizer(kernels.ADAM if settings["optimizer"] == "adam" else kernels.SGD,
                             float(settings.get("momentum", 0.0)),
                             bool(settings.get("nesterov", False)), float(betas[0]),
                             float(betas[1]), float(settings.get("eps", 1e-8)),
                             float(settings.get("weight_decay", 0.0)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("optimizer", sorted(_testing.OPTIMIZERS))
@pytest.mark.parametrize("n_blocks", [1, 2, 3, 4])
def test_update_from_blocks_is_the_update_from_their_sum_in_block_order(dtype, optimizer,
                                                                        n_blocks):
    """The training loops' update from the blocks' gradient rows (in worker shares of the
    parameters; plain SGD adds the last row inside its step) gives the bits of one update from
    the rows summed in block order -- parameters, backup and optimizer state."""
    from fastbp import kernels

    random = np.random.default_rng(n_blocks)
    size = 301
    record = _optimizer_record(_testing.OPTIMIZERS[optimizer])
    params0 = random.standard_normal(size).astype(dtype)
    decay = (random.random(size) < 0.8).astype(dtype)
    rows = [random.standard_normal((n_blocks, size)).astype(dtype) for _ in range(3)]

    def state():
        return kernels.OptimizerState(*(np.zeros(size, dtype) for _ in range(3)), decay)

    expected, expected_state, expected_backup = params0.copy(), state(), np.empty(size, dtype)
    for t, grads in enumerate(rows, start=1):
        total = grads[0].copy()
        for b in range(1, n_blocks):
            total += grads[b]
        assert kernels.optimizer_update(expected, total, 0.05, expected_backup, record,
                                        *expected_state, t)
    params, blocked_state, backup = params0.copy(), state(), np.empty(size, dtype)
    for t, grads in enumerate(rows, start=1):
        grads = grads.copy()
        for start, stop in [(0, 144), (144, size)]:  # two workers' shares, whole cache lines
            assert kernels.optimizer_update_blocks(params, grads, 0.05, backup, start, stop,
                                                   record, blocked_state, t)
    np.testing.assert_array_equal(params, expected)
    np.testing.assert_array_equal(backup, expected_backup)
    for name in ("velocity", "m", "v"):
        np.testing.assert_array_equal(getattr(blocked_state, name), getattr(expected_state, name))
    assert not np.array_equal(params, params0)


@pytest.mark.parametrize("n_blocks", [1, 2, 3])
def test_update_from_blocks_flags_a_non_finite_row(n_blocks):
    from fastbp import kernels

    record = _optimizer_record(_testing.OPTIMIZERS["sgd"])
    params, backup = np.ones(40), np.empty(40)
    grads = np.zeros((n_blocks, 40))
    grads[-1, 7] = np.inf
    state = kernels.OptimizerState(*(np.zeros(40) for _ in range(3)), np.ones(40))
    assert not kernels.optimizer_update_blocks(params, grads, 0.1, backup, 0, 40, record, state, 1)
    np.testing.assert_array_equal(backup, np.ones(40))  # the caller restores from here
    params[...] = backup
    assert kernels.optimizer_update_blocks(params, np.ones((n_blocks, 40)), 0.1, backup, 0, 40,
                                           record, state, 1)
    np.testing.assert_array_equal(params, 1 - 0.1 * n_blocks)


def check_every_layout(every_layout, dtype, m, k, n, outputs, tol, *args):
    """A (m, k) and B (k, n) drawn at random, ``every_layout(A, A.T copy, B, B.T copy, out,
    *args)`` fills ``outputs`` products into NaN-filled ``out``: each must be A @ B."""
    random = np.random.default_rng(m * k * n + sum(args))
    A = random.standard_normal((m, k)).astype(dtype)
    B = random.standard_normal((k, n)).astype(dtype)
    out = np.full((outputs, m, n), np.nan, dtype)
    every_layout(A, np.ascontiguousarray(A.T), B, np.ascontiguousarray(B.T), out, *args)
    for result in out:
        np.testing.assert_allclose(result, A.astype(np.float64) @ B, rtol=tol, atol=tol)


@numba.njit
def _gemm_every_layout(A, At, B, Bt, out):
    """A (m, k) and B (k, n) C-contiguous; At, Bt their transposes, C-contiguous (so At.T is F)."""
    gemm(A, B, out[0])
    gemm(At.T, B, out[1])
    gemm(A, Bt.T, out[2])
    gemm(At.T, Bt.T, out[3])


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (3, 7, 5), (33, 16, 1), (8, 64, 40), (0, 3, 4),
                                     (3, 4, 0)])
def test_gemm_matches_numpy_for_every_operand_layout(dtype, m, k, n):
    check_every_layout(_gemm_every_layout, dtype, m, k, n, 4,
                       1e-5 if dtype == np.float32 else 1e-12)


@numba.njit
def _gemm_rows_every_layout(A, At, B, Bt, out, rows):
    """_gemm_every_layout in calls over blocks of ``rows`` rows of C (the last one shorter)."""
    m = A.shape[0]
    for start in range(0, m, rows):
        stop = min(start + rows, m)
        gemm_rows(A, B, out[0], start, stop)
        gemm_rows(At.T, B, out[1], start, stop)
        gemm_rows(A, Bt.T, out[2], start, stop)
        gemm_rows(At.T, Bt.T, out[3], start, stop)


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (37, 5, 9), (64, 200, 40), (33, 16, 1)])
@pytest.mark.parametrize("rows", [1, 7, 16, 64])
def test_gemm_rows_computes_its_rows_for_every_operand_layout(dtype, m, k, n, rows):
    """Blocks of C's rows, each one call, for both BLAS paths (float64: NumPy's CBLAS, float32:
    SciPy's by default): every block lands in its own rows, none is missed."""
    check_every_layout(_gemm_rows_every_layout, dtype, m, k, n, 4,
                       1e-5 if dtype == np.float32 else 1e-12, rows)


@numba.njit
def _product_every_layout(A, At, B, Bt, out):
    """products.product for the three operand layouts the kernels give it."""
    product(A, B, out[0])
    product(At.T, B, out[1])
    product(At.T, Bt.T, out[2])


@pytest.mark.parametrize("m, k, n", [(256, 784, 64), (784, 64, 256), (128, 256, 64),
                                     (200, 91, 70), (16, 2048, 64), (30, 30, 30)])
def test_product_matches_numpy_whole_or_in_blocks_of_rows(dtype, m, k, n):
    check_every_layout(_product_every_layout, dtype, m, k, n, 3,
                       1e-4 if dtype == np.float32 else 1e-11)


@numba.njit
def _product_and_its_two_ways(A, B, out, rows):
    """product(A, B), the whole product, and the product in blocks of ``rows`` rows."""
    product(A, B, out[0])
    gemm(A, B, out[1])
    m = A.shape[0]
    for start in range(0, m, rows):
        gemm_rows(A, B, out[2], start, min(start + rows, m))


def test_product_goes_in_blocks_only_while_the_blas_pool_runs_one_thread(dtype):
    """Blocks of rows are faster than one BLAS thread's whole product, slower than several
    threads': a pool of one computes W5's first-layer product in blocks (its bits), a pool of
    two whole (the whole product's bits, on the same pool)."""
    from threadpoolctl import threadpool_limits

    itemsize = np.dtype(dtype).itemsize
    rows = product_rows(256, 64, 784, itemsize)
    if not SMALL_KERNELS[itemsize == 4]:
        pytest.skip("no small-matrix kernels in this BLAS: every product runs whole")
    random = np.random.default_rng(3)
    W = random.standard_normal((784, 256)).astype(dtype)
    X = random.standard_normal((64, 784)).astype(dtype)
    for threads, way in ((1, 2), (2, 1)):
        out = np.full((3, 256, 64), np.nan, dtype)
        with threadpool_limits(threads, user_api="blas"):
            _product_and_its_two_ways(W.T, X.T, out, rows)
        np.testing.assert_array_equal(out[0], out[way])


def test_products_past_the_small_kernels_permit_go_in_blocks_of_rows_within_it():
    """Whole where OpenBLAS has no small-matrix kernels or the product is within their permit;
    else blocks of rows in multiples of 64 bytes, each within the permit -- or whole again when
    not even one such block fits."""
    for itemsize, small in ((8, SMALL_KERNELS[0]), (4, SMALL_KERNELS[1])):
        assert product_rows(256, 64, 784, itemsize) == (16 if small else 256)  # W5's first layer
        assert product_rows(100, 100, 100, itemsize) == 100        # within the permit
        assert product_rows(512, 1024, 1024, itemsize) == 512      # no block fits
        for m, n, k in [(784, 256, 64), (128, 64, 256), (256, 64, 128), (64, 600, 32),
                        (37, 300, 91), (1000, 1000, 2)]:
            rows = product_rows(m, n, k, itemsize)
            if not small or m * n * k <= SMALL_KERNEL_MOST_WORK:
                assert rows == m
            else:
                assert 0 < rows < m and rows % (64 // itemsize) == 0
                assert rows * n * k <= SMALL_KERNEL_MOST_WORK
                assert (rows + 64 // itemsize) * n * k > SMALL_KERNEL_MOST_WORK


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("layout", ["sample_major", "feature_major"])
@pytest.mark.parametrize("shape", [(64, 32, 300), (128, 64, 50), (64, 24, 32), (96, 40, 77),
                                   (256, 128, 100), (20, 128, 100), (3, 5, 37)])
def test_weight_gradient_matches_reference_with_either_delta_layout(dtype, layout, shape):
    """The BLAS weight gradient with the delta as it is and laid out sample-major first (what
    kernels.delta_sample_major picks where OpenBLAS's small-matrix kernels serve): both are the
    reference's gradient, whatever the rule picks on this machine."""
    check_kernel("weight_gradient", shape, np.dtype(dtype), delta_layout=layout)


def test_delta_layout_rule_follows_the_blas_kernels():
    """Sample-major deltas only where the BLAS serves small-matrix kernels, only for BLAS layers
    that are wide enough and no wider out than in, only where those kernels compute the product
    (whole, or in blocks of rows)."""
    from fastbp import kernels
    from fastbp.kernels.blas import SMALL_KERNELS

    for float32, small in ((False, SMALL_KERNELS[0]), (True, SMALL_KERNELS[1])):
        assert kernels.delta_sample_major(64, 32, 300, float32) == small
        assert kernels.delta_sample_major(128, 64, 50, float32) == small
        assert not kernels.delta_sample_major(16, 32, 300, float32)    # too few inputs
        assert not kernels.delta_sample_major(64, 16, 300, float32)    # too few outputs
        assert not kernels.delta_sample_major(64, 32, 16, float32)     # too few samples
        # past 100^3: in blocks of rows within it (config.product_rows), unless none fits
        assert kernels.delta_sample_major(64, 32, 600, float32) == small
        assert kernels.delta_sample_major(256, 128, 64, float32) == small
        assert not kernels.delta_sample_major(64, 32, 40000, float32)
        assert not kernels.delta_sample_major(64, 100, 100, float32)   # more outputs than inputs


def test_rows_of_loop_networks_are_padded_to_whole_cache_lines():
    """A block's feature-major rows: n rounded up to 64 bytes when every layer runs the loop
    kernels, n itself when a layer is a BLAS product (BLAS reads packed rows)."""
    from fastbp import kernels

    loops = np.array([2, 16, 8, 1])
    assert [kernels.row_length(loops, n, 8) for n in (0, 1, 8, 250, 256)] == [0, 8, 8, 256, 256]
    assert [kernels.row_length(loops, n, 4) for n in (1, 16, 250)] == [16, 16, 256]
    with_blas = np.array([784, 256, 128, 1])
    assert [kernels.row_length(with_blas, n, 4) for n in (1, 250)] == [1, 250]


def test_padding_columns_never_reach_a_gradient():
    """A padded block's extra columns are an input of zeros: with these weights its activations
    overflow (relu(1e19 * 1e20 * 4) in float32) where no sample's do.  The gradients must stay
    the reference's (finite), not 0 x inf = NaN, and a fit must go on."""
    import fastbp

    X = np.abs(np.random.default_rng(0).standard_normal((5, 2))) + 1.0
    y = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    results = {}
    for backend in ("numba", "numpy"):
        nn = fastbp.NeuralNetwork([2, 4, 4, 1], dtype=np.float32, backend=backend, seed=0)
        nn.weights[0][...] = [[-1e20] * 4, [0] * 4]
        nn.biases[0][...] = 1e19
        nn.weights[1][...] = 1e20
        nn.biases[1][...] = 0
        nn.weights[2][...] = 1
        nn.biases[2][...] = 0
        dW, db = nn.gradients(X, y)
        nn.fit(X, y, epochs=2, lr=0.01)
        results[backend] = np.concatenate([np.ravel(g) for g in dW + db])
    assert np.all(np.isfinite(results["numba"]))
    np.testing.assert_allclose(results["numba"], results["numpy"], rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_matrix_views_are_the_slices_reshaped(dtype):
    """views.matrix, every (rows, cols) view the training loops take of a flat buffer: the same
    values as slicing and reshaping, on random shapes; a view past the buffer is an error."""
    from fastbp.kernels.views import probe_matrix

    def matrix_copy(buf, start, rows, cols):
        out = np.full((max(rows, 0), max(cols, 0)), np.nan, buf.dtype)
        layout = np.zeros(5, np.int64)
        probe_matrix(buf, start, rows, cols, out, layout)
        return out, layout

    random = np.random.default_rng(7)
    for _ in range(50):
        rows, cols = (int(v) for v in random.integers(0, 9, size=2))
        size = int(random.integers(rows * cols, rows * cols + 20))
        start = int(random.integers(0, size - rows * cols + 1))
        buf = random.standard_normal(size).astype(dtype)
        view, layout = matrix_copy(buf, start, rows, cols)
        expected = buf[start:start + rows * cols].reshape(rows, cols)
        np.testing.assert_array_equal(view, expected)
        assert tuple(layout[:2]) == expected.shape and layout[4] == expected.itemsize
        if expected.size:  # (NumPy gives an empty array's strides its own way)
            assert tuple(layout[2:4]) == expected.strides
    buf = np.zeros(10, dtype)
    for start, rows, cols in [(5, 2, 3), (-1, 1, 1), (0, -1, 2), (0, 11, 1)]:
        with pytest.raises(IndexError, match="outside its buffer"):
            matrix_copy(buf, start, rows, cols)
