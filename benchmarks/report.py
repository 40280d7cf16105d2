"""Tables and figures from a results dict: every ratio is to NUTS in the same run, on the same
posterior with the same number of chains.

Main table, one row per MCMC record, led by the conservative efficiency:

    ESS       min over parameters of bulk, tail and squared-deviation ESS (the three beside it)
    ESS/grad  ESS per sampling gradient            ESS/s  ESS per second of warmup + sampling
    ESS/s sampling-only, warmup gradients and seconds, sampling and compilation seconds
    R-hat, max |z| and |sd - 1| against the reference; ok = exact: every |z| <= 4,
    every sd within 10%, R-hat <= 1.01

``†``: ESS per second bound by a Python callback (nutpie), its ESS per gradient is the fair
figure. VI records have their own table: steps, seconds, how the optimiser stopped, whether
the continuation check found it converged, its error, and the time each MCMC method took to
reach the same error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INEXACT_NOTE = (
    "* not exact by construction (no Metropolis step): its max|z| and |sd-1| are its bias"
)
CALLBACK_NOTE = "† ESS/s bound by nutpie's Python log-density callback; compare per gradient"
MIGRATED_NOTE = (
    "records of format 1 (before the conservative ESS; '-' in its columns): bulk ESS/grad and "
    "bulk ESS/s of sampling are in results.json as bulk_ess_per_grad, bulk_ess_per_sampling_s"
)


def _ratio(value, reference):
    if value is None or reference is None or not reference:
        return None
    return value / reference


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def is_vi(record) -> bool:
    return record["method"].startswith("vi-")


def peer_record(records, record, method):
    """The record of ``method`` on ``record``'s posterior with as many chains, if it ran."""
    for r in records:
        if (
            r["model"] == record["model"]
            and r["method"] == method
            and r.get("num_chains") == record.get("num_chains")
            and "error" not in r
        ):
            return r
    return None


def nuts_record(records, record):
    """The NUTS record on ``record``'s posterior with as many chains, if it ran."""
    return peer_record(records, record, "nuts")


def ratio_to(records, record, method, key):
    """``record[key]`` over ``method``'s on the same posterior and chains (None if either
    is missing)."""
    peer = peer_record(records, record, method)
    return _ratio(record.get(key), peer and peer.get(key))


def ratio_to_nuts(records, record, key):
    return ratio_to(records, record, "nuts", key)


def _label(record, mark="*"):
    exact = record.get("exact_by_construction", True)
    return record["method"] + ("" if exact else mark)


def _per_s(record, key="ess_per_s"):
    cell = _fmt(record.get(key), ".0f")
    return cell + "†" if record.get("callback_bound") and cell != "-" else cell


def _ok(record):
    return "y" if record.get("passed") else "N"


# (header, width, cell(record, records)) of the main table
COLUMNS = (
    ("model", 32, lambda r, rs: r["model"][:31]),
    ("method", 20, lambda r, rs: _label(r)),
    ("d", 4, lambda r, rs: str(r.get("dimension", "-"))),
    ("chains", 7, lambda r, rs: str(r.get("num_chains", "-"))),
    ("draws", 7, lambda r, rs: str(r.get("num_samples", "-"))),
    ("ESS", 7, lambda r, rs: _fmt(r.get("conservative_ess"), ".0f")),
    ("bulk", 7, lambda r, rs: _fmt(r.get("min_ess_bulk"), ".0f")),
    ("tail", 7, lambda r, rs: _fmt(r.get("min_ess_tail"), ".0f")),
    ("sq", 7, lambda r, rs: _fmt(r.get("min_ess_squared"), ".0f")),
    ("ESS/grad", 9, lambda r, rs: _fmt(r.get("ess_per_grad"), ".4f")),
    ("xNUTS", 6, lambda r, rs: _fmt(ratio_to_nuts(rs, r, "ess_per_grad"), ".2f")),
    ("ESS/s", 8, lambda r, rs: _per_s(r)),
    ("xNUTS", 6, lambda r, rs: _fmt(ratio_to_nuts(rs, r, "ess_per_s"), ".2f")),
    ("ESS/s smp", 10, lambda r, rs: _per_s(r, "ess_per_sampling_s")),
    ("xNUTS", 6, lambda r, rs: _fmt(ratio_to_nuts(rs, r, "ess_per_sampling_s"), ".2f")),
    ("wu grads", 9, lambda r, rs: _fmt(r.get("warmup_grad_evals"), ".0f")),
    ("wu s", 7, lambda r, rs: _fmt(r.get("warmup_s"), ".2f")),
    ("smp s", 7, lambda r, rs: _fmt(r.get("sampling_s"), ".2f")),
    ("comp s", 7, lambda r, rs: _fmt(r.get("compile_s"), ".1f")),
    ("R-hat", 6, lambda r, rs: _fmt(r.get("max_rhat"), ".3f")),
    ("|z|", 6, lambda r, rs: _fmt(r.get("max_abs_z"), ".1f")),
    ("|sd-1|", 7, lambda r, rs: _fmt(r.get("max_sd_error"), ".3f")),
    ("ok", 3, lambda r, rs: _ok(r)),
    ("spk/ESS", 8, lambda r, rs: _fmt(r.get("spikes_per_ess"), ".0f")),
)
VI_COLUMNS = (
    ("model", 32, lambda r, rs: r["model"][:31]),
    ("guide", 10, lambda r, rs: r["method"]),
    ("steps", 7, lambda r, rs: str(r.get("vi_steps", "-"))),
    ("s", 7, lambda r, rs: _fmt(r.get("vi_seconds", r.get("sampling_s")), ".2f")),
    ("stopped by", 11, lambda r, rs: str(r.get("stopped_by", "-"))[:10]),
    ("converged", 10, lambda r, rs: {True: "yes", False: "NO"}.get(r.get("converged"), "-")),
    ("shift", 6, lambda r, rs: _fmt(r.get("continuation_mean_shift"), ".3f")),
    ("sd chg", 7, lambda r, rs: _fmt(r.get("continuation_sd_change"), ".3f")),
    ("error", 7, lambda r, rs: _fmt(vi_error(r), ".3f")),
    ("mean err", 9, lambda r, rs: _fmt(r.get("max_standardized_mean_error"), ".3f")),
    ("|sd-1|", 7, lambda r, rs: _fmt(r.get("max_sd_error"), ".3f")),
    ("|z|", 7, lambda r, rs: _fmt(r.get("max_abs_z"), ".1f")),
    ("MCMC seconds to the same error", 0, lambda r, rs: _times_to_error(r, rs)),
)


def error(point) -> float:
    """A posterior's error in one number: max(standardised mean error, |sd ratio - 1|) of a
    curve's point [seconds, mean error, sd error]."""
    return max(point[1], point[2])


def time_to_error(curve, target):
    """First time an error curve [[seconds, mean error, sd error], ...] has :func:`error` at
    most ``target`` (linear between its points; its first point if already there); None if
    never."""
    previous = None
    for point in curve:
        seconds, value = point[0], error(point)
        if value <= target:
            if previous is None:
                return seconds
            (t0, e0), (t1, e1) = previous, (seconds, value)
            return t0 + (t1 - t0) * (e0 - target) / (e0 - e1) if e0 > e1 else t1
        previous = (seconds, value)
    return None


def vi_error(record) -> float | None:
    """A VI record's error at its convergence (the last point of its curve)."""
    curve = record.get("error_curve")
    return error(curve[-1]) if curve else None


def _times_to_error(vi_record, records):
    """'method seconds' for every exact MCMC run on the same posterior: when its error first
    fell to the VI guide's (``>total`` if it never did)."""
    target = vi_error(vi_record)
    cells = []
    for r in records:
        same = r["model"] == vi_record["model"] and not is_vi(r) and r.get("error_curve")
        if target is None or not same or not r.get("passed"):
            continue  # a run that is not exact is no yardstick
        seconds = time_to_error(r["error_curve"], target)
        total = r["error_curve"][-1][0]
        cells.append(
            f"{r['method']} {_fmt(seconds, '.2f') if seconds is not None else f'>{total:.2f}'}"
        )
    return ", ".join(cells) or "-"


def _rows(rows, columns, markdown, records):
    """``rows`` formatted by ``columns``; cells may look up other ``records`` (NUTS's)."""
    if markdown:
        head = "| " + " | ".join(c[0] for c in columns) + " |"
        rule = "|" + "---|" * len(columns)
        cells = ["| " + " | ".join(cell(r, records) for _, _, cell in columns) + " |" for r in rows]
        return [head, rule, *cells]

    def pad(text, width):
        return f"{text:<{width - 1}} " if width else text

    line = "".join(pad(name, width) for name, width, _ in columns)
    cells = ["".join(pad(cell(r, records), width) for _, width, cell in columns) for r in rows]
    return [line.rstrip(), *(row.rstrip() for row in cells)]


def _failure(record) -> str | None:
    if "error" in record:
        return f"failed: {record['error'][:100]}"
    for phase in ("tuning", "sampling"):
        status = record.get(phase)
        if status is not None and status != "ok":
            return f"{phase} {status}"[:110]
    return None


def table(results: dict, markdown: bool = False) -> str:
    """The MCMC table, the VI table, the failures, and the machine."""
    records = results["records"]
    good = [r for r in records if _failure(r) is None]
    mcmc = [r for r in good if not is_vi(r)]
    vi = [r for r in good if is_vi(r)]
    lines = _rows(mcmc, COLUMNS, markdown, good) if mcmc else []
    if vi:
        lines += ["", *_rows(vi, VI_COLUMNS, markdown, good)]
    failed = [r for r in records if _failure(r) is not None]
    if failed:
        lines.append("")
        lines += [
            f"{r['model']} / {r['method']} / {r.get('num_chains')}: {_failure(r)}" for r in failed
        ]
    notes = []
    if any(not r.get("exact_by_construction", True) for r in records):
        notes.append(INEXACT_NOTE)
    if any(r.get("callback_bound") for r in records):
        notes.append(CALLBACK_NOTE)
    if any(r.get("migrated_from") for r in records):
        notes.append(MIGRATED_NOTE)
    if not markdown:
        machine = results.get("machine", {})
        notes.append(
            f"machine: {machine.get('processor', '?')}, {machine.get('cpu_count', '?')} cores, "
            f"{machine.get('device', '?')}; jax {machine.get('jax', '?')}, "
            f"numpyro {machine.get('numpyro', '?')}"
        )
        notes.append(f"timing: {results.get('timing', '')}")
    return "\n".join(lines + ([""] if notes else []) + notes)


def markdown_table(results: dict) -> str:
    """The same tables in Markdown (for the README)."""
    return table(results, markdown=True)


PEERS = ("nuts", "nutpie", "blackjax-chees", "blackjax-mams")


def peer_table(results: dict, subject: str = "spiking-hamiltonian") -> str:
    """Markdown for the README: ``subject``'s conservative efficiency per gradient and per
    second (warmup + sampling) on each posterior, and its ratio to each peer's, "grad / s"
    (a peer in brackets is not exact there; † its per second is callback-bound), then the VI
    guides' errors (NC: not converged)."""
    records = [r for r in results["records"] if _failure(r) is None]
    peers = [p for p in PEERS if p != subject and any(r["method"] == p for r in records)]
    head = ["posterior", "d", "ESS/grad", "ESS/s", "exact", *(f"x {p}" for p in peers), "VI error"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in (r for r in records if r["method"] == subject):
        cells = [r["model"], str(r.get("dimension", "-")), _fmt(r.get("ess_per_grad"), ".4f")]
        cells += [_fmt(r.get("ess_per_s"), ".0f"), "yes" if r.get("passed") else "no"]
        for peer in peers:
            other = peer_record(records, r, peer)
            grad, second = (ratio_to(records, r, peer, k) for k in ("ess_per_grad", "ess_per_s"))
            mark = "†" if other is not None and other.get("callback_bound") else ""
            cell = f"{_fmt(grad, '.2f')} / {_fmt(second, '.2f')}{mark}"
            cells.append(cell if other is None or other.get("passed") else f"({cell})")
        guides = [v for v in records if is_vi(v) and v["model"] == r["model"]]
        errors = [
            f"{_fmt(vi_error(v), '.2f')}{'' if v.get('converged') else ' (NC)'}" for v in guides
        ]
        cells.append(" / ".join(errors) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def behind(results: dict, subject: str = "spiking-hamiltonian") -> list[str]:
    """Posterior by posterior, where ``subject`` is behind an exact peer: per gradient and per
    second (warmup + sampling), by how much; and where ``subject`` itself is not exact."""
    records = [r for r in results["records"] if _failure(r) is None]
    lines = []
    for r in (r for r in records if r["method"] == subject):
        notes = [] if r.get("passed") else [f"not exact (R-hat {_fmt(r.get('max_rhat'), '.3f')})"]
        for peer in PEERS:
            other = peer_record(records, r, peer)
            if peer == subject or other is None or not other.get("passed"):
                continue
            for key, what in (("ess_per_grad", "per gradient"), ("ess_per_s", "per second")):
                ratio = ratio_to(records, r, peer, key)
                if ratio is not None and ratio < 1:
                    notes.append(f"{ratio:.2f}x {peer} {what}")
        if notes:
            lines.append(f"{r['model']}: " + ", ".join(notes))
    return lines


# -- figures ---------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figures(results: dict, out: Path, default_model: str | None = None) -> list[Path]:
    """PNG figures: efficiency ratios to NUTS, error against time, rank and trace plots."""
    records = [r for r in results["records"] if _failure(r) is None]
    written = [ratio_figure(records, out / "ess_ratio_to_nuts.png")]
    models = list(dict.fromkeys(r["model"] for r in records))
    for model in models[:1] if default_model is None else [default_model]:
        written.append(error_figure(records, model, out / f"error_vs_time__{model}.png"))
        written += _arviz_plots(out, model)
    return written


def ratio_figure(records, path: Path) -> Path:
    """Conservative ESS per gradient and per second (warmup + sampling) over NUTS's."""
    plt = _pyplot()
    mcmc = [r for r in records if not is_vi(r) and r.get("conservative_ess") is not None]
    models = list(dict.fromkeys(r["model"] for r in mcmc))
    methods = [m for m in dict.fromkeys(r["method"] for r in mcmc) if m != "nuts"]
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.2 * len(models) + 4), 4.5))
    width = 0.8 / max(1, len(methods))
    titles = ("conservative ESS per gradient", "conservative ESS per second (warmup + sampling)")
    for ax, key, title in zip(axes, ("ess_per_grad", "ess_per_s"), titles, strict=True):
        for i, method in enumerate(methods):
            picked = [
                next((r for r in mcmc if r["model"] == m and r["method"] == method), None)
                for m in models
            ]
            ratios = [(r and ratio_to_nuts(mcmc, r, key)) or np.nan for r in picked]
            label = method + (
                " (callback-bound)" if key == "ess_per_s" and method == "nutpie" else ""
            )
            bars = ax.bar(np.arange(len(models)) + i * width, ratios, width, label=label)
            for bar, r in zip(bars, picked, strict=True):
                if not (r and r.get("passed")):  # not exact: its ESS means little
                    bar.set_hatch("//")
                    bar.set_alpha(0.4)
        ax.axhline(1.0, color="k", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{title} over NUTS's", fontsize=9)
        ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2)
        ax.set_xticklabels([m.split("-")[-1][:18] for m in models], rotation=45, ha="right")
        ax.legend(fontsize=7)
    fig.suptitle("same posterior, chains and machine; hatched: not exact", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def error_figure(records, model: str, path: Path) -> Path:
    """Posterior error against wall time (compilation apart) on ``model``: each MCMC run's
    error as its draws accumulate (warmup first), each VI guide's as it optimises and at its
    convergence (a star, a dashed line), and where each exact MCMC run first reaches that
    error (a circle)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    runs = [r for r in records if r["model"] == model and r.get("error_curve")]
    methods = dict.fromkeys(r["method"] for r in runs)
    colors = dict(zip(methods, plt.cm.tab10.colors, strict=False))
    panels = (
        (error, "error = max(mean error, sd error)"),
        (lambda p: p[1], "max |mean - ref| / ref sd"),
        (lambda p: p[2], "max |sd / ref sd - 1|"),
    )
    for r in runs:
        color, curve = colors[r["method"]], r["error_curve"]
        times = [p[0] for p in curve]
        for ax, (value, _) in zip(axes, panels, strict=True):
            values = [value(p) for p in curve]
            if not is_vi(r):
                ax.plot(times, values, "o-", ms=3, color=color, label=_label(r))
                continue
            state = "converged" if r.get("converged") else "NOT converged"
            ax.plot(times, values, ":", color=color, alpha=0.6)
            ax.plot(
                times[-1], values[-1], "*", ms=14, color=color, label=f"{r['method']} ({state})"
            )
            ax.axhline(values[-1], color=color, ls="--", lw=0.8)
    for vi in (r for r in runs if is_vi(r)):
        for r in runs:
            if is_vi(r) or not r.get("passed"):
                continue
            seconds = time_to_error(r["error_curve"], vi_error(vi))
            if seconds is not None:
                axes[0].plot(
                    seconds, vi_error(vi), "o", mfc="none", ms=10, color=colors[r["method"]]
                )
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("seconds: warmup + sampling, or optimisation")
        ax.set_title(label, fontsize=9)
    if runs:
        axes[0].legend(fontsize=7)
    fig.suptitle(
        f"posterior error against time (compilation apart): {model}; circles: an exact MCMC "
        "run reaches a converged guide's error"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scaling_figure(records, path: Path, title: str) -> Path:
    """Conservative ESS per second (warmup + sampling) against the number of chains, and each
    method's ratio to NUTS at the same number of chains (hollow: either is not exact)."""
    plt = _pyplot()
    good = [r for r in records if _failure(r) is None and r.get("ess_per_s") is not None]
    models = sorted({r["model"] for r in good})
    methods = list(dict.fromkeys(r["method"] for r in good))
    styles = dict(zip(methods, ("--", "-", ":", "-."), strict=False))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for color, model in zip(plt.cm.tab10.colors, models, strict=False):
        for method in methods:
            rs = sorted(
                (r for r in good if r["model"] == model and r["method"] == method),
                key=lambda r: r["num_chains"],
            )
            if not rs:
                continue
            chains = [r["num_chains"] for r in rs]
            label = f"{model.split('-')[-1]} ({method})"
            style = styles.get(method, "-")
            values = [r["ess_per_s"] for r in rs]
            axes[0].plot(chains, values, style, marker="o", color=color, label=label)
            if method == "nuts":
                continue
            ratios = [ratio_to_nuts(good, r, "ess_per_s") for r in rs]
            values = [np.nan if x is None else x for x in ratios]
            axes[1].plot(chains, values, style, marker="o", color=color, label=label)
            for r, ratio in zip(rs, ratios, strict=True):
                nuts = nuts_record(good, r)
                if ratio is not None and not (r.get("passed") and nuts and nuts.get("passed")):
                    axes[1].plot(r["num_chains"], ratio, "o", mfc="white", color=color)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("vectorised chains (total draws fixed)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("conservative ESS / s (warmup + sampling)")
    axes[0].legend(fontsize=6)
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[1].set_ylabel("ESS/s over NUTS's (hollow: either not exact)")
    axes[1].legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


PLOTTED_DRAWS = 1000  # per chain; longer runs are thinned for the rank and trace plots


def _arviz_plots(out: Path, model: str) -> list[Path]:
    """ArviZ rank and trace plots of each spiking run of ``model`` (skipped past 40 scalars;
    thinned to about ``PLOTTED_DRAWS`` draws a chain)."""
    import arviz as az
    import arviz_plots as azp

    plt = _pyplot()
    written = []
    for method in ("spiking-hamiltonian", "spiking-poisson"):
        path = out / "posteriors" / f"{model}__{method}.nc"
        if not path.exists():
            continue
        idata = az.from_netcdf(path)
        posterior = idata["posterior"]
        thin = max(1, posterior.sizes["draw"] // PLOTTED_DRAWS)
        idata = idata.isel(draw=slice(None, None, thin))  # KDEs of 10^4 draws take minutes
        if sum(v.size // (v.sizes["chain"] * v.sizes["draw"]) for v in posterior.values()) > 40:
            continue  # a panel per scalar: too many to read
        for name, plot in (("rank", azp.plot_rank), ("trace", azp.plot_trace_dist)):
            collection = plot(idata, backend="matplotlib")
            written.append(out / f"{name}__{model}__{method}.png")
            collection.savefig(written[-1])
            plt.close("all")
    return written
