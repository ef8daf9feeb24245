"""Time to a good model: each library's way to a target training loss (``bench --to-target``).

Per-epoch speed is not what a user waits for: a better optimizer needs fewer epochs.  For each
problem of ``fastbp.workloads.TO_TARGET`` (the tutorial's circle and spirals, three spirals, and
scikit-learn's digits) every way below trains full batch, from the same initial weights
(scikit-learn's, drawn for ``random_state=0``), until the mean training loss (cross-entropy, no
penalty) reaches the problem's target:

* fastbp ``fit(optimizer="adam")`` and ``fit(optimizer="lbfgs")``;
* scikit-learn's ``MLPClassifier`` with ``solver="adam"`` and ``solver="lbfgs"`` (``alpha=0``,
  no early stop);
* PyTorch: ``torch.optim.Adam`` over autograd, float64 (if installed);
* JAX: Adam written in ``jax.numpy`` (as torch.optim.Adam computes it) over ``jax.grad``, the
  whole loop one ``jit`` (if installed).

How: each library runs in a long-lived process of its own (an idle PyTorch or JAX in the same
process slows the others down, docs/decisions.md).  One untimed run per way finds the epochs
(iterations) it needs -- from its own record of the training loss; for scikit-learn's L-BFGS,
which records none per iteration, the fewest ``max_iter`` whose fit ends at the target (a
bisection) -- and one more fit of that many epochs warms it up (JAX compiles); then fits of
exactly that many epochs from the initial weights are timed, interleaved round by round (every
way in turn, a short idle time before each).  "fastbp faster by" is, round by round, the way's
time over the faster of fastbp's two ways: its median and IQR (``rounds.Ratio``).

Only public APIs are used.
"""
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np

import fastbp

from ..workloads import TO_TARGET
from .rounds import Ratio
from .runners import importable
from .sessions import opened
from .sklearn_table import available as sklearn_available

SETTLE = 0.1  # idle seconds before each timed fit


@dataclass(frozen=True)
class Plan:
    problems: tuple
    rounds: int
    libraries: tuple = None  # of LIBRARIES; None: every one installed


def plan(quick=False, repeats=3):
    """Every problem (digits when scikit-learn is installed); 3 rounds quick, else 2 x repeats + 1."""
    problems = tuple(p for p in TO_TARGET if sklearn_available() or not p.needs_sklearn)
    return Plan(problems, 3 if quick else max(3, 2 * repeats + 1))


@dataclass
class Row:
    problem: object            # workloads.Problem
    way: str                   # "fastbp adam", "sklearn lbfgs", ...
    epochs: int                # epochs (iterations) to the target; None: not reached
    seconds: float = None      # median over the rounds of a fit of that many epochs
    per_round: list = None
    final_loss: float = None   # the training loss the timed fit ends at
    slower: Ratio = None       # this way's time / fastbp's best, round by round

    @property
    def reached(self):
        return self.epochs is not None


@dataclass
class Results:
    plan: Plan
    rows: list
    versions: str


def sizes_of(problem, X, n_classes):
    outputs = 1 if problem.output == "sigmoid" else n_classes
    return [X.shape[1], *problem.hidden, outputs]


def initial_weights(sizes):
    """scikit-learn's initial weights for ``random_state=0`` (ReLU network); without scikit-learn
    (no scikit-learn rows then), fastbp's for ``seed=0``."""
    if not sklearn_available():
        nn = fastbp.NeuralNetwork(sizes, seed=0)
        return [np.array(W) for W in nn.weights], [np.array(b) for b in nn.biases]
    from fastbp.sklearn import initial_parameters

    return initial_parameters(sizes, "relu", np.random.RandomState(0))


def first_reaching(losses, target, before_update=True):
    """The fewest epochs after which the loss is at most ``target`` according to a record of
    per-epoch losses, or None.  ``before_update``: entry i is the loss before epoch i's update
    (the Adam records: after i epochs); else after it (L-BFGS's history: after i + 1)."""
    for index, loss in enumerate(losses):
        if loss <= target:
            return index if before_update else index + 1
    return None


# -- the ways -------------------------------------------------------------------------------------

class FastbpWay:
    def __init__(self, optimizer, problem, X, y, init):
        self.optimizer, self.problem, self.X, self.y, self.init = optimizer, problem, X, y, init
        self.name = f"fastbp {optimizer}"
        self.Y = y.reshape(-1, 1).astype(np.float64) if problem.output == "sigmoid" else y

    def network(self):
        weights, biases = self.init
        nn = fastbp.NeuralNetwork([weights[0].shape[0]] + [W.shape[1] for W in weights],
                                  output=self.problem.output)
        nn.weights, nn.biases = weights, biases
        return nn

    def fit(self, epochs):
        nn = self.network()
        options = ({"optimizer": "lbfgs", "gtol": 0.0} if self.optimizer == "lbfgs"
                   else {"optimizer": "adam", "lr": self.problem.adam_lr, "shuffle": False})
        history = nn.fit(self.X, self.Y, epochs=epochs, **options)
        return history["loss"], nn.loss(self.X, self.Y)

    def epochs_needed(self):
        lbfgs = self.optimizer == "lbfgs"
        cap = self.problem.max_iter if lbfgs else self.problem.max_epochs
        return first_reaching(self.fit(cap)[0], self.problem.target_loss, before_update=not lbfgs)


class SklearnWay:
    def __init__(self, solver, problem, X, y, init):
        self.solver, self.problem, self.X, self.y = solver, problem, X, y
        self.name = f"sklearn {solver}"

    def fit(self, epochs):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(hidden_layer_sizes=self.problem.hidden, solver=self.solver, alpha=0.0,
                              batch_size=len(self.X), learning_rate_init=self.problem.adam_lr,
                              max_iter=epochs, shuffle=False, tol=0.0, n_iter_no_change=epochs + 1,
                              max_fun=10 ** 9, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(self.X, self.y)
        return getattr(model, "loss_curve_", None), model.loss_

    def epochs_needed(self):
        target = self.problem.target_loss
        if self.solver == "adam":
            return first_reaching(self.fit(self.problem.max_epochs)[0], target)
        low, high = 0, self.problem.max_iter  # L-BFGS: the fewest max_iter whose fit ends there
        if self.fit(high)[1] > target:
            return None
        while high - low > 1:
            middle = (low + high) // 2
            if self.fit(middle)[1] <= target:
                high = middle
            else:
                low = middle
        return high


class TorchWay:
    name = "torch adam"

    def __init__(self, problem, X, y, init):
        import torch

        self.torch, self.problem = torch, problem
        self.X = torch.from_numpy(X)
        self.y = (torch.from_numpy(y.reshape(-1, 1).astype(np.float64))
                  if problem.output == "sigmoid" else torch.from_numpy(y))
        self.init = init

    def fit(self, epochs, record=False):
        torch = self.torch
        functional = torch.nn.functional
        params = [torch.tensor(p, requires_grad=True) for W, b in zip(*self.init) for p in (W, b)]
        optimizer = torch.optim.Adam(params, lr=self.problem.adam_lr)
        loss_of = (functional.binary_cross_entropy_with_logits if self.problem.output == "sigmoid"
                   else functional.cross_entropy)
        last = len(params) // 2 - 1
        losses = []
        for _ in range(epochs):
            a = self.X
            for layer in range(last + 1):
                a = torch.addmm(params[2 * layer + 1], a, params[2 * layer])
                if layer < last:
                    a = torch.relu(a)
            loss = loss_of(a, self.y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if record:
                losses.append(loss.item())
        return losses, None

    def epochs_needed(self):
        return first_reaching(self.fit(self.problem.max_epochs, record=True)[0],
                              self.problem.target_loss)


class JaxWay:
    name = "jax adam"

    def __init__(self, problem, X, y, init):
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax import lax

        self.jax, self.problem = jax, problem
        X = jnp.asarray(X)
        Y = (jnp.asarray(y.reshape(-1, 1).astype(np.float64)) if problem.output == "sigmoid"
             else jax.nn.one_hot(y, init[0][-1].shape[1], dtype=jnp.float64))
        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in zip(*init)]
        lr, beta1, beta2, eps = problem.adam_lr, 0.9, 0.999, 1e-8

        def loss(params):
            a = X
            for layer, (W, b) in enumerate(params):
                a = a @ W + b
                if layer < len(params) - 1:
                    a = jax.nn.relu(a)
            if problem.output == "sigmoid":  # binary cross-entropy from the logits
                return jnp.mean(jnp.maximum(a, 0) - a * Y + jnp.log1p(jnp.exp(-jnp.abs(a))))
            return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(a), axis=1))

        value_and_grad = jax.value_and_grad(loss)

        def step(state, t):  # torch.optim.Adam's arithmetic
            params, m, v = state
            value, grads = value_and_grad(params)
            m = jax.tree_util.tree_map(lambda m, g: beta1 * m + (1 - beta1) * g, m, grads)
            v = jax.tree_util.tree_map(lambda v, g: beta2 * v + (1 - beta2) * g * g, v, grads)
            step_size = lr / (1 - beta1 ** t)
            root = jnp.sqrt(1 - beta2 ** t)
            params = jax.tree_util.tree_map(
                lambda p, m, v: p - step_size * m / (jnp.sqrt(v) / root + eps), params, m, v)
            return (params, m, v), value

        def start():
            zeros = jax.tree_util.tree_map(jnp.zeros_like, self.params)
            return self.params, zeros, zeros

        @jax.jit
        def train(epochs):
            def body(t, state):
                return step(state, t + 1.0)[0]
            return lax.fori_loop(0, epochs, body, start())[0]

        @jax.jit
        def trajectory(steps):
            return lax.scan(step, start(), steps)[1]

        self._train, self._trajectory = train, trajectory

    def fit(self, epochs):
        return None, self.jax.block_until_ready(self._train(epochs))

    def epochs_needed(self):
        steps = np.arange(1, self.problem.max_epochs + 1, dtype=np.float64)
        return first_reaching(np.asarray(self._trajectory(steps)), self.problem.target_loss)


LIBRARIES = ("fastbp", "sklearn", "torch", "jax")


def library_ways(library, problem, X, y, init):
    """The ways of ``library`` (one of LIBRARIES) to train ``problem``."""
    if library == "fastbp":
        return [FastbpWay("adam", problem, X, y, init), FastbpWay("lbfgs", problem, X, y, init)]
    if library == "sklearn":
        return [SklearnWay("adam", problem, X, y, init), SklearnWay("lbfgs", problem, X, y, init)]
    return [TorchWay(problem, X, y, init) if library == "torch" else JaxWay(problem, X, y, init)]


def available_libraries():
    return [library for library in LIBRARIES
            if library == "fastbp" or (library == "sklearn" and sklearn_available())
            or (library in ("torch", "jax") and importable(library)())]


class LibrarySession:
    """One library's ways, in the process of its own (``sessions.Spawned``)."""

    def __init__(self, library):
        self.library = library
        self.ways = {}

    def prepare(self, problem):
        """[(way, epochs it needs to reach the target, or None)] for ``problem``; each way that
        reaches it then trains once more, untimed (compilation of that epoch count, caches)."""
        X, y = problem.data()
        init = initial_weights(sizes_of(problem, X, int(y.max()) + 1))
        self.ways = {way.name: way for way in library_ways(self.library, problem, X, y, init)}
        needed = [(name, way.epochs_needed()) for name, way in self.ways.items()]
        for name, epochs in needed:
            if epochs is not None:
                self.ways[name].fit(epochs)
        return needed

    def time(self, name, epochs):
        start = time.perf_counter()
        self.ways[name].fit(epochs)
        return time.perf_counter() - start

    def final_loss(self, name, epochs):
        """The training loss a fit of ``epochs`` ends at (fastbp's ways; None for the others)."""
        way = self.ways[name]
        return float(way.fit(epochs)[1]) if isinstance(way, FastbpWay) else None


# -- the run ------------------------------------------------------------------------------------

def problem_rows(problem, sessions, rounds, log):
    """``problem``'s rows: every library's ways, timed in interleaved rounds."""
    rows = []
    for library, session in sessions.items():
        log(f"  time to target, {problem.key}: {library} ...")
        rows += [(session, Row(problem, name, epochs))
                 for name, epochs in session.call("prepare", problem)]
    reached = [(session, row) for session, row in rows if row.reached]
    for _, row in reached:
        row.per_round = []
    for _ in range(rounds):
        for session, row in reached:
            time.sleep(SETTLE)
            row.per_round.append(session.call("time", row.way, row.epochs))
    fastbp_rows = [row for _, row in reached if row.way.startswith("fastbp ")]
    fastest = ([min(times) for times in zip(*(row.per_round for row in fastbp_rows))]
               if fastbp_rows else None)
    for session, row in reached:
        row.seconds = statistics.median(row.per_round)
        row.final_loss = session.call("final_loss", row.way, row.epochs)
        if fastest is not None:
            row.slower = Ratio.of(row.per_round, fastest)
    return [row for _, row in rows]


def run(plan, log, isolate=True):
    """The table: every library in a long-lived process of its own (``isolate=False``: all in
    this process, for tests)."""
    makers = {library: (LibrarySession, library)
              for library in plan.libraries or available_libraries()}
    with opened(makers, isolate, log, required=("fastbp",)) as sessions:
        rows = []
        for problem in plan.problems:
            rows += problem_rows(problem, sessions, plan.rounds, log)
    return Results(plan, rows, versions())


def versions():
    import importlib.metadata

    found = []
    for package in ("scikit-learn", "torch", "jax"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join([f"fastbp {fastbp.__version__}"] + found)
