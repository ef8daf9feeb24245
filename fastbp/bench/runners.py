"""The engines the bench compares, one runner each: the tutorial's class, fastbp's NumPy reference
and JIT engines, PyTorch and JAX (when installed).

A runner builds a ``Runner`` for one workload from the shared initial weights: ``reset`` goes back
to them, ``train(units, lr)`` trains some epochs (or steps), ``params`` reads the parameters back.
``RUNNERS`` is the table the bench iterates over.  Only fastbp's public API is used
(``NeuralNetwork``, ``fit``/``forward``/``backward``, ``weights``/``biases``), so the bench keeps
working while the kernels change.
"""
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import fastbp

from ..workloads import SHUFFLE_SEED
from .tutorial_class import NeuralNetwork as TutorialNetwork
from .tutorial_class import binary_cross_entropy


def epoch_orders(n, epochs):
    """The sample orders of fit(..., batch_size=B, seed=SHUFFLE_SEED): a fresh permutation per epoch."""
    random = np.random.default_rng(SHUFFLE_SEED)
    return [random.permutation(n) for _ in range(epochs)]


def batches(order, batch_size):
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


@dataclass
class Runner:
    """One engine set up for one workload, starting from the shared initial weights."""

    reset: Callable[[], None]              # back to the initial weights
    train: Callable[[int, float], None]    # (units, lr): epochs, or forward+backward steps
    params: Callable[[], list]             # [W0, b0, W1, b1, ...] as float64 arrays


def forward_backward_steps(nn, X, y, units, lr):
    """``units`` steps of the tutorial's API (any class that has it): forward, then backward."""
    for _ in range(units):
        nn.forward(X)
        nn.backward(y, lr=lr)


def tutorial_runner(w, X, y, init):
    """The tutorial's class; full batch runs its train_network loop (minus printing)."""
    nn = TutorialNetwork(list(w.sizes))

    def reset():
        nn.weights = [W.astype(np.float64) for W, _ in init]   # the tutorial's weights are float64
        nn.biases = [np.zeros(b.shape) for _, b in init]

    def train(units, lr):
        if w.kind == "step":
            forward_backward_steps(nn, X, y, units, lr)
        elif w.kind == "full":
            for _ in range(units):     # train_network's loop body, without the printing
                predictions = nn.forward(X)
                binary_cross_entropy(y, predictions)
                nn.backward(y, lr=lr)
                ((predictions > 0.5) == y).mean()
        else:
            for order in epoch_orders(len(X), units):
                for index in batches(order, w.batch_size):
                    Xb, yb = X[index], y[index]
                    predictions = nn.forward(Xb)
                    binary_cross_entropy(yb, predictions)
                    nn.backward(yb, lr=lr)

    reset()
    return Runner(reset, train, lambda: flat_params(zip(nn.weights, nn.biases)))


def fastbp_runner(backend, w, X, y, init, tutorial_compat=False):
    """A fastbp.NeuralNetwork on ``backend`` ("numpy" or "numba"), public API only."""
    nn = fastbp.NeuralNetwork(list(w.sizes), backend=backend, dtype=w.dtype,
                              tutorial_compat=tutorial_compat, seed=0)

    def reset():
        nn.weights = [W for W, _ in init]
        nn.biases = [b for _, b in init]

    def train(units, lr):
        if w.kind == "step":
            forward_backward_steps(nn, X, y, units, lr)
        elif w.kind == "full":
            nn.fit(X, y, epochs=units, lr=lr)
        else:
            nn.fit(X, y, epochs=units, lr=lr, batch_size=w.batch_size, seed=SHUFFLE_SEED)

    reset()
    return Runner(reset, train, lambda: flat_params(zip(nn.weights, nn.biases)))


def reference_runner(w, X, y, init):
    """fastbp's pure-NumPy reference engine (backend="numpy")."""
    return fastbp_runner("numpy", w, X, y, init)


def numba_runner(w, X, y, init):
    """fastbp's JIT engine (backend="numba"); the CPU calibration read (or measured) first, so
    that no timed call measures it."""
    fastbp.calibration.current(np.dtype(w.dtype))
    return fastbp_runner("numba", w, X, y, init)


def torch_runner(w, X, y, init):
    """PyTorch eager, the same math as fastbp's exact mode with a manual backward pass."""
    import torch
    import torch.nn.functional as F

    Xt, Yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(y))
    params = [[torch.from_numpy(W.copy()), torch.from_numpy(b.copy())] for W, b in init]
    last = len(params) - 1

    def reset():
        for (W, b), (W0, b0) in zip(params, init):
            W.copy_(torch.from_numpy(W0))
            b.copy_(torch.from_numpy(b0))

    @torch.no_grad()
    def step(Xb, Yb, lr):
        activations, pre = [Xb], []
        for i, (W, b) in enumerate(params):
            z = torch.addmm(b, activations[-1], W)
            pre.append(z)
            activations.append(torch.relu(z) if i < last else torch.sigmoid(z))
        loss = F.binary_cross_entropy_with_logits(pre[-1], Yb)
        delta = (activations[-1] - Yb) / Yb.numel()
        for i in range(last, -1, -1):
            W, b = params[i]
            dW = activations[i].T @ delta
            db = delta.sum(0)
            if i > 0:
                delta = (delta @ W.T) * (pre[i - 1] > 0)
            W.sub_(dW, alpha=lr)
            b.sub_(db, alpha=lr)
        return loss

    def train(units, lr):
        if w.kind in ("full", "step"):
            for _ in range(units):
                step(Xt, Yt, lr)
        else:
            for order in epoch_orders(len(X), units):
                for index in batches(torch.from_numpy(order), w.batch_size):
                    step(Xt[index], Yt[index], lr)

    return Runner(reset, train, lambda: flat_params((W.numpy(), b.numpy()) for W, b in params))


def jax_runner(w, X, y, init):
    """JAX: jit of the whole full-batch loop (lax.fori_loop), jit(scan) over mini-batches."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    Xj, Yj = jax.device_put(X), jax.device_put(y)
    last = len(init) - 1
    state = {}

    def step(params, Xb, Yb, lr):
        activations, pre = [Xb], []
        for i, (W, b) in enumerate(params):
            z = activations[-1] @ W + b
            pre.append(z)
            activations.append(jax.nn.relu(z) if i < last else jax.nn.sigmoid(z))
        delta = (activations[-1] - Yb) / Yb.size
        new = list(params)
        for i in range(last, -1, -1):
            W, b = params[i]
            dW, db = activations[i].T @ delta, delta.sum(0)
            if i > 0:
                delta = (delta @ W.T) * (pre[i - 1] > 0)
            new[i] = (W - lr * dW, b - lr * db)
        return tuple(new)

    one_step = jax.jit(step)

    @jax.jit
    def full_batch(params, epochs, lr):
        return lax.fori_loop(0, epochs, lambda _, p: step(p, Xj, Yj, lr), params)

    n_full = len(X) // w.batch_size * w.batch_size if w.batch_size else 0

    @jax.jit
    def minibatch_epoch(params, order, lr):
        def body(p, index):
            return step(p, Xj[index], Yj[index], lr), None
        params, _ = lax.scan(body, params, order[:n_full].reshape(-1, w.batch_size))
        if n_full < len(X):
            params = step(params, Xj[order[n_full:]], Yj[order[n_full:]], lr)
        return params

    def reset():
        state["params"] = tuple((jnp.asarray(W), jnp.asarray(b)) for W, b in init)

    def train(units, lr):
        params = state["params"]
        dtype_lr = np.dtype(w.dtype).type(lr)
        if w.kind == "step":
            for _ in range(units):
                params = one_step(params, Xj, Yj, dtype_lr)
        elif w.kind == "full":
            params = full_batch(params, units, dtype_lr)
        else:
            for order in epoch_orders(len(X), units):
                params = minibatch_epoch(params, jnp.asarray(order), dtype_lr)
        state["params"] = jax.block_until_ready(params)

    reset()
    return Runner(reset, train, lambda: flat_params((np.asarray(W), np.asarray(b))
                                               for W, b in state["params"]))


def flat_params(layers):
    """[W0, b0, W1, b1, ...] as float64 copies, from (W, b) pairs."""
    return [np.array(a, dtype=np.float64) for W, b in layers for a in (W, b)]


def importable(module):
    """Whether ``module`` is installed -- found, not imported: importing PyTorch or JAX changes
    the process (its allocator settings made the tutorial's class up to 1.7x faster)."""
    def available():
        try:
            return importlib.util.find_spec(module) is not None
        except Exception:  # broken installs: skip silently
            return False
    return available


@dataclass(frozen=True)
class Engine:
    name: str
    runner: Callable
    fast: bool                       # whole loop compiled: time all units, report compile time
    available: Callable = lambda: True


RUNNERS = [
    Engine("tutorial", tutorial_runner, fast=False),
    Engine("numpy", reference_runner, fast=False),
    Engine("numba", numba_runner, fast=True),
    Engine("torch", torch_runner, fast=False, available=importable("torch")),
    Engine("jax", jax_runner, fast=True, available=importable("jax")),
]


def engine(name):
    """The engine of ``RUNNERS`` called ``name``."""
    for e in RUNNERS:
        if e.name == name:
            return e
    raise KeyError(f"no engine {name!r}; the engines are {[e.name for e in RUNNERS]}")
