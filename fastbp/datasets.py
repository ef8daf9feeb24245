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


def make_spirals(n_per_class=300, noise=0.15, seed=42):
    """Two interleaved spirals (class 0, then class 1), standardised per feature."""
    random = _random_state(seed)
    t = np.linspace(0, 3 * np.pi, n_per_class)
    x1 = t * np.cos(t) + random.randn(n_per_class) * noise
    y1 = t * np.sin(t) + random.randn(n_per_class) * noise
    x2 = t * np.cos(t + np.pi) + random.randn(n_per_class) * noise
    y2 = t * np.sin(t + np.pi) + random.randn(n_per_class) * noise
    X = np.vstack([np.column_stack([x1, y1]), np.column_stack([x2, y2])])
    y = np.vstack([np.zeros((n_per_class, 1)), np.ones((n_per_class, 1))])
    return (X - X.mean(axis=0)) / X.std(axis=0), y
