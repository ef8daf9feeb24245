"""The tutorial's own NumPy code, written out literally: the test oracle.

The code of "Learn AI Series (#39) - Neural Networks From Scratch - Backpropagation"
(``shared/tutorial/backpropagation-tutorial.txt``), verbatim -- including its known flaws, e.g.
the bias gradient ``delta.mean(axis=0)`` on top of ``bce_derivative`` already dividing by N, so the
bias step is divided by N twice.  ``fastbp`` in ``tutorial_compat=True`` mode must reproduce it
(up to float rounding); the tests in ``test_tutorial_compat.py`` compare ``fastbp`` against it.

Do NOT "fix" anything in here: it is the reference, not library code.

The tutorial's ``NeuralNetwork`` class and the helper functions it calls live in one place,
``fastbp/bench/tutorial_class.py`` (the bench times that same class; it imports nothing from
fastbp), and are re-exported here.  This module adds the rest of the tutorial's code that only
the tests use -- its ``gradient_check`` and ``train_network`` -- and wrappers around the
tutorial's top-level snippets, so that importing this module runs and prints nothing:

* ``tutorial_circle_data()`` -- the circle data generation (seed 42, N=500).
  It leaves NumPy's global random state exactly where the tutorial leaves it,
  because the tutorial then builds its network from that global state.
* ``tutorial_spiral_data()`` -- the two-spirals data (seed 42), standardised,
  likewise leaving the global random state as the tutorial does.
* ``print_sanity_checks(...)`` -- the tutorial's printed sanity checks (BCE
  values, bce_derivative signs, the sigmoid/ReLU derivative table), with the
  functions passed in so the same text can be produced with fastbp's.
"""

import numpy as np

from fastbp.bench.tutorial_class import (  # noqa: F401  (the tutorial's class and helpers)
    NeuralNetwork,
    bce_derivative,
    binary_cross_entropy,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
)

# ----------------------------------------------------------------------------
# Numerical gradient checking (the tutorial's version: prints, checks only a
# few entries of the first layer's weights, never the biases)
# ----------------------------------------------------------------------------

def gradient_check(nn, X, y, eps=1e-5):
    """Compare analytical gradients (backprop) to numerical gradients."""
    # Run forward + backward to get analytical gradients
    nn.forward(X)

    # We need to compute gradients without updating weights
    # Store current weights, run backward with lr=0, then restore
    m = len(y)
    delta = (bce_derivative(y, nn.activations[-1])
             * sigmoid_derivative(nn.pre_activations[-1]))

    # Compute analytical gradient for first layer weights
    analytical_dW0 = nn.activations[0].T @ delta
    for i in range(len(nn.weights) - 1, 0, -1):
        delta = (delta @ nn.weights[i].T) * relu_derivative(
            nn.pre_activations[i-1]
        )
        if i == 1:
            analytical_dW0 = nn.activations[0].T @ delta

    # Numerical gradient for first layer, a few elements
    W = nn.weights[0]
    print("Gradient check (first layer weights):")
    print(f"  {'Index':>8s}  {'Analytical':>12s}  {'Numerical':>12s}  {'Diff':>10s}")
    print("  " + "-" * 48)

    checks = [(0,0), (0,1), (1,0), (1,1), (0,2)]
    for idx in checks:
        if idx[0] < W.shape[0] and idx[1] < W.shape[1]:
            original = W[idx]

            W[idx] = original + eps
            loss_plus = binary_cross_entropy(y, nn.forward(X))

            W[idx] = original - eps
            loss_minus = binary_cross_entropy(y, nn.forward(X))

            W[idx] = original
            numerical = (loss_plus - loss_minus) / (2 * eps)

            ana = analytical_dW0[idx]
            diff = abs(ana - numerical)
            ok = "OK" if diff < 1e-4 else "MISMATCH!"
            print(f"  {str(idx):>8s}  {ana:>12.8f}  "
                  f"{numerical:>12.8f}  {diff:>10.2e} {ok}")


# ----------------------------------------------------------------------------
# The complete training pipeline
# ----------------------------------------------------------------------------

def train_network(nn, X, y, epochs=1000, lr=0.01, print_every=100):
    """Full training loop with loss and accuracy tracking."""
    history = {'loss': [], 'accuracy': []}

    for epoch in range(epochs):
        # Forward
        predictions = nn.forward(X)
        loss = binary_cross_entropy(y, predictions)

        # Backward
        nn.backward(y, lr=lr)

        # Track metrics
        acc = ((predictions > 0.5) == y).mean()
        history['loss'].append(loss)
        history['accuracy'].append(acc)

        if epoch % print_every == 0:
            print(f"  Epoch {epoch:>5d}: loss={loss:.4f}, acc={acc:.1%}")

    return history


# ----------------------------------------------------------------------------
# The tutorial's data sets (its top-level snippets, wrapped in functions)
# ----------------------------------------------------------------------------

def tutorial_circle_data():
    """The tutorial's circle data: "Generate circular decision boundary data".

    Seeds NumPy's GLOBAL random state with 42 and draws from it, exactly as
    the tutorial does; the global state is left where the tutorial leaves it,
    so ``NeuralNetwork([2, 16, 8, 1])`` right after this call gets the
    tutorial's initial weights.  Returns ``(X, y)`` with y of shape (500, 1).
    """
    np.random.seed(42)
    N = 500
    X = np.random.randn(N, 2)
    y = ((X[:, 0]**2 + X[:, 1]**2) < 1.5).astype(float).reshape(-1, 1)
    return X, y


def tutorial_spiral_data():
    """The tutorial's two interleaved spirals, normalised.

    Seeds NumPy's GLOBAL random state with 42 and draws from it, exactly as
    the tutorial does; the global state is left where the tutorial leaves it,
    so ``NeuralNetwork([2, 64, 32, 16, 1])`` right after this call gets the
    tutorial's spiral network.  Returns ``(X_spiral, y_spiral)``, y of shape
    (600, 1).
    """
    # A harder problem: two interleaved spirals
    np.random.seed(42)
    n_points = 300
    noise = 0.15

    # Spiral 1 (class 0)
    t1 = np.linspace(0, 3 * np.pi, n_points)
    x1 = t1 * np.cos(t1) + np.random.randn(n_points) * noise
    y1 = t1 * np.sin(t1) + np.random.randn(n_points) * noise

    # Spiral 2 (class 1)
    t2 = np.linspace(0, 3 * np.pi, n_points)
    x2 = t2 * np.cos(t2 + np.pi) + np.random.randn(n_points) * noise
    y2 = t2 * np.sin(t2 + np.pi) + np.random.randn(n_points) * noise

    X_spiral = np.vstack([
        np.column_stack([x1, y1]),
        np.column_stack([x2, y2])
    ])
    y_spiral = np.vstack([
        np.zeros((n_points, 1)),
        np.ones((n_points, 1))
    ])

    # Normalize inputs (helps training stability)
    X_spiral = (X_spiral - X_spiral.mean(axis=0)) / X_spiral.std(axis=0)
    return X_spiral, y_spiral


# ----------------------------------------------------------------------------
# The tutorial's printed sanity checks, with the functions passed in
# ----------------------------------------------------------------------------

def print_sanity_checks(binary_cross_entropy=binary_cross_entropy,
                        bce_derivative=bce_derivative,
                        sigmoid_derivative=sigmoid_derivative,
                        relu_derivative=relu_derivative):
    """Print the tutorial's sanity checks, verbatim, using the given functions.

    Called with no arguments it prints the tutorial's own output.
    """
    # Quick sanity check
    print("Loss when prediction matches label:")
    print(f"  y=1, pred=0.99: {binary_cross_entropy(np.array([1]), np.array([0.99])):.4f}")
    print(f"  y=0, pred=0.01: {binary_cross_entropy(np.array([0]), np.array([0.01])):.4f}")
    print("\nLoss when prediction is WRONG:")
    print(f"  y=1, pred=0.01: {binary_cross_entropy(np.array([1]), np.array([0.01])):.4f}")
    print(f"  y=0, pred=0.99: {binary_cross_entropy(np.array([0]), np.array([0.99])):.4f}")
    print("\nLoss when prediction is uncertain:")
    print(f"  y=1, pred=0.50: {binary_cross_entropy(np.array([1]), np.array([0.50])):.4f}")

    # Verify: derivative should point toward the correct answer
    print("Derivatives (negative = push prediction up, positive = push down):")
    print(f"  y=1, pred=0.2: {bce_derivative(np.array([[1]]), np.array([[0.2]]))[0,0]:.4f}  (should be negative)")
    print(f"  y=1, pred=0.9: {bce_derivative(np.array([[1]]), np.array([[0.9]]))[0,0]:.4f}  (small negative)")
    print(f"  y=0, pred=0.8: {bce_derivative(np.array([[0]]), np.array([[0.8]]))[0,0]:.4f}  (should be positive)")
    print(f"  y=0, pred=0.1: {bce_derivative(np.array([[0]]), np.array([[0.1]]))[0,0]:.4f}  (small positive)")

    # Compare the derivatives
    z_vals = np.array([-5, -2, -1, 0, 1, 2, 5])
    print(f"{'z':>5s}  {'sig_deriv':>10s}  {'relu_deriv':>11s}")
    print("-" * 30)
    for z in z_vals:
        sd = sigmoid_derivative(np.array([z]))[0]
        rd = relu_derivative(np.array([z]))[0]
        print(f"{z:>5.0f}  {sd:>10.6f}  {rd:>11.1f}")

    print(f"\nMax sigmoid derivative: {sigmoid_derivative(np.array([0]))[0]:.4f}")
    print("ReLU derivative for any z > 0: 1.0 (constant, never shrinks)")
