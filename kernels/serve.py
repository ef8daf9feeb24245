"""Stand-alone forward and backward calls split into blocks, shared with awake helper threads.

A recorded ``forward`` and its ``backward`` (the tutorial's own loop) compute a batch in the
fixed reduction blocks of ``Blocks`` (as the training loops do): block b holds samples
``share(n_total, b, n_blocks)``, ``grads[b]`` gets its share of the gradient of the mean over
``n_total`` samples, and the caller sums the blocks in block order -- so the bits depend on the
blocks only, never on how many workers computed them.

The calling thread (the *leader*, worker 0) posts a job on ``board``, computes its own blocks,
then for each helper either finds that the helper claimed its share (and waits until it is
done) or claims the share itself and computes it: a helper that is asleep, busy elsewhere or
without a core never holds the leader up for longer than its own share takes.  Helpers
(fastbp.helpers) wait for jobs inside ``serve_jobs``, spinning, for ``spin_ns`` after their last one.

``board``: int64, ``(MAX_HELPERS + 2) * SLOT`` entries, one cache line per slot.  Slot 0 is the
job: its sequence number (published last, with a release store), command, binding, n_total,
tutorial flag and worker count.  Slot w (1 ... MAX_HELPERS) is helper w's: the last job whose
share w was claimed (by the helper or the leader), the last job the helper finished, and the
binding it serves while awake (0 asleep).  A *binding* numbers one set of arrays (a network's
parameters and its blocks): a helper serves one binding and returns to Python when a job
names another.
"""
from .config import kernel
from .sync import (
    SLOT,
    SPINS_BEFORE_YIELD,
    _load_acquire,
    _raise_to,
    _spin_pause,
    _store_release,
    _yield_core,
    monotonic_ns,
)
from .train import forward_layers, gradient_layers, share

FORWARD = 1
GRADIENT = 2
MAX_HELPERS = 7

SEQ, COMMAND, BINDING, N_TOTAL, TUTORIAL, N_WORKERS = range(6)  # slot 0: the job
CLAIMED, DONE, SERVING = range(3)                               # slot w: helper w


@kernel(python=False, linked=False)
def blocks_pass(command, first, end, net, blocks, n_total, tutorial):
    """Blocks first ... end - 1: their forward pass (FORWARD, inputs in ``blocks.x``), or their
    gradients from the recorded pass (GRADIENT, targets in ``blocks.y``) into ``blocks.grads``."""
    n_blocks = blocks.grads.shape[0]
    sizes, codes = net.sizes, net.codes
    for b in range(first, end):
        start, stop = share(n_total, b, n_blocks, 1)
        n = stop - start
        if command == FORWARD:
            if n > 0:
                forward_layers(net.params, sizes, codes, blocks.x[b], blocks.z[b], blocks.a[b], n)
        elif n == 0:
            blocks.grads[b][:] = 0
        else:
            gradient_layers(net.params, blocks.grads[b], sizes, codes, blocks.x[b], blocks.y[b],
                            blocks.z[b], blocks.a[b], blocks.d[b], n, n_total, tutorial)
    return 0


@kernel(inline=True)
def worker_blocks(n_blocks, worker, n_workers):
    return share(n_blocks, worker, n_workers, 1)


@kernel
def lead(board, binding, command, net, blocks, n_total, tutorial, n_workers):
    """Run ``command`` over every block, sharing them with helpers 1 ... n_workers - 1."""
    n_blocks = blocks.grads.shape[0]
    seq = board[SEQ] + 1
    if n_workers > 1:
        board[COMMAND] = command
        board[BINDING] = binding
        board[N_TOTAL] = n_total
        board[TUTORIAL] = 1 if tutorial else 0
        board[N_WORKERS] = n_workers
        _store_release(board, SEQ, seq)
    first, end = worker_blocks(n_blocks, 0, n_workers)
    blocks_pass(command, first, end, net, blocks, n_total, tutorial)
    for w in range(1, n_workers):
        first, end = worker_blocks(n_blocks, w, n_workers)
        if _raise_to(board, w * SLOT + CLAIMED, seq):  # not started: the leader computes it
            blocks_pass(command, first, end, net, blocks, n_total, tutorial)
        else:
            spins = 0
            while _load_acquire(board, w * SLOT + DONE) < seq:
                spins += 1
                if spins < SPINS_BEFORE_YIELD:
                    _spin_pause()
                else:
                    _yield_core()
    return 0


@kernel
def serve_jobs(worker, board, binding, net, blocks, seen, spin_ns):
    """Helper ``worker``'s loop: compute its share of every job after number ``seen`` that
    names ``binding``; return the last job seen when none came for ``spin_ns`` nanoseconds or
    when one names another binding (the caller rebinds)."""
    base = worker * SLOT
    _store_release(board, base + SERVING, binding)
    last = monotonic_ns()
    spins = 0
    while True:
        seq = _load_acquire(board, SEQ)
        if seq > seen:
            if board[BINDING] != binding:
                break
            seen = seq
            if worker < board[N_WORKERS] and _raise_to(board, base + CLAIMED, seq):
                first, end = worker_blocks(blocks.grads.shape[0], worker, board[N_WORKERS])
                blocks_pass(board[COMMAND], first, end, net, blocks, board[N_TOTAL],
                            board[TUTORIAL] != 0)
                _store_release(board, base + DONE, seq)
            last = monotonic_ns()
            spins = 0
            continue
        spins += 1
        if (spins & 255) == 0 and monotonic_ns() - last > spin_ns:
            break
        _spin_pause()
    _store_release(board, base + SERVING, 0)
    return seen
