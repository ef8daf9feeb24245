"""Stand-alone forward and backward steps split into blocks, shared with awake helper threads.

A recording ``forward`` and its ``backward`` (the tutorial's own loop) compute a batch in the
fixed reduction blocks of ``Blocks`` (as the training loops do): block b holds samples
``share(n_total, b, n_blocks)``, ``grads[b]`` gets its share of the gradient of the mean over
``n_total`` samples, and the blocks are summed in block order -- so the bits depend on the
blocks only, never on how many workers computed them.

The calling thread (the *leader*, worker 0) posts a job on ``board``, computes its own share,
then for each helper either finds that the helper claimed its share (and waits until it is
done) or claims the share itself and computes it: a helper that is asleep, busy elsewhere or
without a core never holds the leader up for longer than its share takes.  Helpers
(fastbp.helpers) wait for jobs inside ``serve_jobs``, spinning, for ``spin_ns`` after their
last one.  A STEP job has two phases: the blocks' gradients, then -- once the leader has seen
every block done -- each worker sums the blocks' rows over its share of the parameters into
``grads`` and takes the SGD step there (``update.sgd_step``, the rate in ``scalars[0]``).

A job's arrays: ``net`` (kernels.Net), ``blocks`` (kernels.Blocks), ``grads`` (the network's
gradient buffer) and ``scalars`` (float64: the rate, then each worker's "finite" flag).
``board``: int64, ``(MAX_HELPERS + 2) * SLOT`` entries, one cache line per slot.  Slot 0 is the
job: its sequence number (published last, with a release store), command, binding, n_total,
tutorial flag, worker count, and the last job whose gradients are all done.  Slot w (1 ...
MAX_HELPERS) is helper w's: the last job whose share w was claimed (by the helper or the
leader) and the last the helper finished, for each phase, and the binding it serves while
awake (0 asleep).  A *binding* numbers one set of arrays (a network's): a helper serves one
binding and returns to Python when a job names another.
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
from .train import forward_layers, gradient_layers, inputs_sample_major, job_pass, row_length, share
from .update import add_later_blocks, copy_into, sgd_step

FORWARD = 1
STEP = 2      # the blocks' gradients, then their sum into grads and an SGD step
EVALUATE = 3  # each block's forward pass, loss and gradient (L-BFGS's objective)
MAX_HELPERS = 7

SEQ, COMMAND, BINDING, N_TOTAL, TUTORIAL, N_WORKERS, GRADIENTS_DONE = range(7)  # slot 0: the job
CLAIMED, DONE, SERVING, CLAIMED_UPDATE, DONE_UPDATE = range(5)                 # slot w: helper w
RATE = 0  # scalars[0]; scalars[1 + w]: worker w's share of the step stayed finite;
LOSSES = 2 + MAX_HELPERS  # scalars[LOSSES + 2b], [LOSSES + 2b + 1]: block b's loss sum, correct


@kernel(python=False, linked=False)
def blocks_pass(command, first, end, net, blocks, scalars, n_total, tutorial):
    """Blocks first ... end - 1: their forward pass (FORWARD, inputs in ``blocks.x``); (STEP)
    their gradients from the recorded pass (targets in ``blocks.y``) into ``blocks.grads``; or
    (EVALUATE) their forward pass, loss sum and correct count (into ``scalars``) and gradient."""
    n_blocks = blocks.grads.shape[0]
    sizes, codes = net.sizes, net.codes
    for b in range(first, end):
        start, stop = share(n_total, b, n_blocks, 1)
        n = stop - start
        if command == EVALUATE:
            loss_sum, correct = 0.0, 0.0
            if n == 0:
                blocks.grads[b][:] = 0
            else:
                loss_sum, correct = job_pass(net, blocks.x[b], blocks.y[b], blocks.z[b],
                                             blocks.a[b], blocks.d[b], blocks.grads[b], n,
                                             n_total, tutorial, True)
            scalars[LOSSES + 2 * b] = loss_sum
            scalars[LOSSES + 2 * b + 1] = correct
        elif command == FORWARD:
            if n > 0:
                forward_layers(net.params, sizes, codes, blocks.x[b], blocks.z[b], blocks.a[b], n,
                               True)
        elif n == 0:
            blocks.grads[b][:] = 0
        else:
            gradient_layers(net.params, blocks.grads[b], sizes, codes, blocks.x[b], blocks.y[b],
                            blocks.z[b], blocks.a[b], blocks.d[b], n, n_total, tutorial)
    return 0


@kernel(python=False, linked=False)
def update_share(worker, n_workers, net, blocks, grads, scalars):
    """Worker ``worker``'s share of the parameters (whole cache lines): the blocks' gradient rows
    summed in block order into ``grads``, then the SGD step; its "finite" flag into scalars."""
    rows = blocks.grads
    start, stop = share(grads.size, worker, n_workers, 16)
    total = grads[start:stop]
    copy_into(total, rows[0, start:stop])
    add_later_blocks(rows, start, stop, total, rows.shape[0])
    finite = sgd_step(net.params[start:stop], total, scalars[RATE], net.backup[start:stop])
    scalars[1 + worker] = 1.0 if finite else 0.0
    return 0


@kernel(python=False, linked=False)
def load_blocks(command, net, blocks, data, n_total):
    """``data`` (n_total rows) into the blocks: the inputs X (FORWARD; sample-major when the
    first layer is a BLAS product, else feature-major) or the targets Y (STEP; feature-major)."""
    sizes = net.sizes
    n_blocks = blocks.grads.shape[0]
    width = data.shape[1]
    sample_major = command == FORWARD and inputs_sample_major(sizes)
    for b in range(n_blocks):
        start, stop = share(n_total, b, n_blocks, 1)
        n = stop - start
        target = blocks.x[b] if command == FORWARD else blocks.y[b]
        if sample_major:
            for i in range(n):
                for j in range(width):
                    target[i * width + j] = data[start + i, j]
        else:  # feature-major rows of row_length values, the padding zeroed
            m = row_length(sizes, n, target.itemsize)
            for j in range(width):
                for i in range(n):
                    target[j * m + i] = data[start + i, j]
                for i in range(n, m):
                    target[j * m + i] = 0
    return 0


@kernel(python=False, linked=False)
def gather_outputs(net, blocks, out, n_total):
    """The output layer's activations of every block into ``out`` (n_total, K), sample-major."""
    sizes = net.sizes
    n_blocks = blocks.grads.shape[0]
    k_out = sizes[sizes.size - 1]
    before = 0
    for l in range(1, sizes.size - 1):
        before += sizes[l]
    for b in range(n_blocks):
        start, stop = share(n_total, b, n_blocks, 1)
        n = stop - start
        source = blocks.a[b]
        m = row_length(sizes, n, source.itemsize)
        for j in range(k_out):
            for i in range(n):
                out[start + i, j] = source[(before + j) * m + i]
    return 0


@kernel(inline=True)
def worker_blocks(n_blocks, worker, n_workers):
    return share(n_blocks, worker, n_workers, 1)


@kernel(inline=True)
def wait_until(board, index, seq):
    spins = 0
    while _load_acquire(board, index) < seq:
        spins += 1
        if spins < SPINS_BEFORE_YIELD:
            _spin_pause()
        else:
            _yield_core()


@kernel
def lead(board, binding, command, net, blocks, grads, scalars, data, out, n_total, tutorial,
         n_workers):
    """Load ``data`` (X for FORWARD, Y for STEP; for EVALUATE the blocks hold the batch) into
    the blocks and run ``command`` over every block, sharing them with helpers 1 ...
    n_workers - 1; FORWARD's outputs into ``out``.
    Returns False when a STEP made a parameter NaN or infinite (the caller restores them from
    ``net.backup``), else True."""
    n_blocks = blocks.grads.shape[0]
    if command != EVALUATE:  # (EVALUATE's blocks hold the whole batch already)
        load_blocks(command, net, blocks, data, n_total)
    seq = board[SEQ] + 1
    if n_workers > 1:
        board[COMMAND] = command
        board[BINDING] = binding
        board[N_TOTAL] = n_total
        board[TUTORIAL] = 1 if tutorial else 0
        board[N_WORKERS] = n_workers
        _store_release(board, SEQ, seq)
    first, end = worker_blocks(n_blocks, 0, n_workers)
    blocks_pass(command, first, end, net, blocks, scalars, n_total, tutorial)
    for w in range(1, n_workers):
        if _raise_to(board, w * SLOT + CLAIMED, seq):  # not started: the leader computes it
            first, end = worker_blocks(n_blocks, w, n_workers)
            blocks_pass(command, first, end, net, blocks, scalars, n_total, tutorial)
        else:
            wait_until(board, w * SLOT + DONE, seq)
    if command == FORWARD:
        gather_outputs(net, blocks, out, n_total)
    if command != STEP:
        return True
    if n_workers > 1:
        _store_release(board, GRADIENTS_DONE, seq)
    update_share(0, n_workers, net, blocks, grads, scalars)
    for w in range(1, n_workers):
        if _raise_to(board, w * SLOT + CLAIMED_UPDATE, seq):
            update_share(w, n_workers, net, blocks, grads, scalars)
        else:
            wait_until(board, w * SLOT + DONE_UPDATE, seq)
    finite = True
    for w in range(n_workers):
        finite = finite and scalars[1 + w] != 0.0
    return finite


@kernel
def serve_jobs(worker, board, binding, net, blocks, grads, scalars, seen, spin_ns):
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
                command, n_workers = board[COMMAND], board[N_WORKERS]
                first, end = worker_blocks(blocks.grads.shape[0], worker, n_workers)
                blocks_pass(command, first, end, net, blocks, scalars, board[N_TOTAL],
                            board[TUTORIAL] != 0)
                _store_release(board, base + DONE, seq)
                if command == STEP:
                    wait_until(board, GRADIENTS_DONE, seq)
                    if _raise_to(board, base + CLAIMED_UPDATE, seq):
                        update_share(worker, n_workers, net, blocks, grads, scalars)
                        _store_release(board, base + DONE_UPDATE, seq)
            last = monotonic_ns()
            spins = 0
            continue
        spins += 1
        if (spins & 255) == 0 and monotonic_ns() - last > spin_ns:
            break
        _spin_pause()
    _store_release(board, base + SERVING, 0)
    return seen
