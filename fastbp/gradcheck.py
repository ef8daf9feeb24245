"""Numerical gradient check of every weight *and* bias (the tutorial's check skips the biases)."""
from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from .network import NeuralNetwork

# ``ok`` when the largest relative error is below this.  float32 analytic gradients are compared
# with float64 finite differences of the same parameters, so float32 rounding (~1e-7 relative per
# operation, accumulated over a batch) sets its threshold.
TOLERANCE = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 1e-3}
# Entries where both gradients are below this count as equal (dead ReLUs, saturated outputs).
NEGLIGIBLE = 1e-10


@dataclass
class ParameterCheck:
    """One parameter's analytic and numerical gradients and their relative errors (same shape)."""

    name: str
    analytical: np.ndarray
    numerical: np.ndarray
    rel_error: np.ndarray

    @property
    def max_rel_error(self) -> float:
        """The largest of ``rel_error`` (0.0 for an empty parameter)."""
        return float(self.rel_error.max(initial=0.0))


@dataclass
class GradientCheckResult:
    """Outcome of :func:`gradient_check`: ``ok``, ``max_rel_error`` and per-parameter detail."""

    max_rel_error: float
    ok: bool
    tolerance: float
    per_parameter: dict[str, float] = field(default_factory=dict)   # 'W0' -> max relative error
    details: dict[str, ParameterCheck] = field(default_factory=dict)  # 'W0' -> ParameterCheck

    def table(self, rows_per_parameter: int = 3) -> str:
        """The tutorial-style table: for each parameter, its worst entries.

        Parameters
        ----------
        rows_per_parameter : int, default 3
            How many entries to show per parameter, those with the largest relative errors first.

        Returns
        -------
        str
            The table, one line per entry shown (parameter, index, analytical and numerical
            gradient, relative error, ``OK`` or ``MISMATCH!``), ending with the largest relative
            error and the verdict.
        """
        lines = [f"Gradient check (all parameters, tolerance {self.tolerance:.0e}):",
                 f"  {'Param':>6s} {'Index':>10s}  {'Analytical':>12s}  {'Numerical':>12s}  "
                 f"{'RelErr':>10s}",
                 "  " + "-" * 60]
        for name, check in self.details.items():
            worst = np.argsort(check.rel_error, axis=None)[::-1][:rows_per_parameter]
            for flat_index in worst:
                index = np.unravel_index(flat_index, check.rel_error.shape)
                err = check.rel_error[index]
                status = "OK" if err < self.tolerance else "MISMATCH!"
                lines.append(f"  {name:>6s} {str(tuple(int(i) for i in index)):>10s}  "
                             f"{check.analytical[index]:>12.8f}  {check.numerical[index]:>12.8f}  "
                             f"{err:>10.2e} {status}")
        lines.append(f"  max relative error {self.max_rel_error:.2e}: "
                     f"{'OK' if self.ok else 'MISMATCH'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def relative_error(analytical: np.ndarray, numerical: np.ndarray) -> np.ndarray:
    """|a - n| / max(|a|, |n|), 0 where both are below NEGLIGIBLE.

    Parameters
    ----------
    analytical : numpy.ndarray
        The analytic gradient.
    numerical : numpy.ndarray
        The numerical gradient, of the same shape (or broadcastable against it).

    Returns
    -------
    numpy.ndarray
        The elementwise relative errors, of the broadcast shape.
    """
    scale = np.maximum(np.abs(analytical), np.abs(numerical))
    error = np.abs(analytical - numerical) / np.where(scale > 0, scale, 1.0)
    return np.where(scale < NEGLIGIBLE, 0.0, error)


def gradient_check(nn: NeuralNetwork, X: ArrayLike, y: ArrayLike, eps: float = 1e-5, *,
                   verbose: bool = False) -> GradientCheckResult:
    """Compare ``nn.gradients(X, y)`` with central differences of ``nn.loss`` for every parameter.

    In tutorial mode the biases fail (the tutorial's bias step is the gradient divided by N), and
    with K > 1 outputs the weights too: the tutorial's loss averages over all N x K outputs, but
    its step divides by N only -- K times the gradient.
    A float32 network's gradients are compared with differences taken in float64 on a copy.
    The network is left exactly as it was.  ``verbose=True`` prints the table.

    Parameters
    ----------
    nn : NeuralNetwork
        The network to check.
    X : array-like of shape (N, n_inputs)
        Inputs, as ``nn.gradients`` takes them.
    y : array-like of shape (N, n_outputs) or (N,)
        Targets, as ``nn.gradients`` takes them.
    eps : float, default 1e-5
        The step of the central differences, finite and > 0.
    verbose : bool, default False
        Print the result's table.

    Returns
    -------
    GradientCheckResult
        ``ok`` (the largest relative error below the dtype's tolerance), ``max_rel_error``,
        ``tolerance``, and per parameter (``"W0"``, ``"b0"``, ...) the largest relative error and
        the full comparison.

    Raises
    ------
    TypeError
        If ``eps`` is not a real number, or X or y does not hold real numbers.
    ValueError
        If ``eps`` is not finite and > 0, or X or y is not accepted by the network.
    """
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a real number, got {eps!r}")
    if not 0 < eps < math.inf:
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    snapshot = copy.copy(nn)  # one consistent state, taken under nn's lock (__getstate__)
    dWs, dbs = snapshot.gradients(X, y)
    probe = _float64_copy(snapshot)  # differences on a copy: nn stays untouched
    analytical = {}
    for i, (dW, db) in enumerate(zip(dWs, dbs)):
        analytical[f"W{i}"], analytical[f"b{i}"] = dW, db
    parameters = {}
    for i, (W, b) in enumerate(zip(probe.weights, probe.biases)):
        parameters[f"W{i}"], parameters[f"b{i}"] = W, b
    details = {}
    for name, values in parameters.items():
        numerical = np.empty(values.shape, dtype=np.float64)
        for index in np.ndindex(values.shape):
            original = values[index]
            try:
                values[index] = original + eps
                loss_plus = probe.loss(X, y)
                values[index] = original - eps
                loss_minus = probe.loss(X, y)
            finally:
                values[index] = original
            numerical[index] = (loss_plus - loss_minus) / (2 * eps)
        a = analytical[name].astype(np.float64)
        details[name] = ParameterCheck(name, a, numerical, relative_error(a, numerical))
    tolerance = TOLERANCE[nn.dtype]
    worst = max(check.max_rel_error for check in details.values())
    result = GradientCheckResult(
        max_rel_error=worst, ok=bool(worst < tolerance), tolerance=tolerance,
        per_parameter={name: check.max_rel_error for name, check in details.items()},
        details=details)
    if verbose:
        print(result.table())
    return result


def _float64_copy(nn: NeuralNetwork) -> NeuralNetwork:
    """A float64 network with nn's settings and parameters."""
    from .network import NeuralNetwork

    probe = NeuralNetwork(nn.layer_sizes, activation=nn.activation, output=nn.output,
                          backend=nn.backend, dtype=np.float64,
                          tutorial_compat=nn.tutorial_compat, seed=0)
    probe.weights = list(nn.weights)
    probe.biases = list(nn.biases)
    return probe
