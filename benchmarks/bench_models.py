"""Beyond the tutorial's model, on the compiled engine: optimizers, heads, L-BFGS.

* ``OptimizerStep.time_fit``: the circle (W1), the spirals (W2) and an epoch of mini-batch SGD
  (W5) trained by plain SGD and by Adam, the same epochs: Adam's step beside SGD's.
* ``AdamOverSgd.track_ratio``: Adam's time / SGD's time of the same fit, measured in one process,
  interleaved (targets: <= 1.3x on the circle, <= 1.15x on the spirals and the mini-batch epoch).
* ``Heads.time_fit``: one network shape ([2, 64, 32, 3], three spirals, 300 epochs) with a
  sigmoid (3 independent outputs), softmax or identity head.
* ``Activations.time_fit``: the tutorial's circle (W1's network and data, 1000 epochs) with each
  hidden activation -- the sigmoid and tanh passes are vectorised exp and tanh (kernels/vecmath).
* ``LBFGS.time_fit`` / ``track_loss``: L-BFGS on the tutorial's circle, 100 iterations at most.

Commits before the models (no ``optimizer`` option) show these as n/a.
"""
import numpy as np

import fastbp

from . import common

_OPTIMIZER_WORKLOADS = ["circle", "spirals", "minibatch"]
_ADAM_LR = 0.001


def _require_models():
    common.require_network("optimizer")
    common.require_constructor("output", "activation")


def _workload_fit(workload, optimizer):
    w = common.WORKLOADS[workload]
    dtype = "float32" if workload == "minibatch" else "float64"
    X, y = w.data(dtype)
    options = w.fit_options()
    if workload == "spirals":
        options["epochs"] = min(options["epochs"], 500)
    options["optimizer"] = optimizer
    if optimizer == "adam":
        options["lr"] = _ADAM_LR
    return w, dtype, X, y, options


class OptimizerStep:
    params = (_OPTIMIZER_WORKLOADS, ["sgd", "adam"])
    param_names = ["workload", "optimizer"]
    number = 1
    warmup_time = 0
    repeat = (2, 5, 40.0)
    timeout = 600

    def setup(self, workload, optimizer):
        _require_models()
        w, dtype, self.X, self.y, self.options = _workload_fit(workload, optimizer)
        w.warm_up("numba", dtype)
        common.make_network(w.sizes, "numba", dtype).fit(
            self.X[:256], self.y[:256], **dict(self.options, epochs=1))  # Adam's path too
        self.nn = common.make_network(w.sizes, "numba", dtype)

    def time_fit(self, workload, optimizer):
        self.nn.fit(self.X, self.y, **self.options)


class AdamOverSgd:
    """Adam's median fit time / plain SGD's, both in this process, interleaved (x; lower is
    better)."""

    params = _OPTIMIZER_WORKLOADS
    param_names = ["workload"]
    unit = "x"
    timeout = 900

    def setup(self, workload):
        _require_models()

    def track_ratio(self, workload):
        import time

        runs = {}
        for optimizer in ("sgd", "adam"):
            w, dtype, X, y, options = _workload_fit(workload, optimizer)
            w.warm_up("numba", dtype)
            common.make_network(w.sizes, "numba", dtype).fit(X[:256], y[:256],
                                                             **dict(options, epochs=1))
            runs[optimizer] = (w, dtype, X, y, options)
        rounds = 3 if common.slow_skipped() else 7
        times = {"sgd": [], "adam": []}
        for _ in range(rounds):
            for optimizer, (w, dtype, X, y, options) in runs.items():
                nn = common.make_network(w.sizes, "numba", dtype)
                start = time.perf_counter()
                nn.fit(X, y, **options)
                times[optimizer].append(time.perf_counter() - start)
        return float(np.median(times["adam"]) / np.median(times["sgd"]))


class Heads:
    params = ["sigmoid", "softmax", "identity"]
    param_names = ["output"]
    number = 1
    repeat = (2, 5, 30.0)

    def setup(self, output):
        _require_models()
        self.X, labels = fastbp.datasets.make_spirals(n_classes=3)
        self.y = labels if output == "softmax" else np.eye(3)[labels]
        self.output = output
        self.make().fit(self.X, self.y, epochs=1, lr=0.01, optimizer="adam")
        self.nn = self.make()

    def make(self):
        return fastbp.NeuralNetwork([2, 64, 32, 3], output=self.output, seed=0)

    def time_fit(self, output):
        self.nn.fit(self.X, self.y, epochs=300, lr=0.01, optimizer="adam")


class Activations:
    params = ["relu", "leaky_relu", "tanh", "sigmoid", "identity"]
    param_names = ["activation"]
    number = 1
    repeat = (3, 7, 20.0)

    def setup(self, activation):
        _require_models()
        w = common.WORKLOADS["circle"]
        self.X, self.y = w.data("float64")
        self.options = w.fit_options()
        self.activation = activation
        self.make().fit(self.X, self.y, **dict(self.options, epochs=2))
        self.nn = self.make()

    def make(self):
        return fastbp.NeuralNetwork(list(common.WORKLOADS["circle"].sizes),
                                    activation=self.activation, seed=common.SEED)

    def time_fit(self, activation):
        self.nn.fit(self.X, self.y, **self.options)


class LBFGS:
    number = 1
    repeat = (3, 7, 20.0)

    def setup(self):
        _require_models()
        self.X, self.y = fastbp.datasets.make_circle()
        fastbp.NeuralNetwork([2, 16, 8, 1], seed=0).fit(self.X, self.y, epochs=2,
                                                        optimizer="lbfgs")
        self.nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)

    def time_fit(self):
        self.nn.fit(self.X, self.y, epochs=100, optimizer="lbfgs")

    def track_loss(self):
        nn = fastbp.NeuralNetwork([2, 16, 8, 1], seed=0)
        return nn.fit(self.X, self.y, epochs=100, optimizer="lbfgs")["loss"][-1]

    track_loss.unit = "BCE"
