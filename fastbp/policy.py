"""How a fit is run: every tunable in one place, computed once per fit into a :class:`FitPlan`.

A fit's *results* depend on one choice only, :func:`reduction_blocks`: every batch is split into
a fixed number of blocks whose losses and gradients are summed in block order.  It depends on
the batch size, the network and the machine's CPU count -- never on the thread setting, the
machine's load or how the work is shared out -- so a seeded fit gives the same bits whether one
worker or several compute the blocks, and when a team hands over to one worker mid-fit.  Every
other choice here (workers, epochs per compiled call, the fallback's thresholds) changes only
how fast a fit runs.

Tests and users with unusual machines change a policy per network, never module globals::

    nn.policy = dataclasses.replace(nn.policy, min_parallel_work=0)

The defaults were measured on 2-core machines; the decisions log (docs/decisions.md) has the
numbers behind each.
"""
import dataclasses
import os

from .kernels import use_blas

MAX_BLOCKS = 8


def _machine_cpus():
    """The machine's CPU count (not the process's affinity nor the thread setting), at most
    MAX_BLOCKS: each block keeps a gradient row, so blocks must not grow with a big host."""
    return min(os.cpu_count() or 1, MAX_BLOCKS)


@dataclasses.dataclass(frozen=True)
class Policy:
    """The tunables of how fits are run.

    Attributes
    ----------
    min_block_work : int
        Multiply-adds (samples x parameters) a reduction block must have: a batch is split into
        more blocks only while each keeps this much work (a block is the unit a worker computes
        between two barriers; smaller ones cost more in barriers than they save).
    min_block_samples : int
        Samples a reduction block must have (a block of a few samples turns a wide layer's
        matrix product into many thin ones).
    max_blocks : int
        The most blocks a batch is split into (and so the most workers a fit can use); the
        default is the machine's CPU count, at most MAX_BLOCKS = 8.
    min_parallel_work : int or None
        Multiply-adds of a whole fit below which it runs on one worker (waking threads and
        binding them to CPUs costs a fixed time per compiled call); None: the value measured
        for this machine's CPU (``fastbp.calibration``).
    min_step_work : int
        Multiply-adds (samples x parameters) of a recording ``forward`` below which it and its
        ``backward`` compute the batch as one block on the calling thread; from it on, in the
        batch's reduction blocks shared with helper threads (fastbp.helpers).  Changing it
        changes the bits of those steps (it decides their blocks).  L-BFGS evaluations (always
        in the fit's blocks) use helpers from it on too: there it changes only the speed.
    max_call_work : int
        Multiply-adds of one compiled training call: fit returns to Python between calls,
        where Ctrl-C is seen -- about every 0.1-0.5 s on 2-core machines.
    max_order_entries : int
        Sample indices of the shuffled orders prepared at once for mini-batch training (bounds
        their memory).
    workers : int or None
        The workers of a fit that splits its batches (at most one per block); None: the thread
        count (``fastbp.get_num_threads()``).  More workers than cores only wait for each other.
    wait_window_ns, wait_limit : int, float
        The team's fallback: over windows of at least ``wait_window_ns``, when some worker
        waited at barriers for more than ``wait_limit`` of the window, another worker had no
        core (a busy process on it; more workers than cores) and the rest of the fit runs on
        one worker -- with the same results, since the blocks do not change.
    """

    min_block_work: int = 8192
    min_block_samples: int = 16
    max_blocks: int = dataclasses.field(default_factory=_machine_cpus)
    min_parallel_work: int | None = None
    min_step_work: int = 200_000
    max_call_work: int = 2_000_000_000
    max_order_entries: int = 1 << 20
    workers: int = None
    wait_window_ns: int = 5_000_000
    wait_limit: float = 0.4

    def __post_init__(self):
        for name in ("min_block_work", "min_block_samples", "min_parallel_work", "min_step_work",
                     "max_call_work", "wait_window_ns"):
            value = getattr(self, name)
            if name == "min_parallel_work" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Policy.{name} must be an int >= 0"
                             + (" or None" if name == "min_parallel_work" else "")
                             + f", got {value!r}")
        for name in ("max_blocks", "max_order_entries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Policy.{name} must be an int >= 1, got {value!r}")
        if self.workers is not None and (isinstance(self.workers, bool)
                                         or not isinstance(self.workers, int) or self.workers < 1):
            raise ValueError(f"Policy.workers must be None or an int >= 1, got {self.workers!r}")
        if isinstance(self.wait_limit, bool) or not isinstance(self.wait_limit, (int, float)):
            raise ValueError(f"Policy.wait_limit must be a number, got {self.wait_limit!r}")


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """How one fit runs, decided once before it starts.

    ``n_blocks``: the batch's reduction blocks (the only choice that affects results);
    ``n_workers``: threads computing them (<= n_blocks); ``epochs_per_call``: epochs of one
    compiled call; ``one_blas_thread``: BLAS pools held at one thread during the calls (workers
    each own a core, and a BLAS product's bits can depend on its thread count);
    ``wait_window_ns``/``wait_limit``: the team's fallback thresholds (see :class:`Policy`).
    """

    n_blocks: int
    n_workers: int
    epochs_per_call: int
    one_blas_thread: bool
    wait_window_ns: int
    wait_limit: float

    def after_fallback(self):
        """The plan for the rest of a fit whose team handed over to one worker."""
        return dataclasses.replace(self, n_workers=1)


def n_parameters(layer_sizes):
    return sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def reduction_blocks(policy, layer_sizes, batch):
    """Blocks a batch of ``batch`` samples is split into: the most, up to ``policy.max_blocks``,
    that each keep ``policy.min_block_work`` multiply-adds and ``policy.min_block_samples``
    samples."""
    n_params = n_parameters(layer_sizes)
    n_blocks = min(policy.max_blocks, max(batch, 1))
    while n_blocks > 1 and ((batch // n_blocks) * n_params < policy.min_block_work
                            or batch // n_blocks < policy.min_block_samples):
        n_blocks -= 1
    return n_blocks


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """How one stand-alone ``forward``/``backward`` pair runs: ``n_blocks`` reduction blocks (the
    only choice that affects results), ``n_workers`` threads computing them (the caller and
    ``n_workers - 1`` helpers, fastbp.helpers), ``one_blas``: the network has BLAS layers
    (blocks then run their BLAS products on one thread)."""

    n_blocks: int
    n_workers: int
    one_blas: bool


def helper_workers(policy, layer_sizes, n_samples, n_blocks, *, threads):
    """Workers (the caller and awake helpers, fastbp.helpers) for one call over ``n_blocks``
    blocks of ``n_samples`` samples: up to ``threads`` (or ``policy.workers``), one per block,
    when the call has at least ``policy.min_step_work`` multiply-adds, else one."""
    if n_samples * n_parameters(layer_sizes) < policy.min_step_work:
        return 1
    return min(threads if policy.workers is None else policy.workers, n_blocks)


def plan_step(policy, layer_sizes, n_samples, *, threads):
    """The StepPlan of a recording ``forward`` of ``n_samples`` samples (and its ``backward``):
    one block on the calling thread below ``policy.min_step_work`` multiply-adds (splitting a
    small step costs more than it saves); else the batch's reduction blocks, as a fit's, on
    ``helper_workers``.  The blocks depend on the step's size and the machine only."""
    if n_samples * n_parameters(layer_sizes) < policy.min_step_work:
        return StepPlan(n_blocks=1, n_workers=1, one_blas=False)
    n_blocks = reduction_blocks(policy, layer_sizes, n_samples)
    return StepPlan(n_blocks=n_blocks,
                    n_workers=helper_workers(policy, layer_sizes, n_samples, n_blocks,
                                             threads=threads),
                    one_blas=n_blocks > 1 and has_blas_layers(layer_sizes))


def has_blas_layers(layer_sizes):
    return any(use_blas(a, b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


DEFAULT_MIN_PARALLEL_WORK = 20_000_000  # plan_fit's when no calibration is given


def plan_fit(policy, layer_sizes, n_samples, batch_size, epochs, *, threads, progress=False,
             calibrated=lambda: DEFAULT_MIN_PARALLEL_WORK):
    """The FitPlan of a fit of ``epochs`` epochs over ``n_samples`` samples in batches of
    ``batch_size`` (None: full batch), with ``threads`` threads allowed (the thread setting);
    ``progress``: a progress bar is shown (then about 20 calls, so it moves).  ``calibrated()``
    gives ``min_parallel_work`` when the policy leaves it to the machine (None); it is called
    only for a fit that could use several workers."""
    batch = n_samples if batch_size is None else batch_size
    n_params = n_parameters(layer_sizes)
    n_blocks = reduction_blocks(policy, layer_sizes, batch)
    n_workers = min(threads if policy.workers is None else policy.workers, n_blocks)
    if n_workers > 1:
        threshold = (calibrated() if policy.min_parallel_work is None
                     else policy.min_parallel_work)
        if n_samples * n_params * epochs < threshold:
            n_workers = 1
    per_call = max(epochs, 1)
    if progress:
        per_call = max(1, epochs // 20)
    if batch_size is not None:
        per_call = min(per_call, max(1, policy.max_order_entries // n_samples))
    per_call = min(per_call, max(1, policy.max_call_work // (n_samples * n_params)))
    return FitPlan(n_blocks=n_blocks, n_workers=n_workers, epochs_per_call=per_call,
                   one_blas_thread=has_blas_layers(layer_sizes),
                   wait_window_ns=policy.wait_window_ns, wait_limit=float(policy.wait_limit))
