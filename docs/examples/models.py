"""Beyond the tutorial's network: three classes with Adam and early stopping, a regression
curve, and L-BFGS on the tutorial's circle (docs/models.md)."""
import numpy as np

import fastbp

# Three interleaved spirals: softmax output, Adam, a held-out 20% with early stopping.
X, labels = fastbp.datasets.make_spirals(n_classes=3)
order = np.random.default_rng(0).permutation(len(X))      # the split takes the last 20%
X, labels = X[order], labels[order]
nn = fastbp.NeuralNetwork([2, 64, 32, 3], output="softmax", seed=0)
history = nn.fit(X, labels, epochs=3000, lr=0.01, optimizer="adam", validation_split=0.2,
                 early_stopping=True, patience=100)
print(f"3 spirals: {len(history['loss'])} epochs, validation accuracy "
      f"{max(history['val_accuracy']):.1%}")

# A regression curve: tanh hidden layers, identity output (mean squared error), R^2 score.
x = np.linspace(-3, 3, 200).reshape(-1, 1)
curve = fastbp.NeuralNetwork([1, 32, 32, 1], activation="tanh", output="identity", seed=0)
curve.fit(x, np.sin(2 * x).ravel(), epochs=2000, lr=0.01, optimizer="adam")
print(f"sin(2x): R^2 {curve.score(x, np.sin(2 * x).ravel()):.4f}")

# The tutorial's circle by L-BFGS: a few dozen iterations instead of thousands of SGD epochs.
Xc, yc = fastbp.datasets.make_circle()
circle = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
steps = circle.fit(Xc, yc, epochs=100, optimizer="lbfgs")
print(f"circle by L-BFGS: {len(steps['loss'])} iterations, accuracy {circle.score(Xc, yc):.1%}")
