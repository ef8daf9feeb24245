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
bench this uses fastbp's internals (the kernels and the engine's buffers), so it describes
this commit only.

The compiled loops it times are in ``fastbp.kernels.profile``.
"""
import statistics
import time

import numpy as np

from .. import kernels
from ..engines import TrainingBlocks, Workspace, row_length
from ..kernels import profile
from ..parameters import Parameters
from ..threadctl import threads
from ..workloads import SHUFFLE_SEED, initial_state, select


def _parameters(sizes, dtype, init):
    """The compiled engine's parameter buffers, holding the workload's initial weights."""
    params = Parameters(sizes, dtype)
    for (W, b), W_to, b_to in zip(init, params.weights, params.biases):
        W_to[...], b_to[...] = W, b
    return params


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
    params = _parameters(list(w.sizes), w.dtype, init)
    reps = reps or max(1, int(2e7 // max(1, sum(a * b for a, b in zip(w.sizes, w.sizes[1:])) * n)))
    times = _step_phases(params, X_all[:n], y_all[:n], reps, repeats)
    with threads(1):
        times["share"] = _step_phases(params, X_all[:n // 2], y_all[:n // 2], 2 * reps, repeats,
                                      only="step")["step"]
    if w.kind == "minibatch":
        ws = Workspace(params.sizes, n, params.dtype)
        order = np.random.default_rng(SHUFFLE_SEED).permutation(len(X_all))
        Y_all = y_all.reshape(len(y_all), -1)
        times["gather"] = _median_seconds(
            lambda r: profile.gather_loop(X_all, Y_all, order, n, row_length(params.sizes, n, w.dtype),
                                          ws.inputs_sample_major, ws.x, ws.y, r),
            reps, repeats)
    return times


def _step_phases(p, X, y, reps, repeats, only=None):
    """{phase: seconds} of one full-batch step on X, y with parameters ``p`` (``only``: that
    phase alone)."""
    n = len(X)
    ws = Workspace(p.sizes, n, p.dtype)
    ws.load(X, y.reshape(n, -1))
    losses, accuracies = np.empty(reps), np.empty(reps)
    # one block, one worker: the whole epoch in this thread (its barriers return at once)
    blocks = TrainingBlocks(p, 1, n)
    blocks.load(X, y.reshape(n, -1))
    net = kernels.Net(p.flat, p.backup, p.sizes, p.codes)
    team = kernels.Team(np.zeros(2 * kernels.SLOT, np.int64), np.zeros(kernels.SLOT), 1)
    settings = kernels.Settings(False, 0, 0.0)
    sgd = kernels.Optimizer(kernels.SGD, 0.0, False, 0.9, 0.999, 1e-8, 0.0)
    empty = np.empty(0, p.dtype)
    state = kernels.OptimizerState(empty, empty, empty, p.decay)
    no_validation = kernels.Validation(empty, empty, empty, empty, 0, np.empty(reps),
                                       np.empty(reps), np.zeros(5), empty)
    rates = np.zeros(reps)
    phases = {
        "forward": lambda r: profile.forward_loop(p.flat, p.sizes, p.codes, ws.x, ws.z,
                                                  ws.a, n, r),
        "loss": lambda r: profile.loss_loop(p.sizes, p.codes, ws.y, ws.z, ws.a, n, r),
        "gradient": lambda r: profile.gradient_loop(p.flat, p.grads, p.sizes, p.codes, ws.x, ws.y,
                                                    ws.z, ws.a, ws.d, n, r),
        "update": lambda r: profile.update_loop(p.flat, p.grads, p.backup, r),
        "products": lambda r: profile.products_loop(p.flat, p.grads, p.sizes, ws.x, ws.z, ws.a,
                                                    ws.d, n, r),
        "step": lambda r: kernels.train_full_batch(0, net, blocks.record, team, settings, sgd,
                                                    state, no_validation, n, 0, False, rates[:r],
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
