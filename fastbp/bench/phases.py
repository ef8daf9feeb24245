"""``python -m fastbp phases``: where the compiled engine's training step spends its time.

For workloads of the bench (W1-W3 by default, or ``--workloads``; W3 as a full batch of its 100
samples, W5 as one step on a batch of 128) it times each phase of one full-batch step -- forward
pass, loss, gradient pass, SGD update --, the whole compiled step (``train_full_batch``, one
worker), and the step's products alone (every layer's forward, weight-gradient and delta
``gemm`` (BLAS) into the same buffers, whatever the layer's kernel: what BLAS alone would take), each
repeated inside one compiled loop so that no Python dispatch is counted; medians of repeats.
All on one worker, BLAS on the current thread count.  Two more columns bound what splitting
the work could gain: ``share`` is the same compiled step on half the batch with one BLAS thread
-- what each of two workers computes per step, so a team of two cannot step faster than that;
``gather`` (mini-batch workloads) copies one batch of randomly ordered samples out of the whole
data set into the batch buffers, as every mini-batch step does before its products.  Unlike the
bench this uses fastbp's internals (the kernels and the engine's workspace), so it describes
this commit only.

The compiled loops it times are in ``fastbp.kernels.profile``.
"""
import statistics
import time

import numpy as np

from .. import kernels
from ..kernels import profile
from ..network import NeuralNetwork
from ..parallel import threads
from ..workloads import SHUFFLE_SEED, initial_state, select


def _engine_buffers(nn, n):
    """(parameter buffers, workspace for ``n`` samples) of ``nn``'s compiled engine.

    The one place where this profiler reads the network's internals: fastbp has no public
    handle on the engine's buffers (a profiler of the compiled step needs them, the bench does
    not), so this follows the engine as it is in this commit.
    """
    return nn._params, nn._engine._workspace(None, n)


def _median_seconds(run, reps, repeats):
    run(1)  # compile, touch memory
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(reps)
        times.append((time.perf_counter() - start) / reps)
    return statistics.median(times)


def phase_times(w, reps=None, repeats=7):
    """{phase: seconds per step} for workload ``w`` on the compiled engine (exact mode, lr 0):
    full batch, or the first batch of a mini-batch workload (see the module's docstring)."""
    X_all, y_all, init = initial_state(w, w.size(False).samples)
    n = w.batch_size if w.kind == "minibatch" else len(X_all)
    nn = NeuralNetwork(list(w.sizes), dtype=w.dtype, seed=0)
    nn.weights = [W for W, _ in init]
    nn.biases = [b for _, b in init]
    reps = reps or max(1, int(2e7 // max(1, sum(a * b for a, b in zip(w.sizes, w.sizes[1:])) * n)))
    times = _step_phases(nn, X_all[:n], y_all[:n], reps, repeats)
    with threads(1):
        times["share"] = _step_phases(nn, X_all[:n // 2], y_all[:n // 2], 2 * reps, repeats,
                                      only="step")["step"]
    if w.kind == "minibatch":
        _, ws = _engine_buffers(nn, n)
        order = np.random.default_rng(SHUFFLE_SEED).permutation(len(X_all))
        Y_all = y_all.reshape(len(y_all), -1)
        times["gather"] = _median_seconds(
            lambda r: profile.gather_loop(X_all, Y_all, order, n, ws.inputs_sample_major, ws.x,
                                          ws.y, r),
            reps, repeats)
    return times


def _step_phases(nn, X, y, reps, repeats, only=None):
    """{phase: seconds} of one full-batch step of ``nn`` on X, y (``only``: that phase alone)."""
    n = len(X)
    p, ws = _engine_buffers(nn, n)
    ws.load(X, y.reshape(n, -1))
    losses, accuracies = np.empty(reps), np.empty(reps)
    # one worker: the whole epoch in this thread (its barriers return at once)
    board, shared = np.zeros(2 * kernels.SLOT, np.int64), np.zeros(kernels.SLOT)
    others = np.empty((0, p.flat.size), p.dtype)
    phases = {
        "forward": lambda r: profile.forward_loop(p.flat, p.sizes, p.activations, ws.x, ws.z,
                                                  ws.a, n, r),
        "loss": lambda r: profile.loss_loop(p.sizes, ws.y, ws.z, ws.a, n, r),
        "gradient": lambda r: profile.gradient_loop(p.flat, p.grads, p.sizes, ws.x, ws.y, ws.z,
                                                    ws.a, ws.d, n, r),
        "update": lambda r: profile.update_loop(p.flat, p.grads, p.backup, r),
        "products": lambda r: profile.products_loop(p.flat, p.grads, p.sizes, ws.x, ws.z, ws.a,
                                                    ws.d, n, r),
        "step": lambda r: kernels.train_full_batch(0, board, shared, p.flat, p.grads, others,
                                                    p.backup, p.sizes, p.activations, ws.x, ws.y,
                                                    ws.z, ws.a, ws.d, n, n, 0.0, False, False,
                                                    losses[:r], accuracies[:r]),
    }
    return {name: _median_seconds(run, reps, repeats) for name, run in phases.items()
            if only in (None, name)}


def run_phases(workloads="W1,W2,W3", out=print):
    """Print the phase table for the selected workloads."""
    selected = select(workloads)
    out("phases of one compiled full-batch step on one worker (exact mode; each phase looped in "
        "compiled code, median of 7; products: the step's BLAS products alone; share: the step "
        "on half the batch, one BLAS thread; gather: one shuffled batch copied in)")
    names = ["forward", "loss", "gradient", "update", "step", "products", "share", "gather"]
    out(f"{'workload':<40}" + "".join(f"{name:>12}" for name in names))
    for w in selected:
        times = phase_times(w)
        n = w.batch_size if w.kind == "minibatch" else w.size(False).samples
        label = f"{w.key} {n}x{list(w.sizes)} {w.dtype}"
        out(f"{label:<40}" + "".join(f"{times[name] * 1e6:>10.1f}us" if name in times
                                     else f"{'-':>12}" for name in names))
