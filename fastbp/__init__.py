"""fastbp: fast backpropagation for dense networks -- Numba kernels behind the tutorial's API.

    import fastbp
    nn = fastbp.NeuralNetwork([2, 16, 8, 1])          # compiled kernels, exact gradients
    history = nn.fit(X, y, epochs=1000, lr=0.1)

``fastbp.reference`` is the pure-NumPy implementation of the same math (the correctness oracle);
``fastbp.datasets`` has the tutorial's data; the tutorial's helper functions and
``train_network`` are here under their tutorial names.
"""
import importlib.metadata as _metadata
import os as _os

if not _os.path.isdir(_os.path.join(__path__[0], "kernels")):
    # A source checkout (e.g. `python -m fastbp` run from the repository root): kernels/ sits
    # beside fastbp/, and setuptools only moves it into the package at install time.  Let
    # `fastbp.kernels` resolve to it there too; an installed fastbp never takes this branch.
    __path__.append(_os.path.dirname(__path__[0]))

from . import compilation, datasets, policy, reference  # noqa: E402, F401
from .errors import CompileCacheWarning  # noqa: E402
from .gradcheck import GradientCheckResult, gradient_check  # noqa: E402
from .network import NeuralNetwork, TrainingDivergedError
from .sweep import fit_many
from .threadctl import get_num_threads, max_threads, set_num_threads, thread_report, threads
from .tutorial import (
    bce_derivative,
    binary_cross_entropy,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
    train_network,
)

try:  # the version lives in pyproject.toml only
    __version__ = _metadata.version("fastbp")
except _metadata.PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "NeuralNetwork", "TrainingDivergedError", "CompileCacheWarning", "fit_many",
    "GradientCheckResult", "gradient_check",
    "train_network", "binary_cross_entropy", "bce_derivative", "sigmoid", "sigmoid_derivative",
    "relu", "relu_derivative", "datasets", "reference", "policy",
    "set_num_threads", "get_num_threads", "max_threads", "threads", "thread_report",
]
