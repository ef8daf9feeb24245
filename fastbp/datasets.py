"""The tutorial's two datasets, each from its own RandomState (the global state is never touched).

For seed 42 both return exactly the tutorial's arrays: X float64 (N, 2), y float64 (N, 1).
``seed`` may also be a ``np.random.RandomState``, which is then advanced: passing the same one on to
``NeuralNetwork(..., seed=random_state)`` reproduces the tutorial's global-state sequence
(data first, then weights) without touching NumPy's global state.
"""
import numpy as np


def _random_state(seed):
    return seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)


def make_circle(n_samples=500, seed=42):
    """Points from a standard normal; label 1 inside the circle x0^2 + x1^2 < 1.5."""
    random = _random_state(seed)
    X = random.randn(n_samples, 2)
    y = ((X[:, 0] ** 2 + X[:, 1] ** 2) < 1.5).astype(float).reshape(-1, 1)
    return X, y


def make_spirals(n_per_class=300, noise=0.15, seed=42, n_classes=2):
    """Interleaved spirals (class 0, then class 1, ...), standardised per feature.

    Two classes (the tutorial's): y float64 (N, 1) of 0/1 labels.  More (``n_classes=3``: the
    demo's softmax network): each class's spiral turned by 2 pi / n_classes from the last, and y
    int64 (N,) class labels, as a softmax output takes them.
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
