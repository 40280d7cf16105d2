"""Command line: ``python -m benchmarks`` puts the spiking kernel beside NUTS and VI.

python -m benchmarks                               # eight schools, the default methods
python -m benchmarks --methods spiking-lif,nuts    # the LIF network (not exact): its bias
python -m benchmarks --models all --out runs/full --resume
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_MODEL = "eight_schools-eight_schools_noncentered"


def _names(text, choices, what):
    if text == "all":
        return list(choices)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in choices]
    if unknown:
        raise SystemExit(
            f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(choices)} or 'all'"
        )
    return names


def main(argv=None):
    import models
    from benchmarks import harness, report
    from benchmarks import methods as m

    available = m.available_methods()
    default_methods = m.available_methods(default_only=True)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", default=DEFAULT_MODEL, help="comma-separated names or 'all'")
    parser.add_argument(
        "--methods",
        default=",".join(default_methods),
        help=f"from {', '.join(available)}; 'all' is every one but {', '.join(m.INEXACT_METHODS)} "
        "(not exact by construction: name it to run it)",
    )
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vi-steps", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip (model, method) pairs already in OUT/results.json",
    )
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    for name in ("chains", "warmup", "samples", "vi_steps"):
        if getattr(args, name) < (1 if name != "warmup" else 0):
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.samples < 20:
        parser.error("--samples must be at least 20 (the timing needs a short and a full run)")
    model_names = _names(args.models, models.list_models(), "models")
    method_names = (
        default_methods if args.methods == "all" else _names(args.methods, available, "methods")
    )
    settings = m.Settings(
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        seed=args.seed,
        vi_steps=args.vi_steps,
    )
    results = harness.run(
        model_names, method_names, settings, args.out, resume=args.resume, progress=not args.quiet
    )
    print(report.table(results))
    if not args.no_figures:
        for path in report.figures(results, args.out, default_model=model_names[0]):
            print(f"figure: {path}")
    print(f"results: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
