"""``fit_many``: many networks trained in one call, each exactly as if trained alone.

A sweep's networks are independent, so each is trained whole by one thread: the worker threads
(``fastbp.get_num_threads()`` of them) take the configurations one after another and train each
network on a single worker -- no barrier per step, every core busy with a network of its own --
in compiled calls that release the GIL.  A seeded fit's bits do not depend on how many workers
train it (``fastbp.policy``), so every network and history is bit-identical to
``nn = NeuralNetwork(**constructor); nn.fit(X, y, **fit)`` run alone.

Configurations whose network draws from NumPy's global random state (``seed`` missing or None)
are constructed and trained in the calling thread, in their order, as a loop of single fits
would; the others go to the worker threads.  Each finished network's training workspaces are
released, so memory grows with the networks trained at once, not with the sweep.  Ctrl-C stops
every fit at its next compiled call (at most ~0.5 s) and leaves each network at a complete state.
"""
from __future__ import annotations

import dataclasses
import inspect
import numbers
import queue
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import threadctl
from ._validation import check_X
from .errors import TrainingDivergedError
from .fitting import check_fit_options
from .network import NeuralNetwork
from .progress import Progress

CONSTRUCTOR_KEYS = ("layer_sizes", "activation", "output", "dtype", "seed", "backend",
                    "tutorial_compat")
FIT_KEYS = ("epochs", "lr", "batch_size", "shuffle", "fit_seed", "optimizer", "momentum",
            "nesterov", "betas", "eps", "weight_decay", "validation_split", "early_stopping",
            "monitor", "patience", "min_delta", "gtol", "max_fun")


# fit's defaults for the keys a configuration may set (fit's own signature: one source)
FIT_DEFAULTS = {name: parameter.default
                for name, parameter in inspect.signature(NeuralNetwork.fit).parameters.items()
                if name in FIT_KEYS}


@dataclasses.dataclass
class _Job:
    index: int
    constructor: dict
    fit: dict
    network: NeuralNetwork = None


def fit_many(X: ArrayLike, y: ArrayLike, configs: Sequence[dict[str, Any]], *,
             validation_data: tuple[ArrayLike, ArrayLike] | None = None,
             verbose: int = 0) -> list[tuple[NeuralNetwork, dict | TrainingDivergedError]]:
    """Train one network per configuration; a list of ``(network, history)`` in their order.

    Parameters
    ----------
    X, y : array-like
        The training data, shared by every network (as ``NeuralNetwork.fit`` takes them).
    configs : sequence of dict
        Each holds ``NeuralNetwork``'s keywords (``layer_sizes`` required; ``activation``,
        ``output``, ``dtype``, ``seed``, ``backend``, ``tutorial_compat``) and ``fit``'s
        (``epochs``, ``lr`` -- a rate, an array or a callable schedule --, ``batch_size``,
        ``shuffle``, ``fit_seed`` for fit's ``seed``, ``optimizer``, ``momentum``, ``nesterov``,
        ``betas``, ``eps``, ``weight_decay``, ``validation_split``, ``early_stopping``,
        ``monitor``, ``patience``, ``min_delta``, ``gtol``, ``max_fun``).
    validation_data : (X_val, y_val), optional
        A validation set for every configuration without a ``validation_split``.
    verbose : int
        1: one progress bar for the sweep (networks finished / total).

    Returns
    -------
    list of (NeuralNetwork, dict or TrainingDivergedError)
        Each network with its history -- bit-identical to its fit alone -- or, for a network
        whose training diverged, the network at its last finite state and the error (with its
        ``history`` and ``epoch``) in place of the history.

    Raises
    ------
    TypeError, ValueError
        A configuration that is not a dict, misses ``layer_sizes``, has an unknown key or a bad
        value: raised before anything trains, naming the configuration's index and the key.
    KeyboardInterrupt
        After Ctrl-C, once every running fit has stopped at a complete state; its ``pairs``
        holds what each configuration reached (a stopped fit: its network and the history of
        the epochs it completed; None: not started).
    """
    if isinstance(configs, dict) or not hasattr(configs, "__iter__"):
        raise TypeError("configs must be a sequence of dicts, one per network")
    configs = list(configs)
    verbose = _check_verbose(verbose)
    jobs = [_job(i, config) for i, config in enumerate(configs)]
    inputs = _shared_inputs(X)
    for job in jobs:  # every fit's options checked before anything trains
        _check_fit(job, inputs, y, validation_data)
    results = [None] * len(jobs)
    serial = [job for job in jobs if job.constructor.get("seed") is None]
    parallel = [job for job in jobs if job.constructor.get("seed") is not None]
    cancel = threading.Event()
    with Progress(len(jobs), verbose, unit="network") as progress:
        lock = threading.Lock()

        def train(job):
            if job.network is None:
                job.network = NeuralNetwork(**job.constructor)
            X_job = inputs(job.network.layer_sizes[0], job.network.dtype)
            results[job.index] = _train(job, X_job, y, validation_data, cancel)
            with lock:
                history = results[job.index][1]
                progress.update(1, history if isinstance(history, dict) else {"loss": []})

        try:
            _run(serial, parallel, train, cancel)
        except KeyboardInterrupt as interrupt:
            interrupt.pairs = results  # what each network reached (None: not started)
            raise
    return results


def _job(index, config):
    if not isinstance(config, dict):
        raise TypeError(f"configs[{index}] must be a dict of keywords, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONSTRUCTOR_KEYS) - set(FIT_KEYS), key=str)
    if unknown:
        raise ValueError(f"configs[{index}]: unknown key {unknown[0]!r} (constructor keys: "
                         f"{', '.join(CONSTRUCTOR_KEYS)}; fit keys: {', '.join(FIT_KEYS)})")
    if "layer_sizes" not in config:
        raise ValueError(f"configs[{index}]: 'layer_sizes' is required")
    constructor = {key: config[key] for key in CONSTRUCTOR_KEYS if key in config}
    fit = {("seed" if key == "fit_seed" else key): config[key] for key in FIT_KEYS
           if key in config}
    seed = constructor.get("seed")
    if seed is not None and not (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        raise TypeError(f"configs[{index}]: 'seed' must be None or an int in a sweep (a Generator "
                        f"would be shared between threads), got {seed!r}")
    return _Job(index, constructor, fit)


def _shared_inputs(X):
    """``inputs(n_features, dtype)``: X as a network of that input width and dtype takes it
    (``check_X``), converted and checked once per width and dtype, so that a sweep's fits share
    one array rather than each converting its own copy."""
    converted = {}

    def inputs(n_features, dtype):
        key = (n_features, np.dtype(dtype).str)
        if key not in converted:
            converted[key] = check_X(X, n_features, dtype)
        return converted[key]

    return inputs


def _check_fit(job, inputs, y, validation_data):
    """The configuration's constructor and fit options checked (X through ``inputs``,
    _shared_inputs); the network built now when its construction draws nothing from NumPy's
    global random state."""
    seeded = job.constructor.get("seed") is not None
    try:
        network = NeuralNetwork(**dict(job.constructor, seed=job.constructor.get("seed") or 0))
    except (TypeError, ValueError) as error:
        raise type(error)(f"configs[{job.index}]: {error}") from None
    options = {**FIT_DEFAULTS, **{key: value for key, value in job.fit.items() if key != "seed"}}
    try:
        check_fit_options(network, inputs(network.layer_sizes[0], network.dtype), y,
                          validation_data=None if options.get("validation_split")
                          else validation_data, **options)
        if "seed" in job.fit and job.fit["seed"] is not None and not (
                isinstance(job.fit["seed"], numbers.Integral)
                and not isinstance(job.fit["seed"], bool)):
            raise TypeError(f"'fit_seed' must be None or an int in a sweep, got {job.fit['seed']!r}")
    except (TypeError, ValueError) as error:
        raise type(error)(f"configs[{job.index}]: {error}") from None
    if seeded:
        job.network = network


def _train(job, X, y, validation_data, cancel):
    """(network, history or TrainingDivergedError) of one job, trained on one worker."""
    nn = job.network
    policy = nn.policy
    nn.policy = dataclasses.replace(policy, workers=1)
    fit = dict(job.fit)
    if validation_data is not None and not fit.get("validation_split"):
        fit["validation_data"] = validation_data
    try:
        history = nn.fit(X, y, cancel=cancel, **fit)
    except TrainingDivergedError as error:
        history = error
    finally:
        nn.policy = policy
        nn.free_workspaces()
    return nn, history


def _run(serial, parallel, train, cancel):
    """The parallel jobs on worker threads, the serial ones in this thread meanwhile, in order."""
    n_threads = min(threadctl.get_num_threads(), len(parallel))
    pending = queue.SimpleQueue()
    for job in parallel:
        pending.put(job)
    errors = []

    def worker():
        while not cancel.is_set():
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                train(job)
            except BaseException as error:  # noqa: B902 -- re-raised in the calling thread
                errors.append(error)
                cancel.set()

    threads = [threading.Thread(target=worker, daemon=True, name=f"fastbp-sweep-{t}")
               for t in range(n_threads)]
    try:
        for thread in threads:
            thread.start()
        for job in serial:
            if cancel.is_set():
                break
            train(job)
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)  # short waits: Ctrl-C reaches this thread between them
    except BaseException:
        cancel.set()
        for thread in threads:
            while thread.is_alive():
                try:
                    thread.join(0.1)
                except KeyboardInterrupt:
                    pass
        raise
    if errors:
        raise errors[0]
    if cancel.is_set():
        raise KeyboardInterrupt


def _check_verbose(verbose):
    if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
    return int(verbose)
