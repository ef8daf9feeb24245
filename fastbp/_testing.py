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
ACTIVATIONS = {"relu": (reference.relu, kernels.RELU), "sigmoid": (reference.sigmoid, kernels.SIGMOID)}


def make_case(kernel, n_in, n_out, n, dtype=np.float64, *, tutorial=False, activation="relu",
              seed=0):
    """Random sample-major inputs of one layer: ``n`` samples, ``n_in`` -> ``n_out`` features.

    ``activation`` ("relu" or "sigmoid") is the dense layer's; ``tutorial`` selects the tutorial's
    output delta and bias gradient.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
    random = np.random.default_rng(seed)
    dtype = np.dtype(dtype)

    def draw(*shape):
        return random.standard_normal(shape).astype(dtype)

    z = draw(n, n_out)
    return {
        "kernel": kernel, "tutorial": tutorial, "activation": activation, "lr": 0.05,
        "W": draw(n_in, n_out), "b": draw(n_out), "a_in": draw(n, n_in),
        "z": z, "a": reference.sigmoid(z), "y": (random.random((n, n_out)) < 0.5).astype(dtype),
        "delta": draw(n, n_out), "z_prev": draw(n, n_in),
        "params": draw(n_in * n_out + n_out), "grads": draw(n_in * n_out + n_out),
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
        delta_prev = reference.propagate_delta(W, c["delta"], c["z_prev"])
        return delta_prev, reference.bias_gradient(delta_prev, c["tutorial"])

    def parameter_update():
        params = c["params"].copy()
        reference.sgd_update(params, c["grads"], c["lr"])
        return params

    return {
        "dense_forward": dense_forward,
        "output_delta": lambda: reference.output_delta(z, a, y, c["tutorial"]),
        "propagate_delta": propagate_delta,
        "weight_gradient": lambda: reference.weight_gradient(a_in, c["delta"], c["tutorial"]),
        "parameter_update": parameter_update,
    }


def _compiled_kernels(c):
    def feature_major(array):
        return np.ascontiguousarray(array.T)

    W, b = c["W"], c["b"]
    a_in, z, a, y = (feature_major(c[k]) for k in ("a_in", "z", "a", "y"))
    delta, z_prev = feature_major(c["delta"]), feature_major(c["z_prev"])
    Z, A, D = (np.empty_like(z) for _ in range(3))
    D_prev = np.empty_like(z_prev)
    dW, db = np.empty_like(W), np.empty_like(b)
    bias_scale = 1.0 / z.shape[1] if c["tutorial"] else 1.0
    params, backup = c["params"].copy(), np.empty_like(c["params"])

    def dense_forward():
        kernels.dense_forward(W, b, a_in, Z, A, ACTIVATIONS[c["activation"]][1])
        return Z.T, A.T

    def output_delta():
        if c["tutorial"]:
            kernels.output_delta_tutorial(a, y, D, a.shape[1])
        else:
            kernels.output_delta(a, y, D, a.shape[1])
        return D.T

    db_prev = np.empty(z_prev.shape[0], dtype=z_prev.dtype)

    def propagate_delta():
        kernels.propagate_delta(W, delta, z_prev, D_prev, db_prev, bias_scale)
        return D_prev.T, db_prev

    def weight_gradient():
        kernels.weight_gradient(a_in, delta, dW)
        kernels.bias_gradient(delta, db, bias_scale)
        return dW, db

    def parameter_update():
        params[...] = c["params"]
        kernels.sgd_step(params, c["grads"], c["lr"], backup)
        return params

    return {"dense_forward": dense_forward, "output_delta": output_delta,
            "propagate_delta": propagate_delta, "weight_gradient": weight_gradient,
            "parameter_update": parameter_update}
