"""``python -m fastbp phases``: where the compiled engine's full-batch epoch spends its time.

For the tutorial's workloads of the bench (W1-W3, or ``--workloads``; W3 as a full batch of its
100 samples) it times each phase of one
epoch -- forward pass, loss, gradient pass, SGD update -- and the whole compiled epoch, each
repeated inside one compiled loop so that no Python dispatch is counted; medians of repeats.
Unlike the bench this uses fastbp's internals (the kernels and the engine's workspace), so it
describes this commit only.
"""
import statistics
import time

import numpy as np

from . import kernels
from .bench import initial_state, select
from .kernels.backward import output_loss
from .kernels.config import kernel
from .kernels.train import forward_pass, gradient_pass, input_block, layer_block
from .network import NeuralNetwork


@kernel
def _forward_loop(params, sizes, activations, xbuf, zbuf, abuf, n, reps):
    for _ in range(reps):
        forward_pass(params, sizes, activations, xbuf, zbuf, abuf, n)


@kernel
def _loss_loop(sizes, ybuf, zbuf, abuf, n, reps):
    last = sizes.size - 2
    total = 0.0
    for _ in range(reps):
        total += output_loss(layer_block(zbuf, sizes, last, n), layer_block(abuf, sizes, last, n),
                             input_block(ybuf, sizes[last + 1], n), False)[0]
    return total


@kernel
def _gradient_loop(params, grads, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, reps):
    for _ in range(reps):
        gradient_pass(params, grads, sizes, xbuf, ybuf, zbuf, abuf, dbuf, n, n, False)


@kernel
def _update_loop(params, grads, backup, reps):
    for _ in range(reps):
        kernels.sgd_step(params, grads, 0.0, backup)


def _median_seconds(run, reps, repeats):
    run(1)  # compile, touch memory
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(reps)
        times.append((time.perf_counter() - start) / reps)
    return statistics.median(times)


def phase_times(w, reps=None, repeats=7):
    """{phase: seconds per epoch} for workload ``w`` on the compiled engine (exact mode, lr 0)."""
    X, y, init = initial_state(w, w.size(False).samples)
    nn = NeuralNetwork(list(w.sizes), dtype=w.dtype, seed=0)
    nn.weights = [W for W, _ in init]
    nn.biases = [b for _, b in init]
    p, n = nn._params, len(X)
    ws = nn._engine._workspace(None, n)
    ws.load(X, y)
    reps = reps or max(1, int(2e7 // max(1, sum(a * b for a, b in zip(w.sizes, w.sizes[1:])) * n)))
    losses, accuracies = np.empty(reps), np.empty(reps)
    # one worker: the whole epoch in this thread (its barriers return at once)
    board, shared = np.zeros(2 * kernels.SLOT, np.int64), np.zeros(kernels.SLOT)
    others = np.empty((0, p.flat.size), p.dtype)
    phases = {
        "forward": lambda r: _forward_loop(p.flat, p.sizes, p.activations, ws.x, ws.z, ws.a, n, r),
        "loss": lambda r: _loss_loop(p.sizes, ws.y, ws.z, ws.a, n, r),
        "gradient": lambda r: _gradient_loop(p.flat, p.grads, p.sizes, ws.x, ws.y, ws.z, ws.a,
                                             ws.d, n, r),
        "update": lambda r: _update_loop(p.flat, p.grads, p.backup, r),
        "epoch": lambda r: kernels.train_full_batch(0, board, shared, p.flat, p.grads, others,
                                                    p.backup, p.sizes, p.activations, ws.x, ws.y,
                                                    ws.z, ws.a, ws.d, n, n, 0.0, False, False,
                                                    losses[:r], accuracies[:r]),
    }
    return {name: _median_seconds(run, reps, repeats) for name, run in phases.items()}


def run_phases(workloads="W1,W2,W3", out=print):
    """Print the phase table for the selected workloads (mini-batch ones are left out)."""
    selected = [w for w in select(workloads) if w.kind != "minibatch"]
    out("phases of one compiled full-batch epoch (exact mode; each phase looped in compiled code, "
        "median of 7)")
    names = ["forward", "loss", "gradient", "update", "epoch"]
    out(f"{'workload':<32}" + "".join(f"{name:>12}" for name in names))
    for w in selected:
        times = phase_times(w)
        label = f"{w.key} {list(w.sizes)} {w.dtype}"
        out(f"{label:<32}" + "".join(f"{times[name] * 1e6:>10.1f}us" for name in names))
