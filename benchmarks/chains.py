"""Chain scaling: conservative ESS per second of the spiking kernel, NUTS and ChEES at 1 to 4096
vectorised chains.

    python -m benchmarks.chains                      # CPU: writes benchmarks/results/chains/cpu
    python -m benchmarks.chains --out benchmarks/results/chains/gpu-h200   # on a GPU machine
    python -m benchmarks.chains --chains 1,16 --models eight_schools-eight_schools_noncentered

A grid of (posterior, chains C, method) cases run through the harness (benchmarks/harness.py)
with the main benchmark's samplers and records: the total number of draws is held fixed
(``--total-draws``, split as total / C draws per chain), every chain has the same warmup
(``--warmup`` transitions), and every method runs vectorised chains: NUTS with NumPyro's
per-chain adaptation, the IF Hamiltonian network with cross-chain adaptation (one step size,
covariance and trajectory length learned from all chains), ChEES with its cross-chain
adaptation (from 2 chains). Ratios are to NUTS at the same C. Writes results.json (with the
device), table.txt, results.md and chains.png in ``--out``; ``--resume`` skips what is there.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

HERE = Path(__file__).parent
MODELS = (  # cheapest first, so that an interrupted run has whole posteriors
    "eight_schools-eight_schools_noncentered",
    "arK-arK",
    "gaussian_ill_d100",
)
METHODS = ("nuts", "spiking-hamiltonian", "blackjax-chees")
SPIKING_OPTIONS = {"adaptation": "cross_chain"}
MIN_CHAINS = {"blackjax-chees": 2}  # ChEES adapts across chains


def cases(model_names, method_names, chain_counts, total_draws, warmup, seed):
    """The grid: one case per (posterior, chains, method), each with its settings."""
    from benchmarks import harness
    from benchmarks.methods import Settings

    grid = []
    for model in model_names:
        for chains in chain_counts:
            settings = Settings(
                num_chains=chains,
                num_warmup=warmup,
                num_samples=total_draws // chains,
                seed=seed,
                poisson_draws_factor=1,
                poisson_warmup_factor=1,
                error_fractions=(1.0,),
                spiking_options=SPIKING_OPTIONS,
            )
            grid += [
                harness.Case(model, method, chains, settings)
                for method in method_names
                if chains >= MIN_CHAINS.get(method, 1)
            ]
    return grid


def main(argv=None):
    from benchmarks import harness, report
    from benchmarks.__main__ import names

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.chains",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--chains", default="1,16,256,1024,4096")
    parser.add_argument("--total-draws", type=int, default=65536)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "chains" / "cpu")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    import models
    from benchmarks import methods

    chain_counts = [int(c) for c in args.chains.split(",")]
    if any(args.total_draws % c or args.total_draws // c < 4 for c in chain_counts):
        parser.error("--total-draws must be a multiple of every chain count, >= 4 per chain")
    grid = cases(
        names(args.models, models.list_models(), "models"),
        names(args.methods, methods.available_methods(), "methods"),
        chain_counts,
        args.total_draws,
        args.warmup,
        args.seed,
    )
    settings = {
        "total_draws": args.total_draws,
        "warmup_per_chain": args.warmup,
        "seed": args.seed,
        "spiking_options": SPIKING_OPTIONS,
    }
    results = harness.run(
        grid,
        functools.partial(harness.run_method, save_draws=False),
        args.out,
        resume=args.resume,
        progress=not args.quiet,
        settings=settings,
        desc="chains",
    )
    results["timing"] = methods.TIMING_METHOD
    harness.save_results(args.out / "results.json", results)
    machine = results["machine"]
    device = f"{machine['device']} ({machine['processor']}, {machine['cpu_count']} cores)"
    text = report.table(results)
    print(text)
    (args.out / "table.txt").write_text(text + "\n")
    (args.out / "results.md").write_text(report.markdown_table(results) + "\n")
    path = report.scaling_figure(results["records"], args.out / "chains.png", f"on {device}")
    print(f"figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
