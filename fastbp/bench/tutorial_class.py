"""The tutorial's NumPy network, verbatim: the bench's speed baseline and the tests' oracle.

The code of "Learn AI Series (#39) - Neural Networks From Scratch - Backpropagation"
(``shared/tutorial/backpropagation-tutorial.txt``): its ``NeuralNetwork`` class and the helper
functions that class calls, copied line for line -- including its known flaws (``relu_derivative``
casts to float64; the bias gradient ``delta.mean(axis=0)`` comes on top of ``bce_derivative``
already dividing by N, so the bias step is divided by N twice).  Both are part of what the bench
measures and of what ``tutorial_compat=True`` must reproduce.

Do NOT "fix" anything here: this is the yardstick, not library code.  It imports nothing from
fastbp (it judges fastbp: ``fastbp.tutorial``'s helpers are tested against these), and it is the
only copy of the class: ``python -m fastbp bench`` times it and ``tests/tutorial_oracle.py``
re-exports it.
"""

import numpy as np

# ----------------------------------------------------------------------------
# The loss function: what are we minimizing?
# ----------------------------------------------------------------------------

def binary_cross_entropy(y_true, y_pred):
    """Binary cross-entropy loss. Same as episode #12."""
    eps = 1e-15  # prevent log(0)
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -np.mean(
        y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred)
    )


def bce_derivative(y_true, y_pred):
    """Derivative of BCE with respect to predictions.
    Returns dL/d(y_pred) for each sample."""
    eps = 1e-15
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -(y_true / y_pred - (1 - y_true) / (1 - y_pred)) / len(y_true)


# ----------------------------------------------------------------------------
# Activation function derivatives
# ----------------------------------------------------------------------------

def sigmoid(z):
    """Sigmoid activation: squishes to (0, 1)."""
    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


def sigmoid_derivative(z):
    """Derivative of sigmoid: s * (1 - s).
    Maximum value is 0.25 (at z=0), approaches 0 at extremes."""
    s = sigmoid(z)
    return s * (1 - s)


def relu(z):
    """ReLU: max(0, z). The modern default for hidden layers."""
    return np.maximum(0, z)


def relu_derivative(z):
    """Derivative of ReLU: 1 if z > 0, else 0.
    Gradient flows through unchanged for positive inputs."""
    return (z > 0).astype(float)


# ----------------------------------------------------------------------------
# Implementing the backward pass
# ----------------------------------------------------------------------------

class NeuralNetwork:
    def __init__(self, layer_sizes):
        """Initialize network with He initialization.
        layer_sizes: e.g. [2, 16, 8, 1] for 2 inputs, two hidden, 1 output."""
        self.weights = []
        self.biases = []
        for i in range(len(layer_sizes) - 1):
            scale = np.sqrt(2.0 / layer_sizes[i])  # He init for ReLU
            self.weights.append(
                np.random.randn(layer_sizes[i], layer_sizes[i+1]) * scale
            )
            self.biases.append(np.zeros(layer_sizes[i+1]))

    def forward(self, X):
        """Forward pass: store activations and pre-activations
        for backpropagation (same as episode #38)."""
        self.activations = [X]
        self.pre_activations = []
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = self.activations[-1] @ W + b
            self.pre_activations.append(z)
            if i < len(self.weights) - 1:
                a = relu(z)         # hidden layers: ReLU
            else:
                a = sigmoid(z)      # output layer: sigmoid
            self.activations.append(a)
        return self.activations[-1]

    def backward(self, y_true, lr=0.01):
        """Backward pass: compute gradients and update weights."""
        m = len(y_true)

        # Step 1: output layer error signal
        # delta = dL/dz for the output layer
        # This combines the loss derivative and the sigmoid derivative
        delta = (bce_derivative(y_true, self.activations[-1])
                 * sigmoid_derivative(self.pre_activations[-1]))

        # Step 2: propagate backward through each layer
        for i in range(len(self.weights) - 1, -1, -1):
            # Weight gradient: how each weight contributed to the error
            dW = self.activations[i].T @ delta

            # Bias gradient: average error signal across the batch
            db = delta.mean(axis=0)

            # Propagate error to previous layer (if not at input)
            if i > 0:
                delta = ((delta @ self.weights[i].T)
                         * relu_derivative(self.pre_activations[i-1]))

            # Update weights and biases
            self.weights[i] -= lr * dW
            self.biases[i] -= lr * db
