"""Input checks for the API layer: every bad input gets a clear error before anything changes."""
import math
import numbers

import numpy as np

from .kernels import finite_and_within

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_layer_sizes(layer_sizes):
    """A tuple of at least two positive Python ints."""
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(f"layer_sizes must be a sequence of integers, got {layer_sizes!r}")
    sizes = list(layer_sizes)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"layer_sizes must contain integers, got {size!r} in {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes!r}")
    if any(size <= 0 for size in sizes):
        raise ValueError(f"layer sizes must be positive, got {sizes!r}")
    return tuple(int(size) for size in sizes)


def check_dtype(dtype):
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if resolved not in SUPPORTED_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr must be a real number, got {lr!r}")
    try:
        finite = math.isfinite(lr)
    except OverflowError:  # an int beyond float range, such as 10**400
        finite = False
    if not finite or lr < 0:
        raise ValueError(f"lr must be finite and >= 0, got {lr!r}")
    return float(lr)


def check_count(value, name, minimum):
    """An integer >= minimum (epochs, batch_size, print_every)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _numeric_array(values, name):
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
    return array


def _check_values(array, name, low=-math.inf, high=math.inf):
    """``array``: 2-D, C-contiguous, float32/float64: finite, and within [low, high] (one compiled
    pass, no temporary of its size)."""
    finite, within = finite_and_within(array, low, high)
    if not finite:
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return within


def check_X(X, n_features, dtype):
    """X as a C-contiguous (N, n_features) array of ``dtype``."""
    array = _numeric_array(X, "X")
    if array.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError("X is empty: it has no samples")
    if array.shape[1] != n_features:
        raise ValueError(
            f"X has {array.shape[1]} feature(s) per sample but the network's input layer has "
            f"{n_features}")
    array = np.ascontiguousarray(array, dtype=dtype)
    _check_values(array, "X")
    return array


def check_y(y, n_samples, n_outputs, dtype):
    """y as a C-contiguous (N, n_outputs) array of ``dtype`` with values in [0, 1]."""
    array = _numeric_array(y, "y")
    if array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != n_outputs:
        raise ValueError(
            f"y must have shape ({n_samples}, {n_outputs})"
            + (f" or ({n_samples},)" if n_outputs == 1 else "")
            + f" (one column per output), got shape {np.shape(y)}")
    if array.shape[0] != n_samples:
        raise ValueError(f"y has {array.shape[0]} row(s) but X has {n_samples} sample(s)")
    array = np.ascontiguousarray(array, dtype=dtype)
    if not _check_values(array, "y", 0.0, 1.0):
        raise ValueError("labels in y must lie in [0, 1] (binary cross-entropy targets)")
    return array


def check_targets(y, n_samples, n_outputs, dtype, head):
    """y as a C-contiguous (N, n_outputs) array of ``dtype``, as the head needs it:

    * ``"sigmoid"``: labels in [0, 1] (see check_y);
    * ``"softmax"``: integer class labels (N,) in [0, n_outputs), made one-hot; or (N, K) rows of
      probabilities (each in [0, 1], summing to 1);
    * ``"identity"``: any finite values, (N,) for one output.
    """
    if head == "sigmoid":
        return check_y(y, n_samples, n_outputs, dtype)
    array = _numeric_array(y, "y")
    if head == "softmax" and array.ndim == 1:
        if array.shape[0] != n_samples:
            raise ValueError(f"y has {array.shape[0]} label(s) but X has {n_samples} sample(s)")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError("y contains NaN or infinite labels")
        labels = array.astype(np.int64)
        if np.any(labels != array):
            raise ValueError("class labels in y must be whole numbers (0, 1, ..., K-1)")
        bad = (labels < 0) | (labels >= n_outputs)
        if np.any(bad):
            raise ValueError(f"class labels in y must lie in [0, {n_outputs}) for a softmax of "
                             f"{n_outputs} outputs; got {labels[bad][0]}")
        one_hot = np.zeros((n_samples, n_outputs), dtype=dtype)
        one_hot[np.arange(n_samples), labels] = 1
        return one_hot
    if array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != n_outputs:
        expected = (f"({n_samples},) class labels or ({n_samples}, {n_outputs}) probability rows"
                    if head == "softmax" else
                    f"({n_samples}, {n_outputs})" + (f" or ({n_samples},)" if n_outputs == 1 else ""))
        raise ValueError(f"y must have shape {expected}, got shape {np.shape(y)}")
    if array.shape[0] != n_samples:
        raise ValueError(f"y has {array.shape[0]} row(s) but X has {n_samples} sample(s)")
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=dtype)
    if head == "identity":
        _check_values(array, "y")
        return array
    if not _check_values(array, "y", 0.0, 1.0):
        raise ValueError("probability rows in y must lie in [0, 1]")
    tolerance = 1e-4 if array.dtype == np.float32 else 1e-8
    if not np.allclose(array.sum(axis=1), 1.0, rtol=0, atol=tolerance):
        raise ValueError("each row of y must sum to 1 (class probabilities or one-hot)")
    return array


ACTIVATION_NAMES = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")
ACTIVATION_ALIASES = {"logistic": "sigmoid"}
OUTPUT_NAMES = ("sigmoid", "softmax", "identity")


def check_activations(activation, n_hidden):
    """One activation name per hidden layer, from a name or a list of names."""
    names = [activation] * n_hidden if isinstance(activation, str) else activation
    if isinstance(names, (bytes, dict)) or not hasattr(names, "__len__"):
        raise TypeError(f"activation must be a name or a list of names, got {activation!r}")
    names = list(names)
    if len(names) != n_hidden:
        raise ValueError(f"activation lists {len(names)} name(s) but the network has {n_hidden} "
                         f"hidden layer(s)")
    resolved = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"activation names must be strings, got {name!r}")
        name = ACTIVATION_ALIASES.get(name, name)
        if name not in ACTIVATION_NAMES:
            raise ValueError(f"unknown activation {name!r}; choose one of "
                             f"{list(ACTIVATION_NAMES) + list(ACTIVATION_ALIASES)}")
        resolved.append(name)
    return resolved


def check_output(output, n_outputs):
    if not isinstance(output, str):
        raise TypeError(f"output must be a string, one of {list(OUTPUT_NAMES)}; got {output!r}")
    output = ACTIVATION_ALIASES.get(output, output)
    if output not in OUTPUT_NAMES:
        raise ValueError(f"unknown output {output!r}; choose one of {list(OUTPUT_NAMES)}")
    if output == "softmax" and n_outputs < 2:
        raise ValueError("a softmax output needs at least 2 outputs (use output='sigmoid' for one)")
    return output
