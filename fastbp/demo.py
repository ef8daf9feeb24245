"""The main job: train the tutorial's circle and spiral networks, and three spirals with a softmax
output and Adam, on both engines, side by side.

    python -m fastbp demo [--dtype float64] [--repeats 3] [--plot demo.png]

For each network and mode (exact gradients, and the tutorial's update rule) it trains from the
tutorial's initial weights with the JIT engine and the NumPy reference, in interleaved rounds,
and prints accuracy, final loss, time per epoch (median of repeats, compilation excluded and
reported separately), the speedup taken round by round with its spread, and the largest
difference between the two engines' final weights.
"""
import importlib.util
import time
from dataclasses import dataclass

import numpy as np

from . import datasets
from .bench.rounds import Ratio
from .network import NeuralNetwork
from .workloads import DEMO_NETWORKS


@dataclass
class Run:
    """One engine's training of one network: final metrics, median seconds, final parameters."""

    accuracy: float
    loss: float
    seconds: float
    weights: list
    biases: list
    history: dict

    @property
    def params(self):
        """Every parameter in one 1-D array, W0, b0, W1, b1, ... (each flattened)."""
        return np.concatenate([p.ravel() for W, b in zip(self.weights, self.biases)
                               for p in (W, b)])


def _copies(arrays):
    return [np.array(a) for a in arrays]


def tutorial_setup(make_data, sizes, backend, dtype, tutorial_compat, model=None):
    """The tutorial's data and initial weights: one RandomState(42) drawn data-first, as its script."""
    random = np.random.RandomState(42)
    X, y = make_data(seed=random)
    nn = NeuralNetwork(list(sizes), backend=backend, dtype=dtype, tutorial_compat=tutorial_compat,
                       seed=random, **(model or {}))
    return nn, X, y


# Idle time before each engine's runs: OpenBLAS's threads spin ~0.1 s after a product, and
# spinning on the cores the next engine's training threads want they slowed it down (the
# measurement is in docs/decisions.md).
SETTLE_SECONDS = 0.3
CLASS_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"]


def train(network, dtype, tutorial_compat, repeats, backends=("numba", "numpy")):
    """Train on every backend in interleaved rounds -- numba, numpy, numba, numpy, ... -- each
    time from the same initial weights: {backend: Run (median time, the last run's results)}
    and {backend: [seconds per round]}."""
    make_data, sizes, epochs, lr = network.make_data, network.sizes, network.epochs, network.lr
    times = {backend: [] for backend in backends}
    last = {}
    for _ in range(repeats):
        for backend in backends:  # a new network each time: the same weights, a fresh optimizer
            nn, X, y = tutorial_setup(make_data, sizes, backend, dtype, tutorial_compat,
                                      network.model)
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            history = nn.fit(X, y, epochs=epochs, lr=lr, shuffle=False, **network.training)
            times[backend].append(time.perf_counter() - start)
            last[backend] = nn, X, y, history
    runs = {}
    for backend, (nn, X, y, history) in last.items():
        runs[backend] = Run(accuracy=nn.score(X, y), loss=nn.loss(X, y),
                            seconds=float(np.median(times[backend])),
                            weights=_copies(nn.weights), biases=_copies(nn.biases),
                            history=history)
    return runs, times


def compile_seconds(dtype, plot=False):
    """Time of the first calls, in this process, of what the demo runs -- full-batch ``fit``,
    ``loss`` and ``score``, and ``forward`` for the plot: their compilation, or a cache load
    when the disk cache is warm -- and of reading (or measuring) the CPU calibration."""
    from . import calibration

    X, y = datasets.make_circle(n_samples=8)
    nn = NeuralNetwork([2, 3, 1], dtype=dtype, seed=0)
    start = time.perf_counter()
    nn.fit(X, y, epochs=1, lr=0.1)
    nn.loss(X, y)
    nn.score(X, y)
    if plot:
        nn.forward(X)
    calibration.current(dtype)
    return time.perf_counter() - start


def run_demo(dtype="float64", repeats=3, plot=None):
    from .kernels import CACHE_ENABLED

    if plot and importlib.util.find_spec("matplotlib") is None:  # before a minute of training
        raise SystemExit("--plot needs matplotlib: pip install 'fastbp[plot]'")

    dtype = np.dtype(dtype)
    print(f"fastbp demo: the tutorial's networks (and three spirals by softmax + Adam), JIT "
          f"engine (numba) vs NumPy reference, {dtype}")
    print(f"compile + first calls (numba): {compile_seconds(dtype, plot=bool(plot)):.2f} s "
          f"(disk cache {'on' if CACHE_ENABLED else 'off'}; not included below)\n")
    header = (f"{'dataset':8s} {'network':18s} {'mode':9s} {'epochs':>6s}  {'engine':6s} "
              f"{'accuracy':>8s} {'loss':>8s} {'ms/epoch':>9s} {'speedup (IQR)':>20s} {'max|dW|':>9s}")
    print(header)
    print("-" * len(header))
    results = {}
    for network in DEMO_NETWORKS:
        name, sizes, epochs = network.name, network.sizes, network.epochs
        for mode in network.modes:
            tutorial_compat = mode == "tutorial"
            runs, times = train(network, dtype, tutorial_compat, repeats)
            speedup = Ratio.of(times["numpy"], times["numba"])
            results[name, mode] = runs
            jit, ref = runs["numba"], runs["numpy"]
            diff = float(np.max(np.abs(jit.params - ref.params)))
            shown = network.training.get("optimizer", mode) if mode == "exact" else mode
            for backend, run in runs.items():
                first = backend == "numba"
                print(f"{name if first else '':8s} {str(list(sizes)) if first else '':18s} "
                      f"{shown if first else '':9s} {epochs if first else '':>6}  {backend:6s} "
                      f"{run.accuracy:>8.1%} {run.loss:>8.4f} {1e3 * run.seconds / epochs:>9.4f} "
                      + (f"{speedup.text(1):>20s} {diff:>9.1e}" if first else ""))
    print(f"\nms/epoch: median of {repeats} runs, the engines interleaved (numba, numpy, numba, "
          "...); speedup = reference time / JIT time, round by round: median (25th-75th "
          "percentile), '?' when that spread exceeds 10% (a noisy machine: rerun); max|dW| = "
          "largest difference between the two engines' final parameters.")
    print("exact = exact gradients (fastbp's default); tutorial = tutorial_compat=True, the "
          "tutorial's update rule (bias gradient divided by N twice); adam = exact gradients, "
          "Adam, softmax output (3 classes).")
    if plot:
        save_plot(results, plot)
    return results


def save_plot(results, path):
    """Loss curves of both modes and the exact-mode decision boundary of each network (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(DEMO_NETWORKS), figsize=(5 * len(DEMO_NETWORKS), 9))
    for column, network in enumerate(DEMO_NETWORKS):
        name, sizes = network.name, network.sizes
        ax = axes[0, column]
        for mode in network.modes:
            ax.plot(results[name, mode]["numba"].history["loss"], label=f"{mode} (numba)")
        ax.set(title=f"{name} {list(sizes)}: training loss", xlabel="epoch", ylabel="loss",
               yscale="log")
        ax.legend()
        nn, X, y = tutorial_setup(network.make_data, sizes, "numba", np.float64, False,
                                  network.model)
        trained = results[name, "exact"]["numba"]
        nn.weights, nn.biases = trained.weights, trained.biases
        grid = np.linspace(X.min() - 0.5, X.max() + 0.5, 300)
        gx, gy = np.meshgrid(grid, grid)
        points = np.column_stack([gx.ravel(), gy.ravel()])
        labels = np.ravel(y).astype(int)  # each sample's class
        ax = axes[1, column]
        if nn.output == "softmax":  # the predicted class's region, in its class's colour
            colours = CLASS_COLOURS[:nn.n_outputs]
            regions = nn.predict(points).reshape(gx.shape)
            ax.contourf(gx, gy, regions, levels=np.arange(nn.n_outputs + 1) - 0.5,
                        cmap=matplotlib.colors.ListedColormap(colours), alpha=0.3)
        else:  # P(class 1), from class 0's blue to class 1's red
            colours = ["tab:blue", "tab:red"]
            p = nn.forward(points, record=False)[:, 0].reshape(gx.shape)
            ax.contourf(gx, gy, p, levels=20, cmap="RdBu_r", alpha=0.6)
        for c in np.unique(labels):
            ax.scatter(X[labels == c, 0], X[labels == c, 1], color=colours[c], s=8,
                       edgecolors="white", linewidths=0.3, label=f"class {c}")
        ax.legend(loc="upper right", fontsize=7)
        ax.set(title=f"{name}: decision regions (exact gradients)", aspect="equal")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nplot saved to {path}")
