"""Tables and figures from a results dict: ratios to NUTS measured in the same run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMNS = (
    f"{'model':<34}{'method':<21}{'d':>4}{'minESS':>8}{'ESS/grad':>10}{'xNUTS':>7}"
    f"{'ESS/s':>9}{'xNUTS':>7}{'max|z|':>8}{'|sd-1|':>7}{'Rhat':>6}  ok{'spk/ESS':>9}"
    f"{'compile':>8}{'sample':>8}"
)


def _nuts(records, model):
    for r in records:
        if r["model"] == model and r["method"] == "nuts" and "error" not in r:
            return r
    return None


def _ratio(value, reference):
    if value is None or reference is None or not reference:
        return None
    return value / reference


INEXACT_NOTE = (
    "* not exact by construction (no Metropolis step): its max|z| and |sd-1| are its bias"
)


INEXACT_MARK = " (not exact by construction)"


def _method_label(record, mark="*"):
    """The method's name, marked when its chain is not exact by construction (LIF)."""
    exact = record.get("exact_by_construction", True)
    return record["method"] + ("" if exact else mark)


def _fmt(value, spec, width):
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def table(results: dict) -> str:
    """One line per (model, method); xNUTS columns are ratios to NUTS on the same model."""
    lines = [COLUMNS]
    for r in results["records"]:
        if "error" in r:
            lines.append(f"{r['model']:<34}{r['method']:<21}  failed: {r['error'][:80]}")
            continue
        nuts = _nuts(results["records"], r["model"])
        per_grad = r.get("ess_per_grad")
        per_s = r.get("ess_per_s")
        lines.append(
            f"{r['model'][:33]:<34}{_method_label(r):<21}{r['dimension']:>4}"
            f"{r['min_ess_bulk']:>8.0f}"
            + _fmt(per_grad, ".4f", 10)
            + _fmt(_ratio(per_grad, nuts and nuts["ess_per_grad"]), ".2f", 7)
            + _fmt(per_s, ".0f", 9)
            + _fmt(_ratio(per_s, nuts and nuts["ess_per_s"]), ".2f", 7)
            + f"{r['max_abs_z']:>8.2f}{r['max_sd_error']:>7.3f}"
            + _fmt(r.get("max_rhat"), ".3f", 6)
            + f"  {'y' if r['passed'] else 'N'} "
            + _fmt(r.get("spikes_per_ess"), ".0f", 8)
            + f"{r['compile_s']:>8.1f}{r['sampling_s']:>8.2f}"
        )
    if any(not r.get("exact_by_construction", True) for r in results["records"]):
        lines.append(INEXACT_NOTE)
    machine = results.get("machine", {})
    lines.append(
        f"machine: {machine.get('processor', '?')}, {machine.get('cpu_count', '?')} cores, "
        f"{machine.get('device', '?')}; jax {machine.get('jax', '?')}, "
        f"numpyro {machine.get('numpyro', '?')}"
    )
    lines.append(f"timing: {results.get('timing', '')}")
    return "\n".join(lines)


def markdown_table(results: dict) -> str:
    """The same numbers as a Markdown table (for the README)."""
    head = (
        "| model | d | method | min ESS | ESS/grad | x NUTS | ESS/s | x NUTS | max abs z "
        "| max abs(sd-1) | exact | spikes/ESS |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for r in results["records"]:
        if "error" in r:
            rows.append(f"| {r['model']} | | {r['method']} | failed | | | | | | | | |")
            continue
        nuts = _nuts(results["records"], r["model"])

        def cell(value, spec):
            return "-" if value is None else format(value, spec)

        rows.append(
            f"| {r['model']} | {r['dimension']} | {_method_label(r, INEXACT_MARK)} "
            f"| {r['min_ess_bulk']:.0f} "
            f"| {cell(r.get('ess_per_grad'), '.4f')} "
            f"| {cell(_ratio(r.get('ess_per_grad'), nuts and nuts['ess_per_grad']), '.2f')} "
            f"| {cell(r.get('ess_per_s'), '.0f')} "
            f"| {cell(_ratio(r.get('ess_per_s'), nuts and nuts['ess_per_s']), '.2f')} "
            f"| {r['max_abs_z']:.2f} | {r['max_sd_error']:.3f} | {'yes' if r['passed'] else 'no'} "
            f"| {cell(r.get('spikes_per_ess'), '.0f')} |"
        )
    return "\n".join(rows)


def figures(results: dict, out: Path, default_model: str | None = None) -> list[Path]:
    """PNG figures: ESS ratios to NUTS, error against wall time, rank and trace plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in results["records"] if "error" not in r]
    written = []
    models = list(dict.fromkeys(r["model"] for r in records))
    mcmc_methods = [m for m in dict.fromkeys(r["method"] for r in records) if m != "nuts"]
    mcmc_methods = [m for m in mcmc_methods if not m.startswith("vi-")]

    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.2 * len(models) + 4), 4.5), sharey=False)
    for ax, key, title in zip(
        axes, ("ess_per_s", "ess_per_grad"), ("min ESS / s", "min ESS / gradient"), strict=True
    ):
        width = 0.8 / max(1, len(mcmc_methods))
        for i, method in enumerate(mcmc_methods):
            ratios, exact = [], []
            for model in models:
                nuts = _nuts(records, model)
                rec = next(
                    (r for r in records if r["model"] == model and r["method"] == method), None
                )
                ratios.append(_ratio(rec and rec.get(key), nuts and nuts.get(key)) or np.nan)
                exact.append(bool(rec and rec.get("passed")))
            bars = ax.bar(np.arange(len(models)) + i * width, ratios, width, label=method)
            for bar, ok in zip(bars, exact, strict=True):
                if not ok:  # failed the reference check: its ESS means little
                    bar.set_hatch("//")
                    bar.set_alpha(0.4)
        ax.axhline(1.0, color="k", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{title} / NUTS's (same run); hatched: not exact")
        ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2)
        ax.set_xticklabels([m.split("-")[-1][:18] for m in models], rotation=45, ha="right")
    axes[0].legend()
    fig.tight_layout()
    written.append(out / "ess_ratio_to_nuts.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    for model in models[:1] if default_model is None else [default_model]:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for r in records:
            if r["model"] != model or not r.get("error_curve"):
                continue
            curve = np.asarray(r["error_curve"])
            ax.plot(curve[:, 0], curve[:, 1], "o-", label=r["method"])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("wall time without compilation [s]")
        ax.set_ylabel("max |mean - ref| / ref sd")
        ax.set_title(f"posterior error against time: {model}")
        ax.legend()
        fig.tight_layout()
        written.append(out / f"error_vs_time__{model}.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)

        written += _arviz_plots(out, model)
    return written


def _arviz_plots(out: Path, model: str) -> list[Path]:
    """ArviZ rank and trace plots of each spiking run of ``model`` (skipped past 40 scalars)."""
    import arviz as az
    import arviz_plots as azp
    import matplotlib.pyplot as plt

    written = []
    for method in ("spiking-hamiltonian", "spiking-poisson"):
        path = out / "posteriors" / f"{model}__{method}.nc"
        if not path.exists():
            continue
        idata = az.from_netcdf(path)
        posterior = idata["posterior"]
        if sum(v.size // (v.sizes["chain"] * v.sizes["draw"]) for v in posterior.values()) > 40:
            continue  # a panel per scalar: too many to read
        for name, plot in (("rank", azp.plot_rank), ("trace", azp.plot_trace_dist)):
            collection = plot(idata, backend="matplotlib")
            written.append(out / f"{name}__{model}__{method}.png")
            collection.savefig(written[-1])
            plt.close("all")
    return written
