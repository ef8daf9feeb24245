"""Private test and benchmark helper (like ``numpy.testing``'s private helpers; not public API):
one table of the per-layer kernels, for both engines, driving tests/test_kernels.py and
benchmarks/bench_kernels.py.

Every kernel is described by its name in ``KERNELS``; :func:`make_case` draws sample-major inputs
for one layer shape and :func:`prepare` returns a warm callable that runs that kernel on one
engine and returns its outputs sample-major, so the two engines can be compared entry by entry
(tests) or timed on identical data (asv).  Preparation -- transposing inputs into the compiled
engine's feature-major buffers and compiling -- happens in ``prepare``, outside the timed call.

    case = make_case("dense_forward", n_in=64, n_out=32, n=500, dtype=np.float32)
    run = prepare("numba", "dense_forward", case)
    Z, A = run()
"""
import numpy as np

from . import kernels, reference

KERNELS = ("dense_forward", "output_delta", "propagate_delta", "weight_gradient", "parameter_update")
# name -> (the reference's function, the kernels' code); softmax is an output layer's
ACTIVATIONS = {"relu": (reference.relu, kernels.RELU),
               "leaky_relu": (reference.leaky_relu, kernels.LEAKY_RELU),
               "tanh": (reference.tanh, kernels.TANH),
               "sigmoid": (reference.sigmoid, kernels.SIGMOID),
               "identity": (reference.identity, kernels.IDENTITY),
               "softmax": (reference.softmax, kernels.SOFTMAX)}
HEADS = {"sigmoid": kernels.SIGMOID, "softmax": kernels.SOFTMAX, "identity": kernels.IDENTITY}
# optimizer settings of the parameter_update cases (3 steps each, weight decay on the weights)
OPTIMIZERS = {
    "sgd": dict(optimizer="sgd"),
    "sgd_decay": dict(optimizer="sgd", weight_decay=0.01),
    "momentum": dict(optimizer="sgd", momentum=0.9, weight_decay=0.01),
    "nesterov": dict(optimizer="sgd", momentum=0.9, nesterov=True),
    "adam": dict(optimizer="adam", betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
}
UPDATE_STEPS = 3


def make_case(kernel, n_in, n_out, n, dtype=np.float64, *, tutorial=False, activation="relu",
              head="sigmoid", optimizer="sgd", delta_layout=None, seed=0):
    """Random sample-major inputs of one layer: ``n`` samples, ``n_in`` -> ``n_out`` features.

    ``activation`` is the dense layer's (dense_forward) or the previous layer's
    (propagate_delta); ``head`` the output layer's (output_delta; ``tutorial`` selects the
    tutorial's output delta and bias gradient for a sigmoid head); ``optimizer`` a key of
    ``OPTIMIZERS`` (parameter_update); ``delta_layout`` how the compiled weight_gradient lays
    out a BLAS product's delta: ``"sample_major"`` (a transposed copy first) or
    ``"feature_major"``, by default as training does for a layer after the first
    (``kernels.delta_sample_major``).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    if head not in HEADS or optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown head {head!r} or optimizer {optimizer!r}")
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
    if delta_layout not in (None, "sample_major", "feature_major"):
        raise ValueError(f"unknown delta_layout {delta_layout!r}")
    random = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if delta_layout is None:
        float32 = dtype == np.float32
        delta_layout = ("sample_major" if kernels.delta_sample_major(n_in, n_out, n, float32)
                        else "feature_major")

    def draw(*shape):
        return random.standard_normal(shape).astype(dtype)

    z = draw(n, n_out)
    if head == "softmax":
        y = np.eye(n_out, dtype=dtype)[random.integers(0, n_out, n)]
    elif head == "identity":
        y = draw(n, n_out)
    else:
        y = (random.random((n, n_out)) < 0.5).astype(dtype)
    z_prev = draw(n, n_in)
    hidden = "relu" if activation == "softmax" else activation
    decay = np.zeros(n_in * n_out + n_out, dtype)
    decay[:n_in * n_out] = 1
    return {
        "kernel": kernel, "tutorial": tutorial and head == "sigmoid", "activation": activation,
        "head": head, "optimizer": optimizer, "lr": 0.05, "delta_layout": delta_layout,
        "W": draw(n_in, n_out), "b": draw(n_out), "a_in": draw(n, n_in),
        "z": z, "a": reference.HEADS[head](z), "y": y,
        "delta": draw(n, n_out), "z_prev": z_prev, "hidden": hidden,
        "a_prev": reference.ACTIVATIONS[hidden](z_prev),
        "params": draw(n_in * n_out + n_out), "grads": draw(UPDATE_STEPS, n_in * n_out + n_out),
        "decay": decay,
    }


def prepare(engine, kernel, case):
    """A zero-argument callable running ``kernel`` on ``engine`` ("numpy" or "numba") over ``case``."""
    if engine in ("numpy", "reference"):
        run = _reference_kernels(case)[kernel]
    elif engine in ("numba", "jit"):
        run = _compiled_kernels(case)[kernel]
    else:
        raise ValueError(f"unknown engine {engine!r}")
    run()  # compile (numba) and touch memory outside any timing
    return run


def _reference_kernels(c):
    W, b, a_in, z, a, y = c["W"], c["b"], c["a_in"], c["z"], c["a"], c["y"]

    def dense_forward():
        z_out = a_in @ W + b
        return z_out, ACTIVATIONS[c["activation"]][0](z_out)

    def propagate_delta():
        delta_prev = reference.propagate_delta(W, c["delta"], c["z_prev"], c["a_prev"], c["hidden"])
        return delta_prev, reference.bias_gradient(delta_prev, c["tutorial"])

    def parameter_update():
        params, state = c["params"].copy(), {}
        settings = OPTIMIZERS[c["optimizer"]]
        for t, grads in enumerate(c["grads"], start=1):
            reference.optimizer_update(params, grads, c["lr"], state, t, decay=c["decay"],
                                       **settings)
        return params

    return {
        "dense_forward": dense_forward,
        "output_delta": lambda: reference.output_delta(z, a, y, c["tutorial"], c["head"]),
        "propagate_delta": propagate_delta,
        "weight_gradient": lambda: reference.weight_gradient(a_in, c["delta"], c["tutorial"]),
        "parameter_update": parameter_update,
    }


def _compiled_kernels(c):
    def feature_major(array):
        return np.ascontiguousarray(array.T)

    W, b = c["W"], c["b"]
    a_in, z, a, y = (feature_major(c[k]) for k in ("a_in", "z", "a", "y"))
    delta, z_prev, a_prev = (feature_major(c[k]) for k in ("delta", "z_prev", "a_prev"))
    Z, A, D = (np.empty_like(z) for _ in range(3))
    D_prev = np.empty_like(z_prev)
    dW, db = np.empty_like(W), np.empty_like(b)
    bias_scale = 1.0 / z.shape[1] if c["tutorial"] else 1.0
    params, backup = c["params"].copy(), np.empty_like(c["params"])
    settings = OPTIMIZERS[c["optimizer"]]
    betas = settings.get("betas", (0.9, 0.999))
    record = kernels.Optimizer(kernels.ADAM if settings["optimizer"] == "adam" else kernels.SGD,
                               float(settings.get("momentum", 0.0)),
                               bool(settings.get("nesterov", False)), float(betas[0]),
                               float(betas[1]), float(settings.get("eps", 1e-8)),
                               float(settings.get("weight_decay", 0.0)))
    size = params.size
    velocity, m, v = np.zeros(size, params.dtype), np.zeros(size, params.dtype), np.zeros(size, params.dtype)

    def dense_forward():
        kernels.dense_forward(W, b, a_in, Z, A, ACTIVATIONS[c["activation"]][1], True)
        if c["activation"] == "softmax":  # an output layer: the network's pass finishes it
            kernels.softmax(Z, A)
        return Z.T, A.T

    def output_delta():
        kernels.head_delta(a, y, D, a.shape[1], HEADS[c["head"]], c["tutorial"])
        return D.T

    db_prev = np.empty(z_prev.shape[0], dtype=z_prev.dtype)

    def propagate_delta():
        kernels.propagate_delta(W, delta, a_prev, D_prev, db_prev, bias_scale,
                                ACTIVATIONS[c["hidden"]][1])
        return D_prev.T, db_prev

    T = np.empty((delta.shape[1], delta.shape[0]) if c["delta_layout"] == "sample_major" else (0, 0),
                 delta.dtype)

    def weight_gradient():
        kernels.weight_gradient(a_in, delta, dW, T, a_in.shape[1])
        kernels.bias_gradient(delta, db, bias_scale)
        return dW, db

    def parameter_update():
        params[...] = c["params"]
        for array in (velocity, m, v):
            array[...] = 0
        for t, grads in enumerate(c["grads"], start=1):
            kernels.optimizer_update(params, grads, c["lr"], backup, record, velocity, m, v,
                                   c["decay"], t)
        return params

    return {"dense_forward": dense_forward, "output_delta": output_delta,
            "propagate_delta": propagate_delta, "weight_gradient": weight_gradient,
            "parameter_update": parameter_update}
