"""Per-layer kernels on both engines: dense forward, output delta, delta propagation, gradient
reduction (weight gradient) and parameter update, at six layer sizes.

Driven by the kernel table ``fastbp._testing``: ``make_case`` draws the seeded inputs and
``prepare`` returns a warm callable (inputs already in the engine's layout, numba compiled), so
the timed call is the kernel alone.  Older commits have the table as ``fastbp.layer_kernels``;
skipped on commits without either.
"""
from . import common


class _LayerKernel:
    params = (common.KERNEL_NAMES, common.ENGINE_PARAMS, common.DTYPES)
    param_names = ["kernel", "engine", "dtype"]
    size = None

    def setup(self, kernel, engine, dtype):
        # Memoised per process: asv re-runs setup between timed calls, which then costs nothing.
        self.run = common.prepared_kernel(kernel, self.size, engine, dtype)

    def time_kernel(self, kernel, engine, dtype):
        self.run()


class KernelSmall(_LayerKernel):
    """16 -> 8 features, batch 500 (the circle network's first layer): microseconds."""

    size = "small"
    number = 100
    repeat = (5, 20, 10.0)


class KernelMedium(_LayerKernel):
    """128 -> 64 features, batch 100 (the efficiency demo's first hidden layer): tens of us."""

    size = "medium"
    number = 50
    repeat = (5, 20, 10.0)


class KernelLoopsSide(_LayerKernel):
    """32 -> 16 features, batch 600 (the spirals' third layer): the largest layer on explicit
    loops (512 weights).  With KernelBlasSide it shows whether the loops-or-BLAS line still sits
    at the right place."""

    size = "loops_side"
    number = 50
    repeat = (5, 20, 10.0)


class KernelBlasSide(_LayerKernel):
    """64 -> 32 features, batch 600 (the spirals' second layer): the smallest on BLAS at the
    default line (where OpenBLAS serves a table without AVX-512 on an AVX-512 CPU the line moves
    to 128 x 128 weights and this layer runs on the loops too: ``kernels.config``)."""

    size = "blas_side"
    number = 20
    repeat = (5, 20, 10.0)


class KernelMiniBatchBlock(_LayerKernel):
    """784 -> 256 features, batch 64 (W5's first layer, one worker's block): products past
    OpenBLAS's small-matrix permit -- whole here, on the BLAS pool's threads; a fit holds the
    pool at one thread and computes them in blocks of rows (kernels/products.py)."""

    size = "minibatch_block"
    number = 5
    repeat = (5, 20, 10.0)


class KernelWide(_LayerKernel):
    """1024 -> 1024 features, batch 2048: tens of milliseconds (BLAS-bound)."""

    size = "wide"
    number = 1
    repeat = (3, 10, 10.0)
    timeout = 180
