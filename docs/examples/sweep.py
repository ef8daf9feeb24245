"""The best of a seeds x learning-rates sweep on the tutorial's spirals, trained in one call by
fastbp.fit_many, beside the tutorial's single network (docs/sweeps.md).

The two decision boundaries go to the file named on the command line (python sweep.py
sweep.png), else to fastbp-sweep.png in the temporary directory (with matplotlib installed).
"""
import importlib.util
import os
import sys
import tempfile

import numpy as np

import fastbp

X, y = fastbp.datasets.make_spirals()
order = np.random.default_rng(0).permutation(len(X))
train, held_out = order[:480], order[480:]                 # 80% to train, 20% to choose with

configs = [dict(layer_sizes=[2, 64, 32, 16, 1], seed=seed, epochs=1000, lr=lr, optimizer=optimizer)
           for seed in range(4) for lr in (0.003, 0.01, 0.03) for optimizer in ("sgd", "adam")]
pairs = fastbp.fit_many(X[train], y[train], configs, validation_data=(X[held_out], y[held_out]))
scores = [history["val_accuracy"][-1] if isinstance(history, dict) else 0.0
          for _, history in pairs]
best = int(np.argmax(scores))
winner, _ = pairs[best]
print(f"{len(configs)} networks trained; best: seed {configs[best]['seed']}, "
      f"{configs[best]['optimizer']} lr {configs[best]['lr']}: held-out accuracy {scores[best]:.1%}")

# The tutorial's single network: its seed, SGD at lr 0.05 for 3000 epochs, on the same rows.
np.random.seed(42)
single = fastbp.NeuralNetwork([2, 64, 32, 16, 1])
single.fit(X[train], y[train], epochs=3000, lr=0.05)
print(f"the tutorial's single network: held-out accuracy "
      f"{single.score(X[held_out], y[held_out]):.1%}")

if importlib.util.find_spec("matplotlib") is not None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(X.min() - 0.5, X.max() + 0.5, 200)
    gx, gy = np.meshgrid(grid, grid)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, (title, nn) in zip(axes, [("the tutorial's network", single),
                                      ("best of the sweep", winner)]):
        p = nn.predict_proba(points)[:, 1].reshape(gx.shape)
        ax.contourf(gx, gy, p, levels=20, cmap="RdBu_r", alpha=0.6)
        labels = y.ravel().astype(int)
        for c, colour in ((0, "tab:blue"), (1, "tab:red")):
            ax.scatter(X[labels == c, 0], X[labels == c, 1], color=colour, s=6, label=f"class {c}")
        accuracy = nn.score(X[held_out], y[held_out])
        ax.set(title=f"{title}: held-out accuracy {accuracy:.1%}", aspect="equal")
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(),
                                                              "fastbp-sweep.png")
    fig.savefig(path, dpi=100)
    print(f"plot saved to {path}")
