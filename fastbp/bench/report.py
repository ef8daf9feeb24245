"""Formatting the bench's results: the console text and the Markdown page (``--markdown``).

``Report`` holds everything one run measured; ``Report.lines()`` is the console text,
``Report.markdown(...)`` the same tables as a page (``docs/performance.md``-style), with the CPU
and the command that produced it.  The training options' table (``models``) comes last.
"""
import math
from dataclasses import dataclass, field

import numpy as np

import fastbp

from ..workloads import THREE_SPIRALS, gemm_flops, workload
from .models import ADAM_LR


def fmt_time(seconds):
    if seconds is None:
        return "-"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e6:.3g} us"


def fmt_compile(seconds):
    if seconds is None:
        return "-"
    return fmt_time(seconds) if seconds > 0 else "~0"  # below the timing noise


TABLE_HEADER = ["workload", "engine", "time/unit", "GFLOP/s", "%peak", "vs tutorial (IQR)",
                "vs best peer (IQR)", "compile", "/GEMMs (IQR)", "max|dparam|"]


def ratio_text(ratio, digits=2):
    return "-" if ratio is None else ratio.text(digits)


def table_cells(rows, peaks):
    """The main table's rows as strings (TABLE_HEADER's columns)."""
    lines = []
    previous = None
    for row in rows:
        w = row.workload
        gflops = row.flops / row.seconds / 1e9
        label = ""
        if w is not previous:
            label = f"{w.key} {w.title} {w.dtype} /{w.unit}"
        previous = w
        lines.append([
            label, row.engine, fmt_time(row.seconds), f"{gflops:.2f}",
            f"{100 * gflops / peaks[w.dtype]:.1f}%",
            ratio_text(row.vs_tutorial), ratio_text(row.vs_peers),
            fmt_compile(row.compile_seconds), ratio_text(row.gemm_ratio),
            f"{row.diff:.1e}" if row.diff is not None else "-",
        ])
    return lines


# The performance issue's targets for fastbp's compiled engine, checked on every run.
PEER_TARGET = 1.1        # W1, W2, W3, W5: at least this much faster than the best peer
GEMM_TARGET = 1.05       # W4: at most this much slower than its GEMMs alone
PEAK_TARGET = 0.75       # W2, W5: at least this fraction of the GEMM peak
TUTORIAL_TARGET = 2.0    # W3: at least this much faster than the tutorial's class


def target_lines(rows, peaks):
    """[(what, measured, verdict)] for every target the run's rows can judge; verdict "met",
    "missed" or "unsure" (a ratio's 25th-75th percentiles straddle the target: rerun)."""
    out = []
    for row in rows:
        if row.engine != "numba":
            continue
        w = row.workload
        name = f"{w.key} {w.dtype}"
        if w.key in ("W1", "W2", "W3", "W5") and row.vs_peers is not None:
            out.append((f"{name}: >= {PEER_TARGET:g}x the best of PyTorch and JAX",
                        row.vs_peers.text(), row.vs_peers.judge(PEER_TARGET)))
        if w.key == "W4" and row.gemm_ratio is not None:
            out.append((f"{name}: within {GEMM_TARGET:g}x of its GEMMs alone",
                        row.gemm_ratio.text(), row.gemm_ratio.judge(GEMM_TARGET, at_least=False)))
        if w.key in ("W2", "W5"):
            share = row.flops / row.seconds / 1e9 / peaks[w.dtype]
            out.append((f"{name}: >= {PEAK_TARGET:.0%} of the GEMM peak", f"{share:.1%}",
                        "met" if share >= PEAK_TARGET else "missed"))
        if w.key == "W3" and row.vs_tutorial is not None:
            out.append((f"{name}: >= {TUTORIAL_TARGET:g}x the tutorial's class",
                        row.vs_tutorial.text(), row.vs_tutorial.judge(TUTORIAL_TARGET)))
    return out


def target_text(targets):
    return [f"  {verdict.upper() if verdict != 'met' else verdict:6s}  {what}: {measured}"
            for what, measured, verdict in targets]


def format_table(rows, peaks):
    return columns(TABLE_HEADER, table_cells(rows, peaks))


def columns(header, lines):
    widths = [max(len(str(line[i])) for line in [header] + lines) for i in range(len(header))]
    def fmt(line):
        return "  ".join(str(cell).ljust(widths[i]) if i < 2 else str(cell).rjust(widths[i])
                         for i, cell in enumerate(line)).rstrip()
    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule] + [fmt(line) for line in lines])


FOOTNOTES = """
Interleaved rounds: each engine lives in a process of its own for the whole run (importing
  PyTorch or JAX speeds up NumPy code in the same process: allocator thresholds); per workload
  every engine trains once (compilation), then rounds of one turn per engine in table order,
  0.25 s idle before each turn (spinning thread pools would slow the next engine down).
time/unit: median over the rounds of each turn's time per epoch (per step for W3).
  GFLOP/s counts GEMM FLOPs only (forward and dW: 2*N*in*out per layer; delta: 2*N*in*out for
  layers > 0).  %peak: of the np.dot peak above (NumPy's BLAS; the line above says which BLAS
  fastbp's kernels call).
vs tutorial, vs best peer (numba: the faster of PyTorch and JAX in each round), /GEMMs: ratios
  taken round by round -- median (25th-75th percentile); "?" marks a spread (IQR / median) over
  10%: too noisy to trust, rerun.  A target is met (or missed) when the 25th-75th percentiles lie
  wholly past it (or short of it); "unsure" when they straddle it.
compile: first call minus a warm call of the same size (fast engines only; ~0: below the noise).
  In-process, so after the first workload of a dtype numba has little left to compile, and a warm
  on-disk cache makes it a cache load -- see the cold-start lines for a fresh interpreter.
/GEMMs (W4): time per epoch / time of the same step's GEMMs alone ("GEMMs only", timed in the
  numba process in each round: 3 forward, 3 dW and 2 delta np.dot calls into preallocated
  outputs, transposed views, no copies).
max|dparam|: largest weight or bias difference from fastbp's numpy reference engine after the same
  training (the tutorial's class against the reference in tutorial_compat=True, because it uses
  the tutorial's update rule).  W3 trains with lr=0 (weights unchanged), so its difference is
  after one extra step with lr=0.1.
The tutorial's class runs on float32 inputs as a user would: its weights and relu_derivative are
  float64, so most of its float32 arithmetic is float64.  Its full-batch loop is train_network's
  (forward, loss, backward, accuracy) without printing.  PyTorch / JAX (if installed): exact-mode
  math, manual backward; JAX compiles the whole full-batch loop (lax.fori_loop) and scans over
  mini-batches (jit(scan)); they do not record loss/accuracy per epoch, fastbp's fit does."""


COLD_HEADER = ["engine", "process wall", "import fastbp", "first fit"]


# -- the training options' table (fastbp.bench.models) ---------------------------------------------

OPTIMIZER_HEADER = ["workload", "data", "epochs", "sgd/epoch", "adam/epoch", "adam/sgd",
                    "IQR", "target", ""]


def optimizer_cells(rows):
    """"Adam vs SGD": one line per workload (OPTIMIZER_HEADER's columns)."""
    lines = []
    for row in rows:
        w, run = row.run.workload, row.run
        data = f"{run.samples}x{w.sizes[0]} {w.dtype}, " + (
            "full batch" if w.kind == "full" else f"batch {w.batch_size}")
        low, high = row.ratio_iqr
        lines.append([f"{w.key} {w.title} {list(w.sizes)}", data, str(run.epochs),
                      fmt_time(row.sgd), fmt_time(row.adam), f"{row.ratio:.2f}x",
                      f"{low:.2f}-{high:.2f}x", f"<= {row.target:g}x",
                      "met" if row.met else "missed"])
    return lines


HEAD_HEADER = ["output", "y", "time/epoch", "vs sigmoid"]


def head_cells(rows):
    """"Heads": one line per output head (HEAD_HEADER's columns)."""
    return [[row.output, row.y, fmt_time(row.seconds), f"{row.ratio:.2f}x"] for row in rows]


LBFGS_HEADER = ["optimizer", "runs until", "used", "time", "final loss", "accuracy"]


def lbfgs_cells(rows):
    """"L-BFGS on the circle": L-BFGS, then SGD to the same loss (LBFGS_HEADER's columns)."""
    lines = []
    for row in rows:
        if row.optimizer == "lbfgs":
            name, until = "lbfgs", f"converged or {row.most} iterations"
            used = f"{row.used} iterations"
        else:
            name = f"{row.optimizer}, lr {row.lr:g}"
            until = f"loss <= {row.target:.2g} or {row.most} epochs"
            used = f"{row.used} epochs" + ("" if row.reached else " (loss not reached)")
        lines.append([name, until, used, fmt_time(row.seconds), f"{row.loss:.2g}",
                      f"{100 * row.accuracy:.1f}%"])
    return lines


def models_sections(results):
    """The training options' sub-tables: (title, header, cells); two left-aligned columns each."""
    plan = results.plan
    return [
        (f"Adam vs SGD: time per epoch, sgd (the workload's lr) and adam (lr {ADAM_LR}), "
         f"{plan.rounds} interleaved rounds", OPTIMIZER_HEADER,
         optimizer_cells(results.optimizers)),
        (f"Heads: three spirals {list(THREE_SPIRALS.sizes)} "
         f"({3 * plan.head_per_class} samples), adam lr {THREE_SPIRALS.lr}, "
         f"{plan.head_epochs} epochs, {plan.rounds} interleaved rounds",
         HEAD_HEADER, head_cells(results.heads)),
        (f"L-BFGS on the circle {list(workload('W1').sizes)}: time to a good model "
         f"(median of {max(1, plan.repeats)} fits)", LBFGS_HEADER, lbfgs_cells(results.lbfgs)),
    ]


# -- the scikit-learn table (fastbp.bench.sklearn_table) --------------------------------------------

SKLEARN_HEADER = ["data", "solver", "sklearn/epoch", "fastbp/epoch", "speedup", "IQR",
                  "epochs (sk, fb)", "score sklearn", "score fastbp", "to sklearn's score: sk",
                  "fb"]


def sklearn_cells(results):
    """One line per data set x solver (SKLEARN_HEADER's columns)."""
    lines = []
    for row in results.rows:
        low, high = row.speedup_iqr
        shape = f"{row.dataset} {row.shape[0]}x{row.shape[1]}"
        lines.append([shape, row.solver, fmt_time(row.sk_epoch), fmt_time(row.fb_epoch),
                      f"{row.speedup:.1f}x", f"{low:.1f}-{high:.1f}x",
                      f"{row.sk_iters}, {row.fb_iters}", f"{row.sk_score:.4f}",
                      f"{row.fb_score:.4f}" + ("" if row.no_worse else " (lower)"),
                      fmt_time(row.sk_to_target),
                      "not reached" if row.fb_to_target is None else fmt_time(row.fb_to_target)])
    return lines


def sklearn_title(results):
    from .sklearn_table import PER_EPOCH_TARGET

    plan = results.plan
    mean = results.geometric_mean_speedup
    worse = sum(not row.no_worse for row in results.rows)
    return (f"scikit-learn's MLP vs fastbp.sklearn ({results.versions}): hidden {list(plan.hidden)}, "
            f"max_iter {plan.max_iter}, {plan.rounds} interleaved rounds; speedup per epoch, "
            f"geometric mean {mean:.1f}x (target >= {PER_EPOCH_TARGET:g}x: "
            f"{'met' if mean >= PER_EPOCH_TARGET else 'missed'}); fastbp's score lower in "
            f"{worse} of {len(results.rows)}")


SKLEARN_NOTES = """
Data shipped with scikit-learn: breast cancer (binary), digits (10 classes), diabetes (regression,
  target standardised); inputs standardised; 75% trained on, 25% held out (random_state 0).
Both libraries' estimators with the same parameters (scikit-learn's defaults, random_state=0):
  the same initial weights (fastbp.sklearn draws scikit-learn's); each stops on its own (tol).
Each library in a long-lived process of its own (a library's BLAS threads, spinning after its
  fit, slowed the other's next fit down when both ran in one process), fits interleaved, 0.25 s
  idle before each.  sklearn/epoch, fastbp/epoch: median over the rounds of fit time / n_iter_
  (L-BFGS: per iteration); compilation excluded (an untimed first fit).  speedup: median of the
  per-round ratios, IQR their 25th-75th percentiles.  score: held-out accuracy or R^2 after each
  fit.
to sklearn's score: sgd/adam -- epochs of partial_fit (scored after each, untimed) until the
  held-out score reaches scikit-learn's final one (or the whole fit's epochs if it got there
  sooner), times the time per epoch; lbfgs -- the whole fit, if its final score reaches it."""

# -- the sweeps table (fastbp.bench.sweeps) ---------------------------------------------------------

SWEEPS_HEADER = ["sweep", "optimizer", "dtype", "way", "networks", "time", "fit_many faster by",
                 "IQR", "target"]


def sweeps_cells(results):
    lines = []
    for row in results.rows:
        low, high = row.speedup_iqr
        target = "" if row.target is None else (
            f">= {row.target:g}x {'met' if row.speedup >= row.target else 'missed'}")
        lines.append([row.sweep, row.optimizer, row.dtype, row.way, str(row.networks),
                      fmt_time(row.seconds),
                      "-" if row.way == "fit_many" else f"{row.speedup:.2f}x",
                      "-" if row.way == "fit_many" else f"{low:.2f}-{high:.2f}x", target])
    return lines


def sweeps_title(results):
    from ..workloads import SWEEPS

    described = "; ".join(f"{s.key} {list(s.network.sizes)} {s.seeds} seeds x {len(s.lrs)} rates, "
                          f"{s.epochs} epochs" for s in SWEEPS.values())
    quick = " (reduced: quick run)" if results.plan.seeds is not None else ""
    dtypes = " and ".join(results.plan.dtypes)
    return (f"sweeps, many networks at once{quick}: {described}; full batch, {dtypes}; "
            f"{results.threads} threads / pool processes; {results.plan.rounds} interleaved rounds")


SWEEPS_NOTES = """
Each way trains the whole sweep; rounds run every way in turn after one untimed round (compiling,
  starting the pool), 0.25 s idle before each turn; JAX and PyTorch each in a process of its
  own, kept for the whole run.  time: median over the rounds.  fit_many faster by: median of the
  per-round ratios (that way's time / fit_many's), IQR their 25th-75th percentiles.
float32: fit_many and the peers only (the target there is theirs); X is passed in float64.
sequential: NeuralNetwork(...).fit(...) in a loop.  joblib pool: the configurations split over
  a loky pool, fastbp on one thread per process.  scikit-learn: MLPClassifier(solver="sgd",
  momentum=0, batch_size=all, alpha=0, no early stop) with the same hidden layers and rates,
  one fit per task over the same pool."""

MODELS_TITLE = "training options on the compiled engine (numba), fastbp.bench.models"

# -- the time-to-target table (fastbp.bench.to_target) ---------------------------------------------

TO_TARGET_HEADER = ["problem", "network", "target loss", "way", "epochs", "time", "final loss",
                    "slower than fastbp's best (IQR)"]


def to_target_cells(results):
    lines = []
    previous = None
    for row in results.rows:
        p = row.problem
        first = p is not previous
        previous = p
        lines.append([p.key if first else "", f"{list(p.hidden)} {p.output}" if first else "",
                      f"{p.target_loss:g}" if first else "", row.way,
                      str(row.epochs) if row.reached else "not reached",
                      fmt_time(row.seconds), "-" if row.final_loss is None else f"{row.final_loss:.4g}",
                      ratio_text(row.slower)])
    return lines


def to_target_title(results):
    peers = [row for row in results.rows if row.reached and not row.way.startswith("fastbp ")]
    # a peer ahead: faster in the median, or at a target no way of fastbp reached
    ahead = [row for row in peers if row.slower is None or row.slower.median < 1.0]
    verdict = ("fastbp fastest to every target" if not ahead
               else f"fastbp behind {len(ahead)} of {len(peers)} peers' ways")
    return (f"time to a good model ({results.versions}): full batch, the same initial weights, "
            f"{results.plan.rounds} interleaved rounds; {verdict}")


TO_TARGET_NOTES = """
Each way trains full batch from scikit-learn's initial weights for random_state=0 until the mean
  training loss (cross-entropy, no penalty) reaches the target; Adam at the problem's rate for
  every library (torch.optim.Adam's arithmetic; scikit-learn's own), L-BFGS is SciPy's L-BFGS-B in
  both fastbp and scikit-learn.  epochs: epochs (L-BFGS: iterations) the way needs, found by an
  untimed run from its own loss record (scikit-learn's L-BFGS: the fewest max_iter that ends at
  the target).  time: median over the rounds of a whole fit of exactly that many epochs,
  compilation excluded (an untimed fit first); each library in a long-lived process of its own.
slower than fastbp's best: round by round, this way's time / the faster of fastbp's two ways."""

MODELS_NOTES = """
Adam vs SGD: W1 and W2 full batch (W2 at most 500 epochs), W5 one shuffled epoch of mini-batches,
  all from fastbp.workloads.  In one process of its own, rounds sgd, adam, sgd, adam, ..., each
  fit on a fresh NeuralNetwork(sizes, dtype, seed=0), after one untimed round (compilation).
  sgd/epoch, adam/epoch: median fit time / epochs.  adam/sgd: median of the per-round ratios;
  IQR: their 25th-75th percentiles; target: the most adam/sgd allowed (met: the median is within).
Heads: y one-hot as 3 independent labels (sigmoid), integer class labels (softmax), one-hot as
  regression targets (identity); interleaved the same way; vs sigmoid: median per-round ratio.
L-BFGS: fit(epochs=100, optimizer="lbfgs") stops when converged; sgd: plain SGD at W1's lr for
  the epochs that reach L-BFGS's final loss (found by one untimed run of the cap), then fits of
  exactly those epochs from fresh weights timed; final loss and accuracy of the model each fit
  ends with (accuracy on the training data).  time: median wall time of a whole fit."""


@dataclass
class Report:
    """One bench run's results (see ``fastbp.bench.run_bench``)."""

    quick: bool
    repeats: int
    engines: list                    # names of the engines that ran
    pools: str                       # BLAS pools (measure.blas_pools)
    peaks: dict                      # dtype -> GEMM peak GFLOP/s
    peak_size: int
    rows: list                       # measure.Row
    workloads: list                  # the selected workloads
    thread_note: str = None
    rounds: int = None               # interleaved rounds of the workloads' table
    calibration: str = None          # fastbp.calibration.current().describe()
    cold: tuple = None               # (epochs, [(name, (wall, import, first fit))])
    memory: tuple = None             # (samples, peak bytes, budget bytes)
    models: object = None            # fastbp.bench.models.Results
    sklearn: object = None           # fastbp.bench.sklearn_table.Results
    sweeps: object = None            # fastbp.bench.sweeps.Results
    to_target: object = None         # fastbp.bench.to_target.Results
    title: str = field(default="fastbp bench", repr=False)

    def header(self):
        lines = [
            f"{self.title}{' --quick' if self.quick else ''}: engines {', '.join(self.engines)}"
            + (f"; {self.rounds} interleaved rounds" if self.rows else "")
            + f"; numpy {np.__version__}, fastbp {fastbp.__version__}",
            f"BLAS pools: {self.pools}" + (f"; {self.thread_note}" if self.thread_note else ""),
        ]
        if self.calibration:
            lines.append(f"calibration (this CPU): {self.calibration}")
        if self.peaks:
            lines.append(f"GEMM peak (np.dot {self.peak_size}^3, this run): " + ", ".join(
                f"{dtype} {peak:.1f} GFLOP/s" for dtype, peak in self.peaks.items()))
        return lines

    def workload_lines(self):
        """One line per selected workload: its size, FLOPs and what was trained and timed."""
        lines = []
        for w in self.workloads:
            size = w.size(self.quick)
            desc = (f"{size.samples}x{w.sizes[0]} {list(w.sizes)}, "
                    f"{gemm_flops(w.sizes, size.samples) / 1e6:.3g} MFLOP/{w.unit}, ")
            if w.kind == "step":
                desc += (f"forward+backward(lr={w.lr}) steps; a turn: median of "
                         f"{size.blocks} blocks of {size.timed} steps")
            elif w.kind == "full":
                desc += (f"full batch, lr {w.lr}, {size.units} epochs trained and compared; a "
                         f"turn: {size.timed} epochs ({size.slow_timed} for tutorial/numpy/torch)")
            else:
                steps = math.ceil(size.samples / w.batch_size)
                desc += (f"batch {w.batch_size} ({steps} steps/epoch), lr {w.lr}, "
                         f"{size.units} shuffled epoch(s)")
            lines.append(f"{w.key} {w.dtype}: {desc}")
        return lines

    def cold_title(self):
        return (f"cold start: a fresh `python -c` imports fastbp and runs the first W1 fit "
                f"({self.cold[0]} epochs, float64)")

    def cold_cells(self):
        return [[name, fmt_time(wall), fmt_time(imp), fmt_time(fit)]
                for name, (wall, imp, fit) in self.cold[1]]

    def memory_line(self):
        samples, extra, budget = self.memory
        return (f"memory: one W5 epoch ({samples}x784 float32, batch 128) allocates at its peak "
                f"{extra / 2**20:.2f} MiB beyond the data and the network (tracemalloc) = "
                f"{extra / budget:.2f}x the budget of parameters + one batch's activations and "
                f"deltas ({budget / 2**20:.2f} MiB).  The network itself, made before, holds 3 "
                "copies of the parameters (values, gradients, and the backup that makes a "
                "diverging step undoable).")

    def lines(self):
        """The console text."""
        out = self.header()
        if self.rows:
            out += ["", format_table(self.rows, self.peaks), ""]
            targets = target_lines(self.rows, self.peaks)
            if targets:
                out += ["targets (the numba engine, this run):"] + target_text(targets) + [""]
        out += [f"  {line}" for line in self.workload_lines()]
        if self.rows:
            out.append(FOOTNOTES)
        if self.cold:
            out += ["", self.cold_title(), columns(COLD_HEADER, self.cold_cells())]
        if self.memory:
            out += ["", self.memory_line()]
        if self.models:
            out += ["", f"{MODELS_TITLE}:"]
            for title, header, cells in models_sections(self.models):
                out += ["", title, columns(header, cells)]
            out.append(MODELS_NOTES)
        for _, results, title, header, cells, _, notes in self.tables():
            out += ["", f"{title(results)}:", columns(header, cells(results)), notes]
        return out

    def tables(self):
        """The comparison tables this run has: (heading, results, title(results), header,
        cells(results), left-aligned columns, notes)."""
        every = [("scikit-learn", self.sklearn, sklearn_title, SKLEARN_HEADER, sklearn_cells, 2,
                  SKLEARN_NOTES),
                 ("Sweeps", self.sweeps, sweeps_title, SWEEPS_HEADER, sweeps_cells, 4,
                  SWEEPS_NOTES),
                 ("Time to a good model", self.to_target, to_target_title, TO_TARGET_HEADER,
                  to_target_cells, 4, TO_TARGET_NOTES)]
        return [table for table in every if table[1]]

    def markdown(self, command, cpu):
        """The results as a Markdown page: the tables, the CPU, the command that produced it."""
        page = ["# Performance", "",
                f"Generated by `{command}` on {cpu}; do not edit by hand, rerun the command.", ""]
        page += (["## Training", ""] if self.rows else []) + [f"{line}  " for line in self.header()] + [""]
        if self.rows:
            page += markdown_table(TABLE_HEADER, table_cells(self.rows, self.peaks),
                                   left=2) + [""]
            targets = target_lines(self.rows, self.peaks)
            if targets:
                page += ["Targets (the numba engine, this run):", ""]
                page += markdown_table(["target", "measured", ""],
                                       [list(target) for target in targets], left=1) + [""]
        page += [f"* {line}" for line in self.workload_lines()]
        if self.rows:
            page += ["", "```text", FOOTNOTES.strip("\n"), "```"]
        if self.cold:
            page += ["", "## Cold start", "", self.cold_title(), ""]
            page += markdown_table(COLD_HEADER, self.cold_cells(), left=1)
        if self.memory:
            page += ["", "## Memory", "", self.memory_line()]
        if self.models:
            if page[-1]:
                page.append("")
            page += ["## Training options", "", f"{MODELS_TITLE[:1].upper()}{MODELS_TITLE[1:]}."]
            for title, header, cells in models_sections(self.models):
                page += ["", title, ""] + markdown_table(header, cells, left=2)
            page += ["", "```text", MODELS_NOTES.strip("\n"), "```"]
        for heading, results, title, header, cells, left, notes in self.tables():
            if page[-1]:
                page.append("")
            page += [f"## {heading}", "", f"{title(results)}.", ""]
            page += markdown_table(header, cells(results), left=left)
            page += ["", "```text", notes.strip("\n"), "```"]
        return "\n".join(page) + "\n"


def markdown_table(header, lines, left=1):
    """A Markdown table; the first ``left`` columns left-aligned, the rest right-aligned."""
    def row(cells):
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"
    rule = "|" + "|".join(":---" if i < left else "---:" for i in range(len(header))) + "|"
    return [row(header), rule] + [row(line) for line in lines]
