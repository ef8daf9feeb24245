"""The tutorial's public helpers, with the tutorial's exact behaviour, and its ``train_network``.

These are kept for drop-in use: code written against the tutorial imports them from fastbp and
gets the same numbers (``relu_derivative`` still returns float64, as the tutorial's does).  The
networks themselves compute with :mod:`fastbp.reference` (dtype-preserving) or the kernels.
"""
import numpy as np

from ._validation import check_count


def _same_shapes(y_true, y_pred):
    """The tutorial's helpers broadcast y_true against y_pred: (N,) against (N, 1) silently
    compares every sample with every other (an N x N mean).  Refuse that instead."""
    if np.shape(y_true) != np.shape(y_pred):
        raise ValueError(f"y_true and y_pred must have the same shape, got {np.shape(y_true)} and "
                         f"{np.shape(y_pred)} (reshape y_true, e.g. y_true.reshape(-1, 1))")


def binary_cross_entropy(y_true, y_pred):
    """Binary cross-entropy loss, clipped at 1e-15 as in the tutorial (same-shape arguments)."""
    _same_shapes(y_true, y_pred)
    eps = 1e-15
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))


def bce_derivative(y_true, y_pred):
    """dL/d(y_pred) of the clipped BCE, divided by len(y_true) as in the tutorial."""
    _same_shapes(y_true, y_pred)
    eps = 1e-15
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -(y_true / y_pred - (1 - y_true) / (1 - y_pred)) / len(y_true)


def sigmoid(z):
    """1 / (1 + exp(-z)), with z clipped to [-500, 500]."""
    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


def sigmoid_derivative(z):
    """s * (1 - s) with s = sigmoid(z)."""
    s = sigmoid(z)
    return s * (1 - s)


def relu(z):
    """max(0, z)."""
    return np.maximum(0, z)


def relu_derivative(z):
    """1.0 where z > 0, else 0.0 (float64, as in the tutorial)."""
    return (z > 0).astype(float)


def train_network(nn, X, y, epochs=1000, lr=0.01, print_every=100):
    """The tutorial's training loop: full batch, prints every ``print_every`` epochs.

    Returns {'loss': [...], 'accuracy': [...]} with the loss and accuracy of the forward pass before
    each update -- the network's own loss: the stable BCE in exact mode, the tutorial's clipped BCE
    in tutorial mode.  A fastbp network runs ``print_every`` epochs per compiled call; any other
    object with the tutorial's ``forward``/``backward`` runs the tutorial's loop unchanged.
    """
    epochs = check_count(epochs, "epochs", 0)
    print_every = check_count(print_every, "print_every", 1)
    if not hasattr(nn, "fit"):
        return _tutorial_loop(nn, X, y, epochs, lr, print_every)
    history = {"loss": [], "accuracy": []}
    for start in range(0, epochs, print_every):
        chunk = nn.fit(X, y, epochs=min(print_every, epochs - start), lr=lr, shuffle=False)
        print(f"  Epoch {start:>5d}: loss={chunk['loss'][0]:.4f}, acc={chunk['accuracy'][0]:.1%}")
        history["loss"].extend(chunk["loss"])
        history["accuracy"].extend(chunk["accuracy"])
    return history


def _tutorial_loop(nn, X, y, epochs, lr, print_every):
    history = {"loss": [], "accuracy": []}
    for epoch in range(epochs):
        predictions = nn.forward(X)
        loss = binary_cross_entropy(y, predictions)
        nn.backward(y, lr=lr)
        acc = ((predictions > 0.5) == y).mean()
        history["loss"].append(loss)
        history["accuracy"].append(acc)
        if epoch % print_every == 0:
            print(f"  Epoch {epoch:>5d}: loss={loss:.4f}, acc={acc:.1%}")
    return history
