"""``python -m fastbp bench``: fastbp against the tutorial's NumPy class (and PyTorch / JAX if installed).

The workloads are ``fastbp.workloads.WORKLOADS`` (W1-W5).  For each workload and engine the table
shows the median time per epoch (or step) with compilation excluded, the GEMM FLOP rate and its
fraction of a GEMM peak measured in the same run, the speedup over the tutorial's class, the JIT
compile time (first call minus a warm call), and the largest parameter difference from fastbp's
NumPy reference engine after the same training.  Then cold starts, the memory of an epoch, and
the training options on the compiled engine (Adam vs SGD, the output heads, L-BFGS; ``--models``
runs that table alone).

One job per module:

* ``tutorial_class`` -- the tutorial's class, verbatim (the baseline; the tests' oracle too)
* ``runners``        -- one runner per engine (tutorial, numpy, numba, torch, jax): ``RUNNERS``
* ``rounds``         -- ratios taken round by round, their spread, and when to distrust them
* ``sessions``       -- an engine kept alive in a process of its own, timed turn by turn
* ``measure``        -- the interleaved rounds, the GEMM peak, cold start, memory, the machine
* ``models``         -- the training options' table: Adam vs SGD, heads, L-BFGS (numba only)
* ``sklearn_table``  -- fastbp.sklearn against scikit-learn's MLP on its own data sets
* ``sweeps``         -- many networks at once: fit_many against loops, pools, scikit-learn
* ``to_target``      -- time to a target loss: each library's best way (Adam, L-BFGS)
* ``report``         -- the console tables and footnotes, and the ``--markdown`` page
* ``phases``         -- ``python -m fastbp phases``: where a compiled step spends its time

Only fastbp's public API is used here and in ``runners``/``measure`` (``NeuralNetwork``,
``datasets``, ``fit``/``forward``/``backward``, ``weights``/``biases``), so the bench keeps working
while the kernels change; ``phases`` alone reads the compiled engine's internals.
"""
import os
import shlex
import sys

import numpy as np

from .. import calibration
from .. import workloads as _workloads
from . import measure, runners, sessions, sklearn_table, sweeps, to_target
from . import models as models_module
from .report import Report


def command_line(quick=False, workloads=None, threads=None, repeats=3, markdown=None,
                 only_models=False, only_sklearn=False, only_sweeps=False, only_to_target=False):
    """The ``python -m fastbp bench ...`` command that runs these options, after the fastbp
    settings of this process's environment that change what it measures (every ``FASTBP_*``
    variable but ``FASTBP_QUIET``); the page's path relative to the working directory."""
    words = [f"{name}={shlex.quote(value)}" for name, value in sorted(os.environ.items())
             if name.startswith("FASTBP_") and name != "FASTBP_QUIET"]
    words.append("python -m fastbp bench")
    if quick:
        words.append("--quick")
    if only_models:
        words.append("--models")
    if only_sklearn:
        words.append("--sklearn")
    if only_sweeps:
        words.append("--sweeps")
    if only_to_target:
        words.append("--to-target")
    if workloads:
        words.append(f"--workloads {workloads}")
    if threads is not None:
        words.append(f"--threads {threads}")
    if repeats != 3:
        words.append(f"--repeats {repeats}")
    if markdown:
        relative = os.path.relpath(markdown)
        words.append(f"--markdown {markdown if relative.startswith('..') else relative}")
    return " ".join(words)


def run_bench(quick=False, workloads=None, threads=None, repeats=3, cold=None, peak_size=None,
              settle=measure.TURN_SETTLE, out=print, log=None, isolate=True, engines=None, markdown=None,
              models=True, only_models=False, model_plan=None, sklearn=None, only_sklearn=False,
              sklearn_plan=None, sweep_tables=None, only_sweeps=False, sweeps_plan=None,
              to_target_table=None, only_to_target=False, to_target_plan=None):
    """Run the selected workloads on every available engine; print and return the table rows.

    ``workloads``: "W1,W3" (``COLD`` selects the cold-start rows); default all, cold start included.
    ``cold``: force the cold-start measurement on/off (default: when selected).
    ``engines``: the ``runners.Engine``s to run (default: every available one of ``runners.RUNNERS``).
    ``markdown``: also write the results as a Markdown page to this path.
    ``models``: the training options' table after the others (``fastbp.bench.models``; whatever
    the workloads); ``only_models``: that table alone (``--models``; no workload, no cold start).
    ``model_plan``: its sizes (default ``models.plan(quick, repeats)``).
    ``sklearn``: the scikit-learn table (``fastbp.bench.sklearn_table``; default: when
    scikit-learn is installed and the whole bench runs); ``only_sklearn``: that table alone
    (``--sklearn``); ``sklearn_plan``: its plan (default ``sklearn_table.plan(quick, repeats)``).
    ``sweep_tables``, ``only_sweeps``, ``sweeps_plan``: the same for the sweeps table
    (``fastbp.bench.sweeps``, ``--sweeps``; by default when joblib is installed);
    ``to_target_table``, ``only_to_target``, ``to_target_plan``: the same for the time-to-target
    table (``fastbp.bench.to_target``, ``--to-target``; by default in the whole bench).
    Returns ``(rows, cold-start results)``.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    alone = [name for name, flag in (("only_models", only_models), ("only_sklearn", only_sklearn),
                                     ("only_sweeps", only_sweeps),
                                     ("only_to_target", only_to_target)) if flag]
    if len(alone) > 1:
        raise ValueError(f"{' and '.join(alone)} each run one table alone: choose one")
    whole = not workloads and not alone
    if sklearn is None:
        sklearn = sklearn_table.available() and whole
    if sweep_tables is None:
        sweep_tables = _has_joblib() and whole
    if to_target_table is None:
        to_target_table = whole
    if alone:
        if workloads:
            raise ValueError(f"{alone[0]} runs one table alone: no workloads")
        selected, cold, models = [], False, only_models
        sklearn, sweep_tables = only_sklearn, only_sweeps
        to_target_table = only_to_target
    else:
        selected = _workloads.select(workloads, also=("COLD",))
    if cold is None:
        cold = not workloads or "COLD" in workloads.upper()
    thread_note = sessions.set_threads(threads)
    # read (or measure) the calibration before any timing: the engines' processes read it from
    # the store, and a bad FASTBP_MIN_PARALLEL_WORK stops the run here
    calibrated = calibration.current().describe() if selected else None
    if engines is None:
        engines = [engine for engine in runners.RUNNERS if engine.available()]
    peak_size = peak_size or 2048
    peaks = {dtype: measure.gemm_peak(np.dtype(dtype), peak_size, repeats)
             for dtype in sorted({w.dtype for w in selected})}

    rows = (measure.run_workloads(selected, quick, repeats, engines, log, settle, threads, isolate)
            if selected else [])
    cold_results = measure.run_cold_start(quick, log) if cold else None
    memory = measure.epoch_memory(quick) if cold else None
    model_results = (models_module.run_models(model_plan or models_module.plan(quick, repeats),
                                              log, threads, isolate, settle)
                     if models else None)
    sklearn_results = (sklearn_table.run(sklearn_plan or sklearn_table.plan(quick, repeats), log)
                       if sklearn else None)
    sweep_results = (sweeps.run(sweeps_plan or sweeps.plan(quick, repeats), log)
                     if sweep_tables else None)
    to_target_results = (to_target.run(to_target_plan or to_target.plan(quick, repeats), log)
                         if to_target_table else None)

    ran = list(dict.fromkeys(row.engine for row in rows if row.engine != "GEMMs only"))
    if alone:
        ran = ["numba"]
    report = Report(quick=quick, repeats=repeats, engines=ran or [e.name for e in engines],
                    pools=measure.blas_pools(), peaks=peaks, rounds=measure.rounds_for(repeats),
                    peak_size=peak_size, rows=rows,
                    calibration=calibrated,
                    workloads=selected, thread_note=thread_note, cold=cold_results, memory=memory,
                    models=model_results, sklearn=sklearn_results, sweeps=sweep_results,
                    to_target=to_target_results)
    for line in report.lines():
        out(line)
    if markdown:
        command = command_line(quick, workloads, threads, repeats, markdown, only_models,
                               only_sklearn, only_sweeps, only_to_target)
        directory = os.path.dirname(os.path.abspath(markdown))
        os.makedirs(directory, exist_ok=True)
        with open(markdown, "w", encoding="utf-8") as page:
            page.write(report.markdown(command, measure.cpu_name()))
        log(f"  Markdown page written to {markdown}")
    return rows, cold_results


def _has_joblib():
    try:
        import joblib  # noqa: F401
    except ImportError:
        return False
    return True
