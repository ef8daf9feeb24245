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
