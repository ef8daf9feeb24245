"""The tutorial's public helpers, with the tutorial's exact behaviour, and its ``train_network``.

These are kept for drop-in use: code written against the tutorial imports them from fastbp and
gets the same numbers (``relu_derivative`` still returns float64, as the tutorial's does).  The
networks themselves compute with :mod:`fastbp.reference` (dtype-preserving) or the kernels.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validation import check_count


def _same_shapes(y_true: ArrayLike, y_pred: ArrayLike) -> None:
    """The tutorial's helpers broadcast y_true against y_pred: (N,) against (N, 1) silently
    compares every sample with every other (an N x N mean).  Refuse that instead."""
    if np.shape(y_true) != np.shape(y_pred):
        raise ValueError(f"y_true and y_pred must have the same shape, got {np.shape(y_true)} and "
                         f"{np.shape(y_pred)} (reshape y_true, e.g. y_true.reshape(-1, 1))")


def binary_cross_entropy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Binary cross-entropy loss, clipped at 1e-15 as in the tutorial (same-shape arguments).

    Parameters
    ----------
    y_true : array-like
        Labels in [0, 1].
    y_pred : array-like
        Predicted probabilities, of the same shape as ``y_true``; clipped to
        [1e-15, 1 - 1e-15].

    Returns
    -------
    float
        The mean over all entries.

    Raises
    ------
    ValueError
        If ``y_true`` and ``y_pred`` differ in shape.
    """
    _same_shapes(y_true, y_pred)
    eps = 1e-15
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))


def bce_derivative(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """dL/d(y_pred) of the clipped BCE, divided by len(y_true) as in the tutorial.

    Parameters
    ----------
    y_true : array-like of shape (N, ...)
        Labels in [0, 1].
    y_pred : array-like of shape (N, ...)
        Predicted probabilities, of the same shape as ``y_true``; clipped to
        [1e-15, 1 - 1e-15].

    Returns
    -------
    numpy.ndarray
        The derivative, of the shape of ``y_pred``.

    Raises
    ------
    ValueError
        If ``y_true`` and ``y_pred`` differ in shape.
    """
    _same_shapes(y_true, y_pred)
    eps = 1e-15
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -(y_true / y_pred - (1 - y_true) / (1 - y_pred)) / len(y_true)


def sigmoid(z: ArrayLike) -> np.ndarray:
    """1 / (1 + exp(-z)), with z clipped to [-500, 500].

    Parameters
    ----------
    z : array-like
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        The elementwise sigmoid, of the shape of ``z`` (a NumPy scalar for a scalar).
    """
    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


def sigmoid_derivative(z: ArrayLike) -> np.ndarray:
    """s * (1 - s) with s = sigmoid(z).

    Parameters
    ----------
    z : array-like
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        The elementwise derivative, of the shape of ``z`` (a NumPy scalar for a scalar).
    """
    s = sigmoid(z)
    return s * (1 - s)


def relu(z: ArrayLike) -> np.ndarray:
    """max(0, z).

    Parameters
    ----------
    z : array-like
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        The elementwise maximum of 0 and ``z``, of the shape of ``z`` (a NumPy scalar for a
        scalar).
    """
    return np.maximum(0, z)


def relu_derivative(z: np.ndarray) -> np.ndarray:
    """1.0 where z > 0, else 0.0 (float64, as in the tutorial).

    Parameters
    ----------
    z : numpy.ndarray
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        float64, of the shape of ``z``.
    """
    return (z > 0).astype(float)


def train_network(nn: Any, X: ArrayLike, y: ArrayLike, epochs: int = 1000, lr: float = 0.01,
                  print_every: int = 100) -> dict[str, list[float]]:
    """The tutorial's training loop: full batch, prints every ``print_every`` epochs.

    Returns {'loss': [...], 'accuracy': [...]} with the loss and accuracy of the forward pass before
    each update -- the network's own loss: the stable BCE in exact mode, the tutorial's clipped BCE
    in tutorial mode.  A fastbp network runs ``print_every`` epochs per compiled call; any other
    object with the tutorial's ``forward``/``backward`` runs the tutorial's loop unchanged.

    Parameters
    ----------
    nn : NeuralNetwork or object
        A :class:`fastbp.NeuralNetwork` (anything with a ``fit`` method is trained through it),
        or any object with the tutorial's ``forward(X)`` and ``backward(y, lr=...)``.
    X : array-like of shape (N, n_inputs)
        Training inputs.
    y : array-like of shape (N, n_outputs)
        Targets, as ``nn`` takes them: for the tutorial's network, (N, 1) labels 0/1 (a fastbp
        network also accepts (N,)).
    epochs : int, default 1000
        The number of epochs, >= 0.
    lr : float, default 0.01
        The learning rate.
    print_every : int, default 100
        Print the loss and accuracy every this many epochs, >= 1.

    Returns
    -------
    dict of str to list of float
        ``"loss"`` and ``"accuracy"``, one entry per epoch.

    Raises
    ------
    TypeError
        If ``epochs`` or ``print_every`` is not an integer.
    ValueError
        If ``epochs`` is negative or ``print_every`` is below 1.
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


def _tutorial_loop(nn: Any, X: ArrayLike, y: ArrayLike, epochs: int, lr: float,
                   print_every: int) -> dict[str, list[float]]:
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
