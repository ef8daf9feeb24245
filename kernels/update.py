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


@kernel
def restore(params, backup):
    """params = backup (an explicit loop: slice assignment would compile a costly error path)."""
    for k in range(params.size):
        params[k] = backup[k]


@kernel
def sgd_step_shared(params, grads, others, lr, backup, start, stop):
    """The SGD step of parameters [start, stop) when several workers computed the gradient.

    ``grads`` holds worker 0's share of the gradient and each row of ``others`` (n_workers - 1, P)
    another worker's; their sum (in worker order, so every split sums alike) replaces ``grads``,
    then backup = params and params -= lr * grads, as sgd_step.  Returns True when every updated
    parameter is finite.
    """
    # Views of the share, indexed from 0: a loop index Numba cannot prove non-negative keeps a
    # wraparound check in the loop, which stops LLVM from vectorising it (7x slower here).
    return sgd_step_summed(params[start:stop], grads[start:stop], others[:, start:stop], lr,
                           backup[start:stop])


@kernel
def sgd_step_summed(params, grads, others, lr, backup):
    """grads += others.sum(axis=0) (row by row), then sgd_step(params, grads, lr, backup)."""
    for w in range(others.shape[0]):
        share = others[w]
        for k in range(grads.size):
            grads[k] += share[k]
    return sgd_step(params, grads, lr, backup)


@kernel
def restore_range(params, backup, start, stop):
    """params[start:stop] = backup[start:stop]."""
    restore(params[start:stop], backup[start:stop])
