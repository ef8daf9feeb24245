"""Command line: ``python -m fastbp demo`` (the main job), ``bench`` and ``phases``."""
import argparse


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _describe(line):
    """One line for both ``fastbp --help`` (the list of subcommands) and ``fastbp CMD --help``."""
    return {"help": line, "description": line[0].upper() + line[1:] + "."}


def main(argv=None):
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="fastbp", description="fastbp: fast backpropagation for dense neural networks "
        "(Numba kernels behind the tutorial's NeuralNetwork API).")
    parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, title="commands",
                                     metavar="{demo,bench,phases}")
    demo = commands.add_parser("demo", **_describe(
        "train the tutorial's networks on both engines"))
    demo.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    demo.add_argument("--repeats", type=_positive_int, default=3,
                      help="timed runs per engine (median)")
    demo.add_argument("--plot", metavar="PNG", help="save loss curves and decision boundaries")
    bench = commands.add_parser("bench", **_describe(
        "time fastbp against the tutorial's class (W1-W5)"))
    bench.add_argument("--quick", action="store_true", help="small sizes: well under a minute")
    selection = bench.add_mutually_exclusive_group()
    selection.add_argument("--workloads", metavar="W1,W3",
                           help="comma-separated subset of W1..W5 (COLD: the cold-start rows); "
                                "the training options' table runs too")
    selection.add_argument("--models", action="store_true",
                           help="only the training options' table (numba: Adam vs SGD, output "
                                "heads, L-BFGS)")
    selection.add_argument("--sklearn", action="store_true",
                           help="only the table against scikit-learn's MLPClassifier/"
                                "MLPRegressor on its own data sets (needs scikit-learn)")
    selection.add_argument("--sweeps", action="store_true",
                           help="only the sweeps table: fit_many against loops of fits, a joblib "
                                "pool and scikit-learn (needs joblib)")
    selection.add_argument("--to-target", action="store_true",
                           help="only the time-to-target table: each library's best way to a "
                                "target training loss (scikit-learn, PyTorch, JAX if installed)")
    bench.add_argument("--threads", type=_positive_int, metavar="N",
                       help="run every engine on N threads (fastbp.set_num_threads; PyTorch's too)")
    bench.add_argument("--repeats", type=_positive_int, default=3,
                       help="rounds: 2 x repeats + 1 interleaved rounds, at least 5")
    bench.add_argument("--markdown", metavar="PATH",
                       help="also write the results as a Markdown page (e.g. docs/performance.md)")
    commands.add_parser("calibrate", **_describe(
        "measure this CPU's calibration again, store it"))
    phases = commands.add_parser("phases", **_describe(
        "time each phase of one compiled training step"))
    phases.add_argument("--workloads", metavar="W1,W2", default="W1,W2,W3",
                        help="comma-separated subset of W1..W5")
    args = parser.parse_args(argv)
    if args.command == "bench" and args.threads is not None:
        from .threadctl import max_threads

        if args.threads > max_threads():
            parser.error(f"--threads: at most {max_threads()} here (NUMBA_NUM_THREADS), "
                         f"got {args.threads}")
    if args.command == "demo":
        from .demo import run_demo

        run_demo(dtype=args.dtype, repeats=args.repeats, plot=args.plot)
    elif args.command == "bench":
        from .bench import run_bench

        run_bench(quick=args.quick, workloads=args.workloads, threads=args.threads,
                  repeats=args.repeats, markdown=args.markdown, only_models=args.models,
                  only_sklearn=args.sklearn, only_sweeps=args.sweeps,
                  only_to_target=args.to_target)
    elif args.command == "calibrate":
        from .calibration import calibrate

        calibrate()
    elif args.command == "phases":
        from .bench.phases import run_phases

        run_phases(workloads=args.workloads)


if __name__ == "__main__":
    main()
