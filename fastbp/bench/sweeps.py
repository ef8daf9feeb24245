"""Many networks at once: the bench's "sweeps" table (``python -m fastbp bench --sweeps``).

For each sweep of ``fastbp.workloads.SWEEPS`` (64 circle networks, 16 spirals networks, seeds x
learning rates, full batch) and optimizer (SGD; Adam), the whole sweep is trained by each way
of running it, interleaved round by round after one untimed round (compilation, worker start):

* ``fastbp fit, one after another``: a Python loop of ``NeuralNetwork(...).fit(...)``;
* ``fastbp.fit_many``: one call;
* ``fastbp in a joblib pool``: the configurations split over a loky pool of as many processes as
  fastbp has threads, each process on one thread;
* ``scikit-learn MLPClassifier, joblib``: the same networks (same hidden layers, ReLU, full-batch
  SGD without momentum at the same rates, no early stop) over the same pool (SGD sweeps only);
* where installed, JAX ``jit(vmap(fori_loop(step)))`` and PyTorch (stacked weights, batched
  ``baddbmm``, autograd) training the sweep's networks from fastbp's initial weights, SGD or
  Adam written out (the issue's way of writing them).

Every sweep runs in float64 by all these ways, then in float32 by ``fit_many`` and the two peers
only (the sweep issue's float32 target is against them; a loop of fits and the pools add minutes
and no target).

Each row: the median time of the sweep and fit_many's speedup over it -- the median of the
per-round ratios, with their interquartile range.  JAX and PyTorch each run in a long-lived
process of their own (``sessions.Spawned``: importing them changes this process's allocator, and
their idle thread pools would compete with fastbp's workers); ``sessions.TURN_SETTLE`` seconds
idle before every turn.  Only public APIs are used.
"""
import importlib.util
import statistics
import time
from dataclasses import dataclass

import numpy as np

import fastbp

from ..workloads import SWEEPS
from .sessions import TURN_SETTLE, opened, timed

PEERS = {"jax": "JAX jit(vmap(fori_loop))", "torch": "PyTorch stacked, batched matmul"}

TARGETS = {("circle", "sequential"): 1.8, ("spirals", "sequential"): 2.0,
           ("circle", "joblib pool"): 1.3, ("spirals", "joblib pool"): 1.3,
           ("circle", "scikit-learn, joblib"): 10.0, ("spirals", "scikit-learn, joblib"): 2.5,
           ("circle", "JAX jit(vmap(fori_loop))"): 2.0, ("spirals", "JAX jit(vmap(fori_loop))"): 2.0,
           ("circle", "PyTorch stacked, batched matmul"): 2.0,
           ("spirals", "PyTorch stacked, batched matmul"): 2.0}


@dataclass(frozen=True)
class Plan:
    sweeps: tuple = ("circle", "spirals")
    optimizers: tuple = ("sgd", "adam")
    dtypes: tuple = ("float64", "float32")
    rounds: int = 5
    seeds: int = None          # fewer seeds (quick runs and tests)
    epochs: int = None


def plan(quick=False, repeats=3):
    if quick:
        return Plan(rounds=3, seeds=2, epochs=100)
    return Plan(rounds=max(3, 2 * repeats - 1))


@dataclass
class Row:
    sweep: str
    optimizer: str
    dtype: str
    way: str
    networks: int
    seconds: float             # median time of the whole sweep
    speedup: float             # fit_many's: median of the per-round ratios way / fit_many
    speedup_iqr: tuple
    target: float = None       # the least speedup the sweep issue asks for, if any


def sequential(X, y, configs):
    for config in configs:
        config = dict(config)
        nn = fastbp.NeuralNetwork(config.pop("layer_sizes"), seed=config.pop("seed"),
                                  dtype=config.pop("dtype"))
        nn.fit(X, y, **config)


def _pool_chunk(X, y, configs):
    """One pool process's share, on one thread."""
    fastbp.set_num_threads(1)
    sequential(X, y, configs)
    return len(configs)


def _sklearn_fit(X, y, config):
    import warnings

    from sklearn.neural_network import MLPClassifier

    sizes = config["layer_sizes"]
    model = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), solver="sgd", momentum=0.0,
                          learning_rate_init=config["lr"], batch_size=len(X), alpha=0.0,
                          max_iter=config["epochs"], n_iter_no_change=config["epochs"] + 1,
                          tol=0.0, shuffle=False, random_state=config["seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, np.ravel(y))
    return model.n_iter_


def ways(X, y, configs, optimizer, dtype, pool):
    """{way: callable training the sweep} for this sweep (float32: fit_many alone)."""
    from joblib import delayed

    if dtype != "float64":
        return {"fit_many": lambda: fastbp.fit_many(X, y, configs)}
    n_jobs = pool.n_jobs
    chunks = [configs[i::n_jobs] for i in range(n_jobs)]
    run = {"sequential": lambda: sequential(X, y, configs),
           "fit_many": lambda: fastbp.fit_many(X, y, configs),
           "joblib pool": lambda: pool(delayed(_pool_chunk)(X, y, chunk) for chunk in chunks)}
    if optimizer == "sgd" and _has_sklearn():
        run["scikit-learn, joblib"] = lambda: pool(delayed(_sklearn_fit)(X, y, config)
                                                   for config in configs)
    return run


def _has_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def sweep_data(name, optimizer, plan, dtype="float64"):
    """(X, y, configs) of sweep ``name`` with ``optimizer`` in ``dtype``, as ``plan`` sizes it
    (X and y float64, as a user passes them: each network converts them to its dtype)."""
    sweep = SWEEPS[name]
    X, y = sweep.data()
    return X, y, sweep.configs(dtype, optimizer, seeds=plan.seeds, epochs=plan.epochs)


def sweep_rows(name, optimizer, dtype, plan, pool, peers, log):
    X, y, configs = sweep_data(name, optimizer, plan, dtype)
    turns = {way: (lambda train=train: timed(train))
             for way, train in ways(X, y, configs, optimizer, dtype, pool).items()}
    if len({tuple(c["layer_sizes"]) for c in configs}) == 1:  # stacked weights: one shape
        for module, session in peers.items():
            session.call("prepare", name, optimizer, plan, dtype)  # compiles, trains once
            turns[PEERS[module]] = lambda session=session: session.call("time")
    times = {way: [] for way in turns}
    for timing in [False] + [True] * plan.rounds:
        for way, turn in turns.items():
            time.sleep(TURN_SETTLE)
            seconds = turn()
            if timing:
                times[way].append(seconds)
    rows = []
    for way in turns:
        ratios = [t / f for t, f in zip(times[way], times["fit_many"])]
        rows.append(Row(name, optimizer, dtype, way, len(configs), statistics.median(times[way]),
                        statistics.median(ratios),
                        tuple(float(q) for q in np.percentile(ratios, [25, 75])),
                        TARGETS.get((name, way)) if plan.seeds is None else None))
    log(f"  sweeps: {name} {optimizer} {dtype} done")
    return rows


@dataclass
class Results:
    plan: Plan
    rows: list
    threads: int


def run(plan, log, isolate=True):
    """The table; JAX and PyTorch (where installed) in long-lived processes of their own
    (``isolate=False``: in this process, for tests)."""
    from joblib import Parallel

    threads = fastbp.get_num_threads()
    makers = {module: (PeerSession, module) for module in PEERS
              if importlib.util.find_spec(module) is not None}
    with opened(makers, isolate, log) as peers:
        with Parallel(n_jobs=threads, backend="loky") as pool:
            rows = [row for name in plan.sweeps for optimizer in plan.optimizers
                    for dtype in plan.dtypes
                    for row in sweep_rows(name, optimizer, dtype, plan, pool, peers, log)]
    return Results(plan, rows, threads)


class PeerSession:
    """One peer's (``"jax"`` or ``"torch"``) stacked-weights training of a sweep, in the process
    of its own."""

    def __init__(self, module):
        self.module = module
        self.train = None

    def prepare(self, name, optimizer, plan, dtype="float64"):
        """Build the sweep's training function and run it once (compilation)."""
        X, y, configs = sweep_data(name, optimizer, plan, dtype)
        make = {"jax": jax_way, "torch": torch_way}[self.module]
        self.train = make(X, y, configs, optimizer, np.dtype(dtype).name)
        self.train()

    def time(self):
        """Seconds of one whole training of the sweep."""
        return timed(self.train)


# -- peers: the same sweep as stacked weights, trained by JAX (vmap) and PyTorch (batched matmul) --

def _initial_stack(configs):
    """Every configuration's initial weights and biases as fastbp draws them (in the
    configurations' dtype), stacked: ([W_l (M, n_in, n_out)], [b_l (M, n_out)]), and the rates
    (M,)."""
    nets = [fastbp.NeuralNetwork(c["layer_sizes"], seed=c["seed"], dtype=c["dtype"])
            for c in configs]
    weights = [np.stack([nn.weights[l] for nn in nets]) for l in range(len(nets[0].weights))]
    biases = [np.stack([nn.biases[l] for nn in nets]) for l in range(len(nets[0].biases))]
    return weights, biases, np.array([c["lr"] for c in configs])


def jax_way(X, y, configs, optimizer, dtype="float64"):
    """``jit(vmap(fori_loop(step)))`` over the sweep (one shape) in ``dtype``, exact gradients of
    the mean binary cross-entropy from the logits; SGD or Adam (PyTorch's formulas) written
    out."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    weights, biases, lrs = _initial_stack(configs)
    epochs = configs[0]["epochs"]
    Xj, yj = jnp.asarray(X, dtype), jnp.asarray(np.reshape(y, (len(X), -1)), dtype)

    def loss(params):
        Ws, bs = params
        a = Xj
        for W, b in zip(Ws[:-1], bs[:-1]):
            a = jnp.maximum(a @ W + b, 0.0)
        z = a @ Ws[-1] + bs[-1]
        return jnp.mean(jnp.maximum(z, 0) - z * yj + jnp.log1p(jnp.exp(-jnp.abs(z))))

    def train(params, lr):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)

        def step(t, state):
            p, m, v = state
            g = jax.grad(loss)(p)
            if optimizer == "sgd":
                return jax.tree_util.tree_map(lambda w, d: w - lr * d, p, g), m, v
            m = jax.tree_util.tree_map(lambda a, d: 0.9 * a + 0.1 * d, m, g)
            v = jax.tree_util.tree_map(lambda a, d: 0.999 * a + 0.001 * d * d, v, g)
            c1 = (1 - 0.9 ** (t + 1.0)).astype(dtype)  # (in float32, t would widen the step)
            c2 = (1 - 0.999 ** (t + 1.0)).astype(dtype)
            p = jax.tree_util.tree_map(
                lambda w, a, b: w - lr * (a / c1) / (jnp.sqrt(b / c2) + 1e-8), p, m, v)
            return p, m, v

        return jax.lax.fori_loop(0, epochs, step, (params, zeros, zeros))[0]

    run = jax.jit(jax.vmap(train))
    params = ([jnp.asarray(W) for W in weights], [jnp.asarray(b) for b in biases])
    lr = jnp.asarray(lrs, dtype)
    return lambda: jax.block_until_ready(run(params, lr))


def torch_way(X, y, configs, optimizer, dtype="float64"):
    """The sweep as stacked weights in PyTorch (in ``dtype``): batched ``baddbmm``, autograd, SGD
    or Adam written out over the stack (per-network rates)."""
    import torch

    weights, biases, lrs = _initial_stack(configs)
    epochs, M = configs[0]["epochs"], len(configs)
    kind = getattr(torch, dtype)
    Xt = torch.as_tensor(X, dtype=kind).expand(M, *X.shape)
    yt = torch.as_tensor(np.reshape(y, (len(X), -1)), dtype=kind).expand(M, len(X), -1)
    lr = torch.as_tensor(lrs, dtype=kind)

    def train():
        Ws = [torch.tensor(W, requires_grad=True) for W in weights]
        bs = [torch.tensor(b[:, None, :], requires_grad=True) for b in biases]
        params = Ws + bs
        m = [torch.zeros_like(p) for p in params]
        v = [torch.zeros_like(p) for p in params]
        for t in range(1, epochs + 1):
            a = Xt
            for W, b in zip(Ws[:-1], bs[:-1]):
                a = torch.relu(torch.baddbmm(b, a, W))
            z = torch.baddbmm(bs[-1], a, Ws[-1])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                z, yt, reduction="none").mean(dim=(1, 2)).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for i, (p, g) in enumerate(zip(params, grads)):
                    rate = lr.view(-1, *([1] * (p.dim() - 1)))
                    if optimizer == "sgd":
                        p -= rate * g
                    else:
                        m[i].mul_(0.9).add_(g, alpha=0.1)
                        v[i].mul_(0.999).addcmul_(g, g, value=0.001)
                        p -= rate * (m[i] / (1 - 0.9 ** t)) / ((v[i] / (1 - 0.999 ** t)).sqrt()
                                                               + 1e-8)
        return params

    return train
