"""Medians over seeds: the spiking network's efficiency against each peer, from several runs.

    python -m benchmarks.seeds benchmarks/results/cpu/results.json RUN1/results.json ...

For each posterior and peer, the ratio (subject over peer) of the conservative ESS per
gradient and per second of warmup plus sampling in each run where both are exact, and its
median over the runs; then, over the posteriors, the median of those medians, the smallest,
and the posteriors below 1x per gradient. Also the subject's exact count per run and its
largest warmup-gradient ratio. The correlated Gaussians (``gaussian_corr_*``) are left out.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from benchmarks import report

SUBJECT = "spiking-hamiltonian"


def find(records, model, method):
    for record in records:
        if record["model"] == model and record["method"] == method:
            return None if report._failure(record) is not None else record
    return None


def summary(runs: list[list[dict]], peers, subject: str = SUBJECT) -> list[str]:
    models = [m for m in dict.fromkeys(r["model"] for r in runs[0]) if "gaussian_corr" not in m]
    exact = [sum(bool((find(rs, m, subject) or {}).get("passed")) for m in models) for rs in runs]
    lines = [f"{subject} exact per run: {exact} of {len(models)} posteriors"]
    for peer in peers:
        per_grad, per_s, warmup, names = [], [], [], []
        for model in models:
            grad, second, wu = [], [], []
            for records in runs:
                ours, theirs = find(records, model, subject), find(records, model, peer)
                if not (ours and theirs and ours.get("passed") and theirs.get("passed")):
                    continue
                grad.append(ours["ess_per_grad"] / theirs["ess_per_grad"])
                second.append(ours["ess_per_s"] / theirs["ess_per_s"])
                if theirs.get("warmup_grad_evals"):
                    wu.append(ours["warmup_grad_evals"] / theirs["warmup_grad_evals"])
            if grad:
                names.append(model)
                per_grad.append(float(np.median(grad)))
                per_s.append(float(np.median(second)))
                warmup.append(max(wu) if wu else np.nan)
        if not names:
            continue
        below = [f"{n} {g:.2f}x" for n, g in zip(names, per_grad, strict=True) if g < 1.0]
        lines.append(
            f"x {peer} ({len(names)} posteriors): median per gradient {np.median(per_grad):.2f}, "
            f"per second {np.median(per_s):.2f}; smallest {min(per_grad):.2f} "
            f"({names[int(np.argmin(per_grad))]}) and {min(per_s):.2f} "
            f"({names[int(np.argmin(per_s))]}); below 1x per gradient: {below or 'none'}; "
            f"largest warmup-gradient ratio {np.nanmax(warmup):.2f}"
        )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.json of each run (one per seed)")
    parser.add_argument("--peers", default="nuts,nutpie,blackjax-chees,blackjax-mams")
    args = parser.parse_args(argv)
    runs = [json.load(open(path))["records"] for path in args.results]
    print("\n".join(summary(runs, args.peers.split(","))))


if __name__ == "__main__":
    main()
