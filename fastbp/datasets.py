"""The tutorial's two datasets, each from its own RandomState (the global state is never touched).

For seed 42 both return exactly the tutorial's arrays: X float64 (N, 2), y float64 (N, 1).
``seed`` may also be a ``np.random.RandomState``, which is then advanced: passing the same one on to
``NeuralNetwork(..., seed=random_state)`` reproduces the tutorial's global-state sequence
(data first, then weights) without touching NumPy's global state.
"""
from __future__ import annotations

import numpy as np


def _random_state(seed: int | np.random.RandomState | None) -> np.random.RandomState:
    return seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)


def make_circle(n_samples: int = 500,
                seed: int | np.random.RandomState | None = 42) -> tuple[np.ndarray, np.ndarray]:
    """Points from a standard normal; label 1 inside the circle x0^2 + x1^2 < 1.5.

    Parameters
    ----------
    n_samples : int, default 500
        The number of points.
    seed : int, numpy.random.RandomState or None, default 42
        Seeds a new RandomState; a RandomState is used (and advanced) as it is; None seeds
        one from the operating system.

    Returns
    -------
    X : numpy.ndarray of shape (n_samples, 2)
        float64 points.
    y : numpy.ndarray of shape (n_samples, 1)
        float64 labels, 1.0 inside the circle and 0.0 outside.
    """
    random = _random_state(seed)
    X = random.randn(n_samples, 2)
    y = ((X[:, 0] ** 2 + X[:, 1] ** 2) < 1.5).astype(float).reshape(-1, 1)
    return X, y


def make_spirals(n_per_class: int = 300, noise: float = 0.15,
                 seed: int | np.random.RandomState | None = 42,
                 n_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spirals (class 0, then class 1, ...), standardised per feature.

    Two classes (the tutorial's): y float64 (N, 1) of 0/1 labels.  More (``n_classes=3``: the
    demo's softmax network): each class's spiral turned by 2 pi / n_classes from the last, and y
    int64 (N,) class labels, as a softmax output takes them.

    Parameters
    ----------
    n_per_class : int, default 300
        The number of points per class.
    noise : float, default 0.15
        The standard deviation of the Gaussian noise added to each coordinate (before
        standardising).
    seed : int, numpy.random.RandomState or None, default 42
        Seeds a new RandomState; a RandomState is used (and advanced) as it is; None seeds
        one from the operating system.
    n_classes : int, default 2
        The number of classes (spirals), >= 2.

    Returns
    -------
    X : numpy.ndarray of shape (N, 2)
        float64 points, N = n_classes * n_per_class, each feature with mean 0 and standard
        deviation 1.
    y : numpy.ndarray of shape (N, 1) or (N,)
        The labels, in the order of X: float64 0.0/1.0 of shape (N, 1) for two classes, int64
        class labels of shape (N,) for more.

    Raises
    ------
    ValueError
        If ``n_classes`` is not an int >= 2.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    random = _random_state(seed)
    t = np.linspace(0, 3 * np.pi, n_per_class)
    arms = []
    for c in range(n_classes):
        turn = 2 * np.pi * c / n_classes  # 0 and pi for two classes, as the tutorial's
        x = t * np.cos(t + turn) + random.randn(n_per_class) * noise
        y = t * np.sin(t + turn) + random.randn(n_per_class) * noise
        arms.append(np.column_stack([x, y]))
    X = np.vstack(arms)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    if n_classes == 2:
        return X, labels.astype(float).reshape(-1, 1)
    return X, labels
