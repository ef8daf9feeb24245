"""fastbp: fast backpropagation for dense networks -- Numba kernels behind the tutorial's API.

    import fastbp
    nn = fastbp.NeuralNetwork([2, 16, 8, 1])          # compiled kernels, exact gradients
    history = nn.fit(X, y, epochs=1000, lr=0.1)

``fastbp.reference`` is the pure-NumPy implementation of the same math (the correctness oracle);
``fastbp.datasets`` has the tutorial's data; the tutorial's helper functions and
``train_network`` are here under their tutorial names.
"""
from . import datasets, reference
from .gradcheck import GradientCheckResult, gradient_check
from .network import NeuralNetwork, TrainingDivergedError
from .parallel import get_num_threads, max_threads, set_num_threads, thread_report, threads
from .tutorial import (
    bce_derivative,
    binary_cross_entropy,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
    train_network,
)

__version__ = "0.1.0"

__all__ = [
    "NeuralNetwork", "TrainingDivergedError", "GradientCheckResult", "gradient_check",
    "train_network", "binary_cross_entropy", "bce_derivative", "sigmoid", "sigmoid_derivative",
    "relu", "relu_derivative", "datasets", "reference",
    "set_num_threads", "get_num_threads", "max_threads", "threads", "thread_report",
]
