"""Chain scaling: min-ESS per second of the spiking kernel and of NUTS at 1 to 4096 chains.

    python benchmarks/chains.py                     # CPU: writes benchmarks/results/chains/cpu
    python benchmarks/chains.py --out benchmarks/results/chains/gpu-h100   # on a GPU machine
    python benchmarks/chains.py --chains 1,16 --models eight_schools-eight_schools_noncentered

For each posterior and each number of chains C the total number of draws is held fixed
(``--total-draws``, split as total / C draws per chain), every chain has the same warmup
(``--warmup`` transitions), and both samplers run vectorised chains (``chain_method=
"vectorized"``) through the same ahead-of-time compiled loops as the main benchmark
(``benchmarks.methods.run_mcmc``): NUTS with NumPyro's per-chain adaptation, the IF
Hamiltonian network with cross-chain adaptation (one step size, covariance and trajectory
length learned from all chains; every chain makes the same number of leapfrog steps). Reported
per run: min bulk ESS over the reference parameters, split R-hat and the exactness check,
gradient evaluations, warmup and sampling time (compilation apart), min-ESS per second of
sampling and of warmup plus sampling, and their ratios to NUTS at the same C. Results:
results.json (with the device), table.txt, results.md and chains.png in ``--out``.
A record is written as soon as its run ends; ``--resume`` skips what is there.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

import models
from benchmarks import harness
from benchmarks import methods as m

HERE = Path(__file__).parent
MODELS = (  # cheapest first, so that an interrupted run has whole posteriors
    "eight_schools-eight_schools_noncentered",
    "arK-arK",
    "gaussian_ill_d100",
)
METHODS = ("nuts", "spiking-hamiltonian")
SPIKING_OPTIONS = {"adaptation": "cross_chain"}


def run_one(model_name, method, num_chains, args) -> dict:
    posterior = models.load(model_name)
    settings = m.Settings(
        num_chains=num_chains,
        num_warmup=args.warmup,
        num_samples=args.total_draws // num_chains,
        seed=args.seed,
        poisson_draws_factor=1,
        poisson_warmup_factor=1,
        error_fractions=(1.0,),
        spiking_options=SPIKING_OPTIONS,
    )
    start = time.perf_counter()
    try:
        record, _ = m.run_mcmc(method, posterior, settings)
        record.pop("error_curve", None)
        total_s = record["warmup_s"] + record["sampling_s"]
        record["ess_per_s_with_warmup"] = record["min_ess_bulk"] / total_s
    except Exception as error:  # noqa: BLE001 - one failing run must not lose the others
        record = {"error": f"{type(error).__name__}: {error}"}
    record.update(
        model=model_name,
        method=method,
        num_chains=num_chains,
        dimension=posterior.dimension,
        wall_s=time.perf_counter() - start,
    )
    return record


def with_ratios(records):
    """Each record's ESS per second (sampling; warmup + sampling) over NUTS's at the same C."""
    nuts = {(r["model"], r["num_chains"]): r for r in records if r["method"] == "nuts"}
    for record in records:
        reference = nuts.get((record["model"], record["num_chains"]))
        for key in ("ess_per_s", "ess_per_s_with_warmup", "ess_per_grad"):
            ok = reference and record.get(key) is not None and reference.get(key)
            record[f"{key}_vs_nuts"] = record[key] / reference[key] if ok else None
    return records


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(records, markdown=False) -> str:
    columns = (
        "model",
        "chains",
        "method",
        "draws/chain",
        "min ESS",
        "R-hat",
        "exact",
        "ESS/s",
        "x NUTS",
        "ESS/s incl. warmup",
        "x NUTS",
        "warmup s",
        "sampling s",
    )
    rows = []
    for r in sorted(records, key=lambda r: (r["model"], r["num_chains"], r["method"])):
        if "error" in r:
            rows.append((r["model"], str(r["num_chains"]), r["method"], r["error"][:60]))
            continue
        rows.append(
            (
                r["model"],
                str(r["num_chains"]),
                r["method"],
                str(r["num_samples"]),
                _fmt(r["min_ess_bulk"], ".0f"),
                _fmt(r["max_rhat"], ".3f"),
                "yes" if r["passed"] else "no",
                _fmt(r["ess_per_s"], ".0f"),
                _fmt(r["ess_per_s_vs_nuts"], ".2f"),
                _fmt(r["ess_per_s_with_warmup"], ".0f"),
                _fmt(r["ess_per_s_with_warmup_vs_nuts"], ".2f"),
                _fmt(r["warmup_s"], ".3g"),
                _fmt(r["sampling_s"], ".3g"),
            )
        )
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [
        max(len(c), *(len(row[i]) for row in rows if len(row) > i)) for i, c in enumerate(columns)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) for row in rows]
    return "\n".join(lines)


def figure(records, path: Path, device: str):
    """ESS per second against chains (both samplers), and the spiking/NUTS ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = [r for r in records if "error" not in r]
    exact = {(r["model"], r["method"], r["num_chains"]): r["passed"] for r in good}
    names = sorted({r["model"] for r in good})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for color, name in zip(plt.cm.tab10.colors, names, strict=False):
        for method, style in (("nuts", "--"), ("spiking-hamiltonian", "-")):
            rs = sorted(
                (r for r in good if r["model"] == name and r["method"] == method),
                key=lambda r: r["num_chains"],
            )
            if not rs:
                continue
            chains = [r["num_chains"] for r in rs]
            axes[0].plot(
                chains,
                [r["ess_per_s"] for r in rs],
                style,
                marker="o",
                color=color,
                label=f"{name.split('-')[-1]} ({'NUTS' if method == 'nuts' else 'IF'})",
            )
            if method != "nuts":
                ratios = [r["ess_per_s_vs_nuts"] for r in rs]
                axes[1].plot(chains, ratios, "-", marker="o", color=color, label=name)
                for r, ratio in zip(rs, ratios, strict=True):
                    nuts = exact.get((name, "nuts", r["num_chains"]), False)
                    if ratio is not None and not (r["passed"] and nuts):  # hollow: not exact
                        axes[1].plot(r["num_chains"], ratio, "o", mfc="white", color=color)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("vectorised chains (total draws fixed)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("min bulk ESS per second of sampling")
    axes[0].legend(fontsize=7)
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[1].set_ylabel("IF ESS/s / NUTS ESS/s (hollow: either not exact)")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Chain scaling on {device}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--chains", default="1,16,256,1024,4096")
    parser.add_argument("--total-draws", type=int, default=65536)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "chains" / "cpu")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    from tqdm.auto import tqdm

    chain_counts = [int(c) for c in args.chains.split(",")]
    if any(args.total_draws % c or args.total_draws // c < 4 for c in chain_counts):
        parser.error("--total-draws must be a multiple of every chain count, >= 4 per chain")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    results = harness.load_results(path) if args.resume else {"records": []}
    results["machine"] = harness.machine()
    results["settings"] = {
        "total_draws": args.total_draws,
        "warmup_per_chain": args.warmup,
        "seed": args.seed,
        "spiking_options": SPIKING_OPTIONS,
        "chain_method": "vectorized",
        "timing": m.TIMING_METHOD,
    }
    done = {(r["model"], r["method"], r["num_chains"]) for r in results["records"]}
    runs = [
        (model, method, chains)
        for model in args.models.split(",")
        for chains in chain_counts
        for method in args.methods.split(",")
        if (model, method, chains) not in done
    ]
    bar = tqdm(runs, desc="chains", unit="run")
    for model, method, chains in bar:
        bar.set_postfix_str(f"{model} / {method} / {chains} chains")
        results["records"].append(run_one(model, method, chains, args))
        with_ratios(results["records"])
        harness.save_results(path, results)
    machine = results["machine"]
    device = f"{machine['device']} ({machine['processor']}, {machine['cpu_count']} cores)"
    text = f"device: {device}; {jax.device_count()} device(s)\n" + table(results["records"])
    print(text)
    (args.out / "table.txt").write_text(text + "\n")
    (args.out / "results.md").write_text(table(results["records"], markdown=True) + "\n")
    print(f"figure: {figure(results['records'], args.out / 'chains.png', device)}")


if __name__ == "__main__":
    main()
