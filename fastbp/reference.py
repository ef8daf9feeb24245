"""The pure-NumPy reference: the same math as the kernels, written the way the tutorial writes it.

It is the correctness oracle for every kernel (tests compare against it) and the ``"numpy"``
engine of :class:`fastbp.NeuralNetwork`.  Arrays are sample-major as in the tutorial: a layer's
activations are ``(N, features)``.  Every function keeps its inputs' dtype (float32 stays float32).

Two modes, as in :class:`fastbp.NeuralNetwork`:

* exact (``tutorial=False``): the exact gradient of the mean binary cross-entropy,
  output delta ``(a - y) / y.size``, bias gradient ``delta.sum(axis=0)``, loss from the logits;
* tutorial (``tutorial=True``): the tutorial's update rule -- output delta
  ``bce_derivative(y, a) * sigmoid_derivative(z)`` and bias gradient ``delta.mean(axis=0)`` -- and
  its clipped loss.

``fastbp.NeuralNetwork(..., backend="numpy")`` is the full network API running on this module;
this module imports nothing from fastbp (it judges the rest).
"""
import numpy as np

BCE_EPS = 1e-15


def relu(z):
    return np.maximum(0, z)


def relu_derivative(z):
    return (z > 0).astype(z.dtype)


def sigmoid(z):
    with np.errstate(over="ignore"):  # float32: exp(>88) is inf, and 1 / (1 + inf) = 0 is right
        return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


def bce_clip_bounds(dtype):
    """The tutorial's clip range [eps, 1 - eps] in ``dtype``, kept strictly below 1 (float32)."""
    dtype = np.dtype(dtype)
    lo = dtype.type(BCE_EPS)
    hi = dtype.type(1 - BCE_EPS)
    if hi == 1:
        hi = np.nextafter(dtype.type(1), dtype.type(0))
    return lo, hi


def forward(weights, biases, X):
    """Returns (activations [X, a1, ..., aL], pre_activations [z1, ..., zL]); ReLU hidden, sigmoid out."""
    activations, pre_activations = [X], []
    for i, (W, b) in enumerate(zip(weights, biases)):
        z = activations[-1] @ W + b
        pre_activations.append(z)
        activations.append(relu(z) if i < len(weights) - 1 else sigmoid(z))
    return activations, pre_activations


def loss(z, a, y, tutorial=False):
    """Mean binary cross-entropy of the output layer (pre-activation z, activation a) against y."""
    if tutorial:
        lo, hi = bce_clip_bounds(a.dtype)
        a = np.clip(a, lo, hi)
        per_element = -(y * np.log(a) + (1 - y) * np.log(1 - a))
    else:
        per_element = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(np.mean(per_element, dtype=np.float64))


def accuracy(a, y):
    """Fraction of outputs where (a > 0.5) equals the label, as the tutorial measures it."""
    return float(((a > 0.5) == y).mean())


def output_delta(z, a, y, tutorial=False):
    """dLoss/dz of the output layer: exact (a - y) / y.size, or the tutorial's product."""
    if tutorial:
        lo, hi = bce_clip_bounds(a.dtype)
        clipped = np.clip(a, lo, hi)
        bce_grad = -(y / clipped - (1 - y) / (1 - clipped)) / len(y)
        return bce_grad * (a * (1 - a))
    return (a - y) / y.size


def propagate_delta(W, delta, z_prev):
    """The previous layer's delta: (delta @ W.T) * relu'(z_prev)."""
    return (delta @ W.T) * relu_derivative(z_prev)


def bias_gradient(delta, tutorial=False):
    """db of one layer: delta summed over the batch (exact) or averaged (the tutorial's rule)."""
    return delta.mean(axis=0) if tutorial else delta.sum(axis=0)


def weight_gradient(a_in, delta, tutorial=False):
    """(dW, db) of one layer: a_in.T @ delta, and its bias_gradient."""
    return a_in.T @ delta, bias_gradient(delta, tutorial)


def backward(weights, activations, pre_activations, y, tutorial=False):
    """Step direction of every layer from a stored forward pass: (list of dW, list of db)."""
    delta = output_delta(pre_activations[-1], activations[-1], y, tutorial)
    dWs, dbs = [None] * len(weights), [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        dWs[i], dbs[i] = weight_gradient(activations[i], delta, tutorial)
        if i > 0:
            delta = propagate_delta(weights[i], delta, pre_activations[i - 1])
    return dWs, dbs


def sgd_update(params, grads, lr):
    """params -= lr * grads in place; returns False (and leaves params unchanged) if that is not finite."""
    updated = params - params.dtype.type(lr) * grads
    if not np.all(np.isfinite(updated)):
        return False
    params[...] = updated
    return True

