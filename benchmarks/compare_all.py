"""The full comparison: every reference posterior (and the 100-d Gaussian), every method.

    python -m benchmarks.compare_all                   # writes benchmarks/results/cpu/
    python -m benchmarks.compare_all --resume          # continue an interrupted run
    python -m benchmarks.compare_all --methods nuts,spiking-poisson --models a,b
    python -m benchmarks.compare_all --out benchmarks/results/lif --methods spiking-lif,nuts

``python -m benchmarks`` with these defaults (any of its flags overrides them). Writes
results.json (one record per run, with machine, versions, seed, settings), table.txt (the
printed table), results.md (the Markdown the README's tables come from) and the figures.
"""

import sys
from pathlib import Path

HERE = Path(__file__).parent


def defaults() -> list[str]:
    import models

    posteriors = models.list_models(include_synthetic=False) + ["gaussian_ill_d100"]
    return ["--models", ",".join(posteriors), "--out", str(HERE / "results" / "cpu")]


def main(argv=None):
    from benchmarks import __main__ as cli

    argv = defaults() + list(sys.argv[1:] if argv is None else argv)
    return cli.main(argv, prog="python -m benchmarks.compare_all")


if __name__ == "__main__":
    sys.exit(main())
