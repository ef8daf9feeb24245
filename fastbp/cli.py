"""Command line: ``python -m fastbp demo`` (the main job) and ``python -m fastbp bench``."""
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastbp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train the tutorial's networks on both engines")
    demo.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    demo.add_argument("--repeats", type=int, default=3, help="timed runs per engine (median)")
    demo.add_argument("--plot", metavar="PNG", help="save loss curves and decision boundaries")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(dtype=args.dtype, repeats=args.repeats, plot=args.plot)


if __name__ == "__main__":
    main()
