"""The full comparison: every reference posterior (and the 100-d Gaussian), every method.

    python benchmarks/compare_all.py                       # writes benchmarks/results/cpu/
    python benchmarks/compare_all.py --resume               # continue an interrupted run
    python benchmarks/compare_all.py --methods nuts,spiking-poisson --models a,b
    python benchmarks/compare_all.py --out benchmarks/results/lif --methods spiking-lif,nuts

Writes results.json (one record per pair, with machine, versions, seed, settings), results.md
(the Markdown table the README shows), the printed table (table.txt) and the figures.
"""

import argparse
from pathlib import Path

import models
from benchmarks import harness, report
from benchmarks import methods as m

HERE = Path(__file__).parent


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_models = models.list_models(include_synthetic=False) + ["gaussian_ill_d100"]
    # the LIF network (not exact by construction) runs only when named: --methods spiking-lif
    available = m.available_methods(default_only=True)
    parser.add_argument("--models", default=",".join(default_models))
    parser.add_argument("--methods", default=",".join(available))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cpu")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    settings = m.Settings(num_warmup=args.warmup, num_samples=args.samples, seed=args.seed)
    model_names = args.models.split(",")
    results = harness.run(
        model_names, args.methods.split(","), settings, args.out, resume=args.resume
    )
    text = report.table(results)
    print(text)
    (args.out / "table.txt").write_text(text + "\n")
    (args.out / "results.md").write_text(report.markdown_table(results) + "\n")
    for path in report.figures(results, args.out, default_model=model_names[0]):
        print(f"figure: {path}")


if __name__ == "__main__":
    main()
