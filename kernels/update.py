"""Parameter update over the whole contiguous parameter buffer (every layer in one pass)."""
from .config import kernel


@kernel
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
def restore(params, backup):
    """params = backup (an explicit loop: slice assignment would compile a costly error path)."""
    for k in range(params.size):
        params[k] = backup[k]


@kernel(inline=True)
def sgd_step_shared(params, grads, others, lr, backup, start, stop):
    """The SGD step of parameters [start, stop) when several workers computed the gradient.

    ``grads`` holds worker 0's share of the gradient and each row of ``others`` (n_workers - 1, P)
    another worker's; their sum (in worker order, so every split sums alike) replaces ``grads``,
    then sgd_step.  Returns True when every updated parameter is finite.  Loops run over views
    of the range, indexed from 0: an index Numba cannot prove non-negative keeps a wraparound
    check in the loop, which stops LLVM from vectorising it (7x slower here).
    """
    summed = grads[start:stop]
    for w in range(others.shape[0]):
        share = others[w, start:stop]
        for k in range(summed.size):
            summed[k] += share[k]
    return sgd_step(params[start:stop], summed, lr, backup[start:stop])


@kernel(inline=True)
def restore_range(params, backup, start, stop):
    """params[start:stop] = backup[start:stop]."""
    restore(params[start:stop], backup[start:stop])
