"""Parameter updates over the whole contiguous parameter buffer (every layer in one pass).

Optimizers are run-time codes (``SGD``, ``ADAM``) with their settings in an ``Optimizer`` record
and their state (momentum buffer; Adam's moments; the weight-decay mask) in ``OptimizerState``:
one compiled loop serves them all.  Arrays a setting does not use may be empty.
"""
from collections import namedtuple

import numpy as np

from .config import kernel

SGD = 0
ADAM = 1

Optimizer = namedtuple("Optimizer", "code momentum nesterov beta1 beta2 eps weight_decay")
OptimizerState = namedtuple("OptimizerState", "velocity m v decay")


@kernel(python=False)
def sgd_step(params, grads, lr, backup):
    """backup = params; params -= lr * grads.  All 1-D, one dtype.

    Returns True when every updated parameter is finite.  When it returns False the caller
    restores ``params`` from ``backup``, so a diverging step never leaves the network half-updated.
    """
    step = params.dtype.type(lr)
    zero = params.dtype.type(0.0)
    poison = zero  # stays 0 unless an updated value is inf or NaN (inf * 0 = NaN)
    for k in range(params.size):
        p = params[k]
        backup[k] = p
        q = p - step * grads[k]
        params[k] = q
        poison += q * zero
    return poison == zero


@kernel(python=False)
def sgd_step_sum(params, grads, last, lr, backup):
    """sgd_step with the gradient ``grads + last`` (1-D, one dtype), summed as it is read: the
    sum of the blocks' rows taken in the same pass as the step, rather than stored and read back.
    The same values as sgd_step on the stored sum."""
    step = params.dtype.type(lr)
    zero = params.dtype.type(0.0)
    poison = zero
    for k in range(params.size):
        p = params[k]
        backup[k] = p
        q = p - step * (grads[k] + last[k])
        params[k] = q
        poison += q * zero
    return poison == zero


@kernel(inline=True)
def add_later_blocks(grads, start, stop, total, end):
    """total += grads[1, start:stop] + ... + grads[end - 1, start:stop], one row after another in
    block order: with ``total`` holding row 0's values, the blocks' sum whoever computed them."""
    for b in range(1, end):
        part = grads[b, start:stop]
        for k in range(total.size):
            total[k] += part[k]


@kernel(inline=True)
def optimizer_step_blocks(params, grads, lr, backup, start, stop, opt, state, t):
    """The optimizer's step ``t`` for parameters [start, stop) from a gradient computed in blocks.

    ``grads`` (n_blocks, P): row b is block b's share of the gradient.  Their sum is taken in
    block order (so the step is the same whichever workers computed the blocks): rows 1.. added
    into row 0, then optimizer_step -- or, for plain SGD, the last row added in the step's own
    pass (sgd_step_sum: the update is bound by memory traffic, and this saves a pass over the
    range).  Returns True when every updated parameter is finite.  Loops run over views of the
    range, indexed from 0: an index Numba cannot prove non-negative keeps a wraparound check in
    the loop, which stops LLVM from vectorising it.
    """
    summed = grads[0, start:stop]
    n_blocks = grads.shape[0]
    if n_blocks > 1 and opt.code == SGD and opt.momentum == 0.0 and opt.weight_decay == 0.0:
        add_later_blocks(grads, start, stop, summed, n_blocks - 1)
        return sgd_step_sum(params[start:stop], summed, grads[n_blocks - 1, start:stop], lr,
                            backup[start:stop])
    add_later_blocks(grads, start, stop, summed, n_blocks)
    # (an unused, empty state array sliced stays empty)
    return optimizer_step(params[start:stop], summed, lr, backup[start:stop], opt,
                          state.velocity[start:stop], state.m[start:stop], state.v[start:stop],
                          state.decay[start:stop], t)


@kernel(python=False, linked=False)
def optimizer_step(params, grads, lr, backup, opt, velocity, m, v, decay, t):
    """backup = params, then one step of the optimizer at rate ``lr`` (step number ``t`` from 1),
    as torch.optim computes it: the gradient g + weight_decay * p for weights (``decay`` 1 for
    weights, 0 for biases);
    * SGD: buf = g (first step) or momentum * buf + g, then g + momentum * buf (nesterov) or buf;
      p -= lr * that (plain SGD when momentum is 0);
    * ADAM: m += (1 - beta1) (g - m); v = beta2 v + (1 - beta2) g^2;
      p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    Returns True when every updated parameter is finite.
    """
    if opt.code == SGD and opt.momentum == 0.0 and opt.weight_decay == 0.0:
        return sgd_step(params, grads, lr, backup)
    dtype = params.dtype.type
    zero = dtype(0.0)
    one = dtype(1.0)
    step = dtype(lr)
    wd = dtype(opt.weight_decay)
    poison = zero
    if opt.code == SGD:
        mu = dtype(opt.momentum)
        for k in range(params.size):
            p = params[k]
            backup[k] = p
            g = grads[k] + wd * decay[k] * p
            if opt.momentum != 0.0:
                buf = g if t == 1 else mu * velocity[k] + g
                velocity[k] = buf
                g = g + mu * buf if opt.nesterov else buf
            q = p - step * g
            params[k] = q
            poison += q * zero
    else:
        b1 = dtype(opt.beta1)
        b2 = dtype(opt.beta2)
        eps = dtype(opt.eps)
        size = dtype(lr / (1.0 - opt.beta1 ** t))
        root = dtype(np.sqrt(1.0 - opt.beta2 ** t))
        for k in range(params.size):
            p = params[k]
            backup[k] = p
            g = grads[k] + wd * decay[k] * p
            mk = m[k] + (one - b1) * (g - m[k])
            vk = b2 * v[k] + (one - b2) * g * g
            m[k] = mk
            v[k] = vk
            q = p - size * (mk / (np.sqrt(vk) / root + eps))
            params[k] = q
            poison += q * zero
    return poison == zero


@kernel(python=False, linked=False)
def copy_into(target, source):
    """target[:] = source (an explicit loop: slice assignment compiles a costly error path)."""
    for k in range(source.size):
        target[k] = source[k]


@kernel(inline=True)
def restore_range(params, backup, start, stop):
    """params[start:stop] = backup[start:stop]."""
    copy_into(params[start:stop], backup[start:stop])


@kernel
def sgd_update(params, grads, lr, backup):
    """sgd_step callable from Python (``backward``'s update): compiled when first called, so
    the training loops' first compilation does not pay for a Python wrapper."""
    return sgd_step(params, grads, lr, backup)


@kernel
def optimizer_update(params, grads, lr, backup, opt, velocity, m, v, decay, t):
    """optimizer_step callable from Python (tests and benchmarks)."""
    return optimizer_step(params, grads, lr, backup, opt, velocity, m, v, decay, t)


@kernel
def optimizer_update_blocks(params, grads, lr, backup, start, stop, opt, state, t):
    """optimizer_step_blocks callable from Python (tests)."""
    return optimizer_step_blocks(params, grads, lr, backup, start, stop, opt, state, t)

