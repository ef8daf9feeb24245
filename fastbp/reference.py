"""The pure-NumPy reference: the same math as the kernels, written the way the tutorial writes it.

It is the correctness oracle for every kernel (tests compare against it) and the ``"numpy"``
engine of :class:`fastbp.NeuralNetwork`.  Arrays are sample-major as in the tutorial: a layer's
activations are ``(N, features)``.  Every function keeps its inputs' dtype (float32 stays float32).

Hidden activations (``ACTIVATIONS``): relu, leaky_relu (slope 0.01 below zero), tanh, sigmoid,
identity.  Output heads (``HEADS``), each a final activation and the loss it is paired with:

* ``"sigmoid"``: binary cross-entropy, mean over all N x K outputs, from the logits
  ``max(z, 0) - z y + log(1 + exp(-|z|))``; output delta ``(a - y) / y.size``;
* ``"softmax"``: categorical cross-entropy, mean over the N samples,
  ``logsumexp(z) - sum(y z)``; output delta ``(a - y) / N``;
* ``"identity"``: mean squared error over all outputs; output delta ``2 (z - y) / y.size``.

Two modes for the sigmoid head, as in :class:`fastbp.NeuralNetwork`: exact (``tutorial=False``,
bias gradient ``delta.sum(axis=0)``) and the tutorial's update rule (``tutorial=True``: output
delta ``bce_derivative(y, a) * sigmoid_derivative(z)``, bias gradient ``delta.mean(axis=0)``, its
clipped loss).

Optimizers (:func:`optimizer_update`) follow ``torch.optim.SGD`` (momentum, nesterov) and
``torch.optim.Adam``, with weight decay added to the gradient of the weights only.

``fastbp.NeuralNetwork(..., backend="numpy")`` is the full network API running on this module;
this module imports nothing from fastbp (it judges the rest).
"""
import numpy as np

BCE_EPS = 1e-15
LEAKY_SLOPE = 0.01


# -- activations ------------------------------------------------------------------------------

def relu(z):
    return np.maximum(0, z)


def relu_derivative(z):
    return (z > 0).astype(z.dtype)


def leaky_relu(z):
    return np.where(z > 0, z, z * z.dtype.type(LEAKY_SLOPE))


def sigmoid(z):
    with np.errstate(over="ignore"):  # float32: exp(>88) is inf, and 1 / (1 + inf) = 0 is right
        return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


def tanh(z):
    return np.tanh(z)


def identity(z):
    return z


def softmax(z):
    """Row-wise softmax (each sample's outputs), shifted by the row's maximum."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {"relu": relu, "leaky_relu": leaky_relu, "tanh": tanh, "sigmoid": sigmoid,
               "identity": identity}
HEADS = {"sigmoid": sigmoid, "softmax": softmax, "identity": identity}


def activation_derivative(name, z, a):
    """f'(z) of hidden activation ``name`` at pre-activation z (activation a = f(z))."""
    one = z.dtype.type(1)
    if name == "relu":
        return relu_derivative(z)
    if name == "leaky_relu":
        return np.where(z > 0, one, z.dtype.type(LEAKY_SLOPE))
    if name == "tanh":
        return one - a * a
    if name == "sigmoid":
        return a * (one - a)
    return np.ones_like(z)  # identity


def _hidden_names(hidden, n_layers):
    return [hidden] * (n_layers - 1) if isinstance(hidden, str) else list(hidden)


# -- the network ------------------------------------------------------------------------------

def forward(weights, biases, X, hidden="relu", head="sigmoid"):
    """Returns (activations [X, a1, ..., aL], pre_activations [z1, ..., zL]).

    ``hidden``: the hidden layers' activation, or a list with one per hidden layer.
    """
    names = _hidden_names(hidden, len(weights))
    activations, pre_activations = [X], []
    for i, (W, b) in enumerate(zip(weights, biases)):
        z = activations[-1] @ W + b
        pre_activations.append(z)
        f = HEADS[head] if i == len(weights) - 1 else ACTIVATIONS[names[i]]
        activations.append(f(z))
    return activations, pre_activations


def bce_clip_bounds(dtype):
    """The tutorial's clip range [eps, 1 - eps] in ``dtype``, kept strictly below 1 (float32)."""
    dtype = np.dtype(dtype)
    lo = dtype.type(BCE_EPS)
    hi = dtype.type(1 - BCE_EPS)
    if hi == 1:
        hi = np.nextafter(dtype.type(1), dtype.type(0))
    return lo, hi


def loss(z, a, y, tutorial=False, head="sigmoid"):
    """Mean loss of the output layer (pre-activation z, activation a) against y."""
    if head == "softmax":
        z64, y64 = z.astype(np.float64), y.astype(np.float64)
        top = z64.max(axis=1, keepdims=True)
        logsumexp = top[:, 0] + np.log(np.exp(z64 - top).sum(axis=1))
        return float(np.mean(y64.sum(axis=1) * logsumexp - (y64 * z64).sum(axis=1)))
    if head == "identity":
        return float(np.mean((z.astype(np.float64) - y) ** 2))
    if tutorial:
        lo, hi = bce_clip_bounds(a.dtype)
        a = np.clip(a, lo, hi)
        per_element = -(y * np.log(a) + (1 - y) * np.log(1 - a))
    else:
        per_element = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(np.mean(per_element, dtype=np.float64))


def accuracy(a, y, head="sigmoid"):
    """Sigmoid: the fraction of outputs where (a > 0.5) equals the label, as the tutorial
    measures it; softmax: the fraction of samples whose largest output is the target's largest;
    identity: 0 (regression has no accuracy)."""
    if head == "softmax":
        return float((a.argmax(axis=1) == y.argmax(axis=1)).mean())
    if head == "identity":
        return 0.0
    return float(((a > 0.5) == y).mean())


def output_delta(z, a, y, tutorial=False, head="sigmoid"):
    """dLoss/dz of the output layer."""
    if head == "softmax":
        return (a - y) / len(y)
    if head == "identity":
        return 2 * (a - y) / y.size
    if tutorial:
        lo, hi = bce_clip_bounds(a.dtype)
        clipped = np.clip(a, lo, hi)
        bce_grad = -(y / clipped - (1 - y) / (1 - clipped)) / len(y)
        return bce_grad * (a * (1 - a))
    return (a - y) / y.size


def propagate_delta(W, delta, z_prev, a_prev=None, activation="relu"):
    """The previous layer's delta: (delta @ W.T) * f'(z_prev)."""
    return (delta @ W.T) * activation_derivative(activation, z_prev, a_prev)


def bias_gradient(delta, tutorial=False):
    """db of one layer: delta summed over the batch (exact) or averaged (the tutorial's rule)."""
    return delta.mean(axis=0) if tutorial else delta.sum(axis=0)


def weight_gradient(a_in, delta, tutorial=False):
    """(dW, db) of one layer: a_in.T @ delta, and its bias_gradient."""
    return a_in.T @ delta, bias_gradient(delta, tutorial)


def backward(weights, activations, pre_activations, y, tutorial=False, hidden="relu",
             head="sigmoid"):
    """Step direction of every layer from a stored forward pass: (list of dW, list of db)."""
    names = _hidden_names(hidden, len(weights))
    delta = output_delta(pre_activations[-1], activations[-1], y, tutorial, head)
    dWs, dbs = [None] * len(weights), [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        dWs[i], dbs[i] = weight_gradient(activations[i], delta, tutorial)
        if i > 0:
            delta = propagate_delta(weights[i], delta, pre_activations[i - 1], activations[i],
                                    names[i - 1])
    return dWs, dbs


# -- updates ----------------------------------------------------------------------------------

def sgd_update(params, grads, lr):
    """params -= lr * grads in place; returns False (and leaves params unchanged) if that is not finite."""
    updated = params - params.dtype.type(lr) * grads
    if not np.all(np.isfinite(updated)):
        return False
    params[...] = updated
    return True


def optimizer_update(params, grads, lr, state, t, *, optimizer="sgd", momentum=0.0,
                     nesterov=False, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decay=None):
    """One step ``t`` (from 1) of ``optimizer`` in place, as torch.optim computes it; ``state``:
    dict of buffers ({} at first).  ``decay``: 1 for weights, 0 for biases (weight decay applies
    to weights only).  Returns False, leaving params and state unchanged, if the step would not
    be finite."""
    one = params.dtype.type(1)
    g = grads + params.dtype.type(weight_decay) * (decay if decay is not None else one) * params
    new_state = {}
    if optimizer == "sgd":
        if momentum:
            mu = params.dtype.type(momentum)
            buf = g.copy() if t == 1 else mu * state["velocity"] + g
            new_state["velocity"] = buf
            g = g + mu * buf if nesterov else buf
        updated = params - params.dtype.type(lr) * g
    else:  # adam
        b1, b2 = (params.dtype.type(b) for b in betas)
        m = state.get("m", np.zeros_like(params))
        v = state.get("v", np.zeros_like(params))
        m = m + (one - b1) * (g - m)
        v = b2 * v + (one - b2) * g * g
        new_state.update(m=m, v=v)
        size = params.dtype.type(lr / (1 - betas[0] ** t))
        root = params.dtype.type(np.sqrt(1 - betas[1] ** t))
        updated = params - size * (m / (np.sqrt(v) / root + params.dtype.type(eps)))
    if not np.all(np.isfinite(updated)):
        return False
    params[...] = updated
    state.update(new_state)
    return True
