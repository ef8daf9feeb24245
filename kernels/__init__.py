"""Compiled Numba kernels of fastbp (installed as ``fastbp.kernels``).

Only compiled code lives here: no validation and no Python objects.  Activations, deltas and
targets are *feature-major* -- stored as ``(features, batch)`` so that the innermost loops run
over the batch with unit stride even for 1-, 2- or 8-wide layers; the inputs too, unless the
first layer is a BLAS product (then sample-major, see ``train.inputs_sample_major``).
The NumPy reference (``fastbp.reference``) computes the same math sample-major, as the
tutorial writes it; tests compare the two on transposed views.
"""
from . import serve as serve_layout
from .activations import IDENTITY, LEAKY_RELU, RELU, SIGMOID, SOFTMAX, TANH, softmax
from .backward import (
    bias_gradient,
    head_delta,
    output_loss,
    propagate_delta,
    weight_gradient,
)
from .checks import finite_and_within
from .config import CACHE_ENABLED, CACHE_PROBLEMS, FAST_FLOATS, delta_sample_major, use_blas
from .dense import dense_forward
from .serve import EVALUATE, FORWARD, MAX_HELPERS, STEP, lead, serve_jobs
from .sync import SLOT
from .train import (
    NO_MONITOR,
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_SCORE,
    Blocks,
    Net,
    Settings,
    Team,
    Validation,
    forward_pass,
    gradient_pass,
    inputs_sample_major,
    network_loss,
    row_length,
    train_full_batch,
    train_minibatch,
)
from .update import (
    ADAM,
    SGD,
    Optimizer,
    OptimizerState,
    optimizer_update,
    optimizer_update_blocks,
    sgd_update,
)

__all__ = [
    "CACHE_ENABLED", "CACHE_PROBLEMS", "FAST_FLOATS", "SLOT", "use_blas", "delta_sample_major",
    "finite_and_within",
    "NO_MONITOR", "VAL_LOSS", "VAL_SCORE", "TRAIN_LOSS",
    "IDENTITY", "LEAKY_RELU", "RELU", "SIGMOID", "SOFTMAX", "TANH", "SGD", "ADAM",
    "softmax", "head_delta", "sgd_update", "optimizer_update", "optimizer_update_blocks",
    "dense_forward", "bias_gradient", "output_loss",
    "propagate_delta", "weight_gradient",
    "forward_pass", "gradient_pass", "inputs_sample_major", "network_loss", "row_length",
    "train_full_batch", "train_minibatch",
    "FORWARD", "STEP", "EVALUATE", "serve_layout", "MAX_HELPERS", "lead", "serve_jobs",
    "Net", "Blocks", "Team", "Settings", "Validation", "Optimizer", "OptimizerState",
]
