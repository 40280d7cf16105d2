"""Plasticity ablation: spiking-kernel variants beside NUTS on the zoo, from default starts.

    python -m benchmarks.plasticity OUT.jsonl all nuts,if
    python -m benchmarks.plasticity OUT.jsonl garch-garch11 if,if:metric_estimator='positions'
    python -m benchmarks.plasticity table BEFORE.jsonl AFTER.jsonl  # markdown

A variant is ``nuts`` or ``if`` (the default SpikingKernel), optionally with SpikingKernel
options after a colon (``key=value`` separated by ``;``, values as Python literals). Each run
is 4 vectorised chains of 1000 warmup and 1000 draws, timed ahead of time
(``spiking_mcmc.timing``), checked against the posterior's reference (``models.compare``:
every |z| <= 4, every sd within 10%, R-hat <= 1.01) and measured by the conservative ESS; one
JSON line per run is appended to OUT as soon as it ends, and a line printed. Unlike
``python -m benchmarks``, every method starts from NumPyro's default initialisation
(``init_to_uniform``), so the warmup's robustness is part of the measurement.
"""

from __future__ import annotations

import argparse
import ast
import json
import warnings

import jax
import numpy as np
from numpyro.infer import NUTS

import models
from models.nuts_check import nuts_settings
from spiking_mcmc import SpikingKernel, diagnostics
from spiking_mcmc.timing import timed_run


def parse_variant(variant: str):
    label, _, options = variant.partition(":")
    pairs = (item.split("=", 1) for item in options.split(";") if item)
    return label, {key: ast.literal_eval(value) for key, value in pairs}


def kernel_for(posterior, name: str, label: str, options: dict):
    settings = nuts_settings(name)
    dense = settings.get("dense_mass", posterior.dimension <= 64)
    if label == "nuts":
        keep = {k: settings[k] for k in ("target_accept_prob", "max_tree_depth") if k in settings}
        return NUTS(posterior.model, dense_mass=dense, **keep, **options)
    if label != "if":
        raise ValueError(f"a variant is 'nuts' or 'if', optionally with options: got {label!r}")
    return SpikingKernel(posterior.model, **{"dense_mass": dense, **options})


def record(name, variant, seed, posterior, run) -> dict:
    draws = posterior.stan_draws(run.samples)
    check = models.compare(draws, posterior.reference)
    efficiency = diagnostics.efficiency(draws)
    ess = efficiency["conservative_ess"]
    rhat = efficiency["max_rhat"] or 0.0
    return dict(
        model=name,
        variant=variant,
        seed=seed,
        d=posterior.dimension,
        passed=bool(check.passed and rhat <= 1.01),
        max_z=check.max_abs_z,
        sd_err=check.max_sd_error,
        rhat=rhat,
        cess=ess,
        grads=run.grad_evals,
        wgrads=run.warmup_grad_evals,
        warm_s=run.warmup_s,
        samp_s=run.sampling_s,
        comp_s=run.compile_s,
        ess_grad=ess / max(run.grad_evals, 1),
        ess_s=ess / (run.warmup_s + run.sampling_s),
        div=int(np.sum(run.fields["diverging"])),
        acc=float(np.mean(run.fields["accept_prob"])),
    )


def table(before_path, after_path) -> str:
    """Markdown: per posterior, the IF network's ESS per sampling gradient and warmup gradients
    in two runs (before, after), each beside NUTS's of the same run."""

    def load(path):
        rows = [json.loads(line) for line in open(path) if line.strip()]
        return {(r["model"], r["variant"]): r for r in rows}

    before, after = load(before_path), load(after_path)
    names = sorted({m for m, v in after if v == "if"}, key=[m for m, _ in after].index)
    lines = [
        "| posterior | d | IF before: ESS/grad (x NUTS), warmup grads | exact | "
        "IF after: ESS/grad (x NUTS), warmup grads | exact | NUTS: ESS/grad, warmup grads |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(rows, name):
        row, nuts = rows.get((name, "if")), rows.get((name, "nuts"))
        if row is None or nuts is None:
            return "-", "-"
        ratio = row["ess_grad"] / max(nuts["ess_grad"], 1e-12)
        text = f"{row['ess_grad']:.4f} ({ratio:.2f}), {row['wgrads']:,}"
        return text, "yes" if row["passed"] else "**no**"

    for name in names:
        nuts = after.get((name, "nuts"))
        nuts_text = "-" if nuts is None else f"{nuts['ess_grad']:.4f}, {nuts['wgrads']:,}"
        b, b_ok = cell(before, name)
        a, a_ok = cell(after, name)
        d = after[(name, "if")]["d"]
        lines.append(f"| {name} | {d} | {b} | {b_ok} | {a} | {a_ok} | {nuts_text} |")
    return "\n".join(lines)


def main(argv=None):
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "table":
        print(table(*argv[1:3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("models", help="comma-separated names, or 'all'")
    parser.add_argument("variants", help="comma-separated variants: nuts, if, if:key=value;...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    args = parser.parse_args(argv)
    names = args.models.split(",")
    if args.models == "all":
        names = models.list_models(include_synthetic=False) + ["gaussian_ill_d100"]
    warnings.simplefilter("ignore")
    for name in names:
        posterior = models.load(name)
        for variant in args.variants.split(","):
            label, options = parse_variant(variant)
            kernel = kernel_for(posterior, name, label, options)
            run = timed_run(
                kernel,
                jax.random.PRNGKey(args.seed),
                args.warmup,
                args.samples,
                args.chains,
                posterior.args,
                posterior.kwargs,
                fields=("accept_prob", "diverging"),
            )
            row = record(name, variant, args.seed, posterior, run)
            print(
                f"{name[:28]:28s} {variant[:40]:40s} exact={row['passed']!s:5} "
                f"z={row['max_z']:4.1f} sd={row['sd_err']:.3f} rhat={row['rhat']:.3f} "
                f"ESS={row['cess']:6.0f} ESS/grad={row['ess_grad']:.4f} "
                f"warmup grads={row['wgrads']:8d} grads={row['grads']:8d}",
                flush=True,
            )
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
