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
def sgd_step_blocks(params, grads, lr, backup, start, stop):
    """The SGD step of parameters [start, stop) from a gradient computed in blocks.

    ``grads`` (n_blocks, P): row b is block b's share of the gradient.  Their sum, in block order
    (so the step is the same whichever workers computed the blocks), replaces row 0, then
    sgd_step.  Returns True when every updated parameter is finite.  Loops run over views of the
    range, indexed from 0: an index Numba cannot prove non-negative keeps a wraparound check in
    the loop, which stops LLVM from vectorising it.
    """
    summed = grads[0, start:stop]
    for b in range(1, grads.shape[0]):
        part = grads[b, start:stop]
        for k in range(summed.size):
            summed[k] += part[k]
    return sgd_step(params[start:stop], summed, lr, backup[start:stop])


@kernel(inline=True)
def restore_range(params, backup, start, stop):
    """params[start:stop] = backup[start:stop]."""
    restore(params[start:stop], backup[start:stop])
