"""Command line: ``python -m benchmarks`` puts the spiking kernel beside NUTS, nutpie, BlackJAX
MAMS and ChEES, and VI run to convergence, on benchmark posteriors.

python -m benchmarks                               # eight schools, the default methods
python -m benchmarks --methods spiking-lif,nuts    # the LIF network (not exact): its bias
python -m benchmarks --models all --out runs/full --resume
python -m benchmarks --methods spiking-hamiltonian,nuts --spiking-option spike_quantum=2

Prints the table (led by the conservative ESS per gradient and per second of warmup plus
sampling; see benchmarks/report.py) and writes OUT/results.json, one record per run, as soon
as each run ends, then OUT/table.txt, OUT/results.md, OUT/summary.md (the IF network against
each peer, and where it is behind) and the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

DEFAULT_MODEL = "eight_schools-eight_schools_noncentered"


def names(text, choices, what):
    """Comma-separated names (or 'all') checked against ``choices``."""
    if text == "all":
        return list(choices)
    picked = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in picked if n not in choices]
    if unknown:
        raise SystemExit(
            f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(choices)} or 'all'"
        )
    return picked


def option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> (key, value); the value a Python literal if it parses as one."""
    import ast

    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def positive(parser, args, *flags, allow_zero=("warmup",)):
    for name in flags:
        if getattr(args, name) < (0 if name in allow_zero else 1):
            parser.error(f"--{name.replace('_', '-')} must be positive")


def main(argv=None, prog="python -m benchmarks"):
    import models
    from benchmarks import harness, report
    from benchmarks import methods as m

    available = m.available_methods()
    default_methods = m.available_methods(default_only=True)
    parser = argparse.ArgumentParser(
        prog=prog,
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
    parser.add_argument(
        "--vi-max-steps", type=int, default=m.PlateauRule.max_steps, help="VI's step cap"
    )
    parser.add_argument(
        "--spiking-option",
        type=option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a SpikingKernel option for the spiking methods (repeatable), e.g. spike_quantum=2",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip runs already in OUT/results.json (in the current record format)",
    )
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    positive(parser, args, "chains", "warmup", "samples", "vi_max_steps")
    if args.samples < 20:
        parser.error("--samples must be at least 20 (ESS and R-hat need split chains)")
    model_names = names(args.models, models.list_models(), "models")
    method_names = (
        default_methods if args.methods == "all" else names(args.methods, available, "methods")
    )
    settings = m.Settings(
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        seed=args.seed,
        vi=dataclasses.replace(m.PlateauRule(), max_steps=args.vi_max_steps),
        spiking_options=dict(args.spiking_option),
    )
    cases = [
        harness.Case(model, method, args.chains, settings)
        for model in model_names
        for method in method_names
    ]
    results = harness.run(
        cases,
        harness.run_method,
        args.out,
        resume=args.resume,
        progress=not args.quiet,
        settings=settings.to_dict(),
    )
    results["timing"] = m.TIMING_METHOD
    harness.save_results(args.out / "results.json", results)
    text = report.table(results)
    print(text)
    (args.out / "table.txt").write_text(text + "\n")
    (args.out / "results.md").write_text(report.markdown_table(results) + "\n")
    if any(r["method"] == "spiking-hamiltonian" for r in results["records"]):
        summary = report.peer_table(results) + "\n\nBehind an exact peer:\n\n"
        summary += "\n".join(f"- {line}" for line in report.behind(results)) + "\n"
        (args.out / "summary.md").write_text(summary)
    if not args.no_figures:
        for path in report.figures(results, args.out, default_model=model_names[0]):
            print(f"figure: {path}")
    print(f"results: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
