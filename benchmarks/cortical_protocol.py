"""The Masset protocol with the neural yardsticks: does an exact network sample fast while its
neurons fire as cortical neurons do?

    python benchmarks/cortical_protocol.py [--dims 2 8 32 64] [--networks ...] [--quick]

Targets (Masset et al. 2022): Gaussians N(1, Sigma) in d = 2, 8, 32, 64 with unit variances
and every correlation rho = 0.75; ``repeats`` = 100 chains start at the origin. Every network
has the posterior-whitening geometry (decoders ~ chol(Sigma)) and no warmup. Time is pinned:
1 ms per leapfrog step (Hamiltonian and cortical networks), 10 ms per Poisson window.

- poisson: 10 neurons per dimension (5d pairs on a tight frame), window 10 ms, step
  h = min(2 T / tau, the largest h whose stationary acceptance is >= 0.57), tau = 20 ms;
- lif (not exact): 10 neurons per dimension, Langevin tau 20 ms, membrane tau 20 ms, dt 0.1 ms;
- hamiltonian: one pair per dimension, eps = 0.3, spike_quantum 0.5, trajectory U(1, 2);
- cortical: ``--population-size`` K pairs per dimension, eps = ``--cortical-step``,
  spike_quantum ``--spike-quantum``, conserved energy, trajectory U(1, 2).

Phase 1 (the protocol): ``duration_ms`` = 500 ms from the origin; the decorrelation time is the
lag at which the autocorrelation of the whitened state (true mean and covariance), over the
second half, falls below 1/e, on a 1 ms grid (and on the 10 ms grid of
benchmarks/masset_protocol.py, for comparison). Phase 2 (stationary statistics): the same
chains continue for ``stationary_ms``; on it, the conservative ESS (the smallest bulk,
tail and squared-deviation ESS over the coordinates) of the 1 ms grid, the spikes the whole
population fired in that stretch, and so spikes per dimension per effective sample; and, from
the spike times of up to ``neural_chains`` of those chains (logged by the same transitions:
interpolated threshold crossings for the integrate-and-fire networks, uniform within windows
for the Poisson network), the mean per-neuron rate, ISI CV (intervals within a chain, pooled),
Fano factor and mean |pairwise count correlation| in 10 ms bins, within populations and across
directions (:mod:`spiking_mcmc.neural.summary`). Results: JSON, a table and a figure in
benchmarks/results/cortical/.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from spiking_mcmc import diagnostics
from spiking_mcmc.dynamics import registry
from spiking_mcmc.dynamics.base import PositionState
from spiking_mcmc.metric import from_factor
from spiking_mcmc.neural import recording, summary

TARGETS = {  # what the issue asks of an exact network at every d
    "decorrelation_ms": 20.0,
    "mean_rate_hz": 20.0,
    "isi_cv": (0.8, 1.2),
    "mean_abs_correlation": 0.1,
}
COUNTS_ONLY = 10**12  # a pass without spike times stores counts, not times: no spike cap
COLORS = {"poisson": "#c0392b", "lif": "#2471a3", "hamiltonian": "#1e8449", "cortical": "#7d3c98"}


def target(dim, rho):
    """Mean 1 and Sigma = (1 - rho) I + rho 1 1^T."""
    return np.ones(dim), (1.0 - rho) * np.eye(dim) + rho * np.ones((dim, dim))


def gaussian_log_density(mean, cov):
    precision = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    mean = jnp.asarray(mean, jnp.float32)

    def log_density(x):
        return -0.5 * (x - mean) @ precision @ (x - mean)

    return jax.value_and_grad(log_density)


def tuned_poisson_step(dynamics, settings, metric, chol, mean, logdensity_and_grad, key):
    """Largest h (bisection on log h) whose mean one-window acceptance at stationarity (256
    exact draws as starting points) is at least the Poisson network's target (0.57)."""
    dim = chol.shape[0]
    noise = jax.random.normal(key, (256, dim))
    starts = jnp.asarray(mean, jnp.float32) + noise @ jnp.asarray(chol, jnp.float32).T
    keys = jax.random.split(jax.random.fold_in(key, 1), 256)

    @jax.jit
    def acceptance(log_h):
        params = dynamics.build(settings, metric, jnp.exp(log_h))

        def one(x, k):
            lp, g = logdensity_and_grad(x)
            state = PositionState(x, lp, g)
            return dynamics.transition(k, state, logdensity_and_grad, params)[1].accept_prob

        return jnp.mean(jax.vmap(one)(starts, keys))

    low, high = np.log(1e-3), np.log(10.0)
    for _ in range(14):
        middle = 0.5 * (low + high)
        if float(acceptance(middle)) >= dynamics.target_accept_prob:
            low = middle
        else:
            high = middle
    return float(np.exp(low))


def network(name, dim, args, metric, chol, mean, logdensity_and_grad, key):
    """(dynamics, settings, step size, population size, shortest transition in ms)."""
    dynamics = registry.get(name)
    population_size = 1
    if name == "poisson":
        settings = dynamics.settings(num_pairs=5 * dim)
        step = min(
            2.0 * settings.window_ms / args.tau_ms,
            tuned_poisson_step(dynamics, settings, metric, chol, mean, logdensity_and_grad, key),
        )
        shortest = settings.window_ms
    elif name == "lif":
        settings = dynamics.settings(
            num_pairs=5 * dim, tau_ms=args.tau_ms, tau_m_ms=args.tau_ms, dt_ms=args.lif_dt_ms
        )
        step, shortest = 1.0, settings.window_ms
    elif name == "hamiltonian":
        settings = dynamics.settings(adapt_trajectory_length=False)
        step = args.hamiltonian_step
        shortest = settings.step_ms * np.ceil(1.0 / (step * (1 + settings.step_jitter)))
    elif name == "cortical":
        population_size = args.population_size
        settings = dynamics.settings(
            population_size=population_size,
            spike_quantum=args.spike_quantum,
            energy=args.cortical_energy,
            adapt_trajectory_length=False,
        )
        step = args.cortical_step
        shortest = settings.step_ms * np.ceil(1.0 / (step * (1 + settings.step_jitter)))
    else:
        raise ValueError(f"unknown network {name!r}")
    return dynamics, settings, float(step), population_size, float(shortest)


def whiten(positions, mean, chol):
    """L^-1 (x - mu) over the last axis."""
    flat = np.asarray(positions, float).reshape(-1, chol.shape[0]) - mean
    return np.linalg.solve(chol, flat.T).T.reshape(np.shape(positions))


def spikes_before(rec, end_ms):
    """Spikes of the windows of ``rec`` that ended by ``end_ms``."""
    ends = np.cumsum(rec.window_ms)
    return int(rec.spike_counts[ends <= end_ms + 1e-9].sum())


def run_network(name, dim, args, key):
    mean, cov = target(dim, args.rho)
    chol = np.linalg.cholesky(cov)
    metric = from_factor(jnp.asarray(chol, jnp.float32))
    logdensity_and_grad = gaussian_log_density(mean, cov)
    key, key_tune, key_run, key_stationary = jax.random.split(key, 4)
    dynamics, settings, step, population_size, shortest = network(
        name, dim, args, metric, chol, mean, logdensity_and_grad, key_tune
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = dynamics.build(settings, metric, step)
    num_pairs = dim * population_size if name in ("hamiltonian", "cortical") else 5 * dim
    populations = summary.population_labels(num_pairs, population_size)

    # phase 1: the protocol, from the origin
    zero = recording.start_state(logdensity_and_grad, jnp.zeros(dim, jnp.float32))
    starts = jax.tree.map(lambda a: jnp.stack([a] * args.repeats), zero)
    num_windows = int(np.ceil(args.duration_ms / shortest)) + 1
    keys = jax.random.split(key_run, args.repeats)
    wall = time.perf_counter()
    protocol = recording.record_chains(
        keys,
        starts,
        logdensity_and_grad,
        params,
        num_windows,
        dynamics.transition,
        max_spikes=COUNTS_ONLY,
    )
    protocol_wall = time.perf_counter() - wall
    grid, states = recording.positions_on_grid(protocol, 1.0, args.duration_ms)
    late = grid >= args.duration_ms / 2
    whitened = whiten(states[late], mean, chol)
    decorrelation_1ms = diagnostics.decorrelation_time(whitened, 1.0)
    coarse = np.round(grid[late]) % 10 == 0
    decorrelation_10ms = diagnostics.decorrelation_time(whitened[coarse], 10.0)

    # phase 2: the same chains, on, at stationarity
    continued = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[r.final_state for r in protocol])
    num_windows = int(np.ceil(args.stationary_ms / shortest)) + 1
    keys = jax.random.split(key_stationary, args.repeats)
    wall = time.perf_counter()
    stationary = recording.record_chains(
        keys,
        continued,
        logdensity_and_grad,
        params,
        num_windows,
        dynamics.transition,
        max_spikes=COUNTS_ONLY,
    )
    stationary_wall = time.perf_counter() - wall
    grid, states = recording.positions_on_grid(stationary, 1.0, args.stationary_ms)
    stationary_decorrelation = diagnostics.decorrelation_time(whiten(states, mean, chol), 1.0)
    draws = {f"x[{i + 1}]": states[:, :, i].T for i in range(dim)}  # (chain, draw)
    ess = diagnostics.efficiency(draws)
    span = float(grid[-1])
    spikes = sum(spikes_before(r, span) for r in stationary)
    per_ess = summary.spikes_per_dimension_per_effective_sample(
        spikes, dim, ess["conservative_ess"]
    )
    per_bulk = summary.spikes_per_dimension_per_effective_sample(
        spikes, dim, ess["median_ess_bulk"]
    )
    accept = float(np.mean([r.accept_prob.mean() for r in stationary]))

    # neural statistics: spike times of some of these chains (the same keys: the same chains)
    per_chain = spikes / args.repeats
    neural_chains = int(min(args.repeats, max(4, args.spike_budget // max(per_chain, 1.0))))
    logged = recording.record_chains(
        keys[:neural_chains],
        jax.tree.map(lambda a: a[:neural_chains], continued),
        logdensity_and_grad,
        params,
        num_windows,
        dynamics.transition,
        dynamics.record_transition,
        max_spikes=args.max_spikes,
    )
    clipped = [_clip(r, span) for r in logged]
    neural = summary.network_summary(clipped, populations, bin_ms=args.bin_ms)
    result = {
        "network": name
        if name != "cortical" or args.cortical_energy == "conserved"
        else f"cortical-{args.cortical_energy}",
        "dim": dim,
        "exact": bool(dynamics.exact),
        "settings": {k: v for k, v in settings.to_dict().items() if v is not None},
        "step_size": step,
        "population_size": population_size,
        "num_neurons": 2 * num_pairs,
        "neurons_per_dim": 2 * num_pairs / dim,
        "decorrelation_ms": decorrelation_1ms,
        "decorrelation_10ms_grid": decorrelation_10ms,
        "stationary_decorrelation_ms": stationary_decorrelation,
        "accept_prob": accept,
        "ess": ess,
        "stationary_ms_per_chain": span,
        "stationary_spikes": spikes,
        "spikes_per_dim_per_ess": per_ess,
        "spikes_per_dim_per_median_bulk_ess": per_bulk,
        "spikes_per_dim_per_ms": spikes / (dim * span * args.repeats),
        "neural_chains": neural_chains,
        "neural": neural,
        "wall_s": {"protocol": protocol_wall, "stationary": stationary_wall},
    }
    result["meets_targets"] = meets(result) if dynamics.exact else None
    return result


def _clip(rec, end_ms):
    """A recording cut at ``end_ms`` (whole windows that ended by then)."""
    keep = np.cumsum(rec.window_ms) <= end_ms + 1e-9
    last = rec.window_starts_ms[keep][-1] + rec.window_ms[keep][-1]
    times_kept = rec.times_ms < last if rec.times_ms is not None else None
    return rec._replace(
        spike_counts=rec.spike_counts[keep],
        is_accepted=rec.is_accepted[keep],
        accept_prob=rec.accept_prob[keep],
        positions=rec.positions[keep],
        start_positions=rec.start_positions[keep],
        window_ms=rec.window_ms[keep],
        times_ms=None if times_kept is None else rec.times_ms[times_kept],
        neurons=None if times_kept is None else rec.neurons[times_kept],
    )


def meets(result):
    """Which of the issue's targets this row reaches (spikes per ESS: filled in later)."""
    corr = result["neural"]["correlation"]
    low, high = TARGETS["isi_cv"]
    return {
        "decorrelation": result["decorrelation_ms"] <= TARGETS["decorrelation_ms"],
        "rate": result["neural"]["mean_rate_hz"] <= TARGETS["mean_rate_hz"],
        "isi_cv": low <= result["neural"]["isi_cv"] <= high,
        "correlation": corr["all"] < TARGETS["mean_abs_correlation"],
    }


def compare_with_poisson(results):
    """Fill in, for every exact non-Poisson row, whether it fires fewer spikes per dimension
    per effective sample than the Poisson network at the same d."""
    poisson = {r["dim"]: r["spikes_per_dim_per_ess"] for r in results if r["network"] == "poisson"}
    for r in results:
        if r["meets_targets"] is not None and r["network"] != "poisson" and r["dim"] in poisson:
            r["meets_targets"]["fewer_spikes_than_poisson"] = bool(
                r["spikes_per_dim_per_ess"] < poisson[r["dim"]]
            )


def table(results):
    head = (
        "| d | network | neurons | decorrelation (ms) | accept | ESS (cons.) | spikes/dim/ESS "
        "| rate (Hz) | ISI CV | Fano | mean abs r: all / within / across (floor) | targets |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        n, c = r["neural"], r["neural"]["correlation"]
        met = r["meets_targets"]
        verdict = (
            "-"
            if met is None
            else (
                "all"
                if all(met.values())
                else "missed: " + ", ".join(k for k, v in met.items() if not v)
            )
        )
        lines.append(
            f"| {r['dim']} | {r['network']}{'' if r['exact'] else ' (not exact)'} "
            f"| {r['num_neurons']} | {r['decorrelation_ms']:.1f} | {r['accept_prob']:.2f} "
            f"| {r['ess']['conservative_ess']:.0f} | {r['spikes_per_dim_per_ess']:.2f} "
            f"| {n['mean_rate_hz']:.1f} | {n['isi_cv']:.2f} | {n['fano']:.2f} "
            f"| {c['all']:.3f} / {c['within']:.3f} / {c['across']:.3f} ({c['floor']:.3f}) "
            f"| {verdict} |"
        )
    lines += [
        "",
        "Mean |count correlation| by bin width: all pairs / within populations / across",
        "",
        "| d | network | 10 ms | 50 ms | 100 ms |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        cells = [r["neural"]["correlation"]]
        cells += [r["neural"].get("correlation_other_bins", {}).get(k) for k in ("50.0", "100.0")]
        cells = [
            "-" if c is None else f"{c['all']:.3f} / {c['within']:.3f} / {c['across']:.3f}"
            for c in cells
        ]
        lines.append(f"| {r['dim']} | {r['network']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(results, path):
    from matplotlib.figure import Figure

    panels = [
        ("spikes_per_dim_per_ess", "spikes per dimension per effective sample", True, None),
        ("decorrelation_ms", "decorrelation time (ms)", False, TARGETS["decorrelation_ms"]),
        (("neural", "mean_rate_hz"), "mean rate per neuron (Hz)", True, TARGETS["mean_rate_hz"]),
        (("neural", "isi_cv"), "ISI CV", False, TARGETS["isi_cv"]),
        (
            ("neural", "correlation", "all"),
            "mean |count correlation| (10 ms bins)",
            False,
            TARGETS["mean_abs_correlation"],
        ),
        ("accept_prob", "acceptance", False, None),
    ]
    fig = Figure(figsize=(14, 7.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    networks = list(dict.fromkeys(r["network"] for r in results))
    for ax, (key, label, log, goal) in zip(axes, panels, strict=True):
        for name in networks:
            rows = [r for r in results if r["network"] == name]
            values = []
            for r in rows:
                v = r
                for k in key if isinstance(key, tuple) else (key,):
                    v = v[k]
                values.append(v)
            finite = np.isfinite(np.asarray(values, float))
            if not finite.any():
                continue
            ax.plot(
                np.asarray([r["dim"] for r in rows])[finite],
                np.asarray(values, float)[finite],
                "o-",
                color=COLORS.get(name),
                label=name + ("" if rows[0]["exact"] else " (not exact)"),
            )
            if key == ("neural", "correlation", "all"):
                ax.plot(
                    [r["dim"] for r in rows],
                    [r["neural"]["correlation"]["within"] for r in rows],
                    "s--",
                    color=COLORS.get(name),
                    mfc="none",
                    lw=0.8,
                )
        if goal is not None:
            for g in np.atleast_1d(goal):
                ax.axhline(g, color="k", ls=":", lw=1)
        if not ax.has_data():
            continue
        ax.set_xscale("log", base=2)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("dimension d")
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8)
    axes[4].text(
        0.02,
        0.98,
        "solid: all pairs; dashed: within populations",
        transform=axes[4].transAxes,
        va="top",
        fontsize=7,
    )
    fig.suptitle(
        "Masset protocol (rho = 0.75, mean 1, 100 chains from the origin): "
        "sampling speed and cortical statistics; dotted: the issue's targets"
    )
    fig.savefig(path, dpi=110)


def machine():
    import jaxlib

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "device": str(jax.devices()[0]),
        "cpu_count": __import__("os").cpu_count(),
    }


def row_path(out, name, dim):
    return out / "rows" / f"{name}-d{dim}.json"


def report(out, args):
    """results.json, table.md and cortical.png from every row in ``out/rows``."""
    order = {name: i for i, name in enumerate(["poisson", "lif", "hamiltonian", "cortical"])}
    rows = [json.loads(p.read_text()) for p in sorted((out / "rows").glob("*.json"))]
    rows.sort(key=lambda r: (r["dim"], order.get(r["network"], 99)))
    compare_with_poisson(rows)
    record = {
        "protocol": {k: v for k, v in vars(args).items() if k not in ("out", "report")},
        "targets": TARGETS,
        "target": "N(1, (1 - rho) I + rho 1 1^T); chains start at 0",
        "machine": machine(),
        "wall_s_total": sum(r["wall_s"]["total"] for r in rows),
        "results": rows,
    }
    (out / "results.json").write_text(json.dumps(record, indent=1, default=float))
    (out / "table.md").write_text(table(rows) + "\n")
    figure(rows, out / "cortical.png")
    print(table(rows))
    print("wrote", out / "results.json", out / "table.md", out / "cortical.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8, 32, 64])
    parser.add_argument(
        "--networks", nargs="+", default=["poisson", "lif", "hamiltonian", "cortical"]
    )
    parser.add_argument("--rho", type=float, default=0.75)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--duration-ms", type=float, default=500.0)
    parser.add_argument("--stationary-ms", type=float, default=2000.0)
    parser.add_argument("--bin-ms", type=float, default=10.0)
    parser.add_argument("--tau-ms", type=float, default=20.0)
    parser.add_argument("--lif-dt-ms", type=float, default=0.1)
    parser.add_argument("--hamiltonian-step", type=float, default=0.3)
    parser.add_argument("--cortical-step", type=float, default=0.1)
    parser.add_argument("--population-size", type=int, default=32)
    parser.add_argument("--spike-quantum", type=float, default=2.5)
    parser.add_argument(
        "--cortical-energy",
        default="conserved",
        choices=["conserved", "membrane"],
        help="the cortical network's MH energy (membrane: the ablation of the conserved one)",
    )
    parser.add_argument(
        "--spike-budget",
        type=int,
        default=4_000_000,
        help="spike times logged per network and d (sets neural_chains)",
    )
    parser.add_argument(
        "--max-spikes", type=int, default=50_000_000, help="spike times held at most"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/cortical")
    parser.add_argument(
        "--quick", action="store_true", help="20 chains, 1000 ms stationary (a smoke run)"
    )
    parser.add_argument(
        "--report", action="store_true", help="only merge the rows already run into the report"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.stationary_ms = 20, 1000.0
    out = pathlib.Path(args.out)
    (out / "rows").mkdir(parents=True, exist_ok=True)
    if not args.report:
        for dim in args.dims:
            for name in args.networks:
                # one key per (network, d): a row can be rerun alone
                key = jax.random.fold_in(jax.random.PRNGKey(args.seed), 1000 * order_of(name) + dim)
                start = time.perf_counter()
                r = run_network(name, dim, args, key)
                r["wall_s"]["total"] = time.perf_counter() - start
                r["protocol"] = {k: v for k, v in vars(args).items() if k not in ("out", "report")}
                row_path(out, r["network"], dim).write_text(json.dumps(r, indent=1, default=float))
                n = r["neural"]
                print(
                    f"d={dim:3d} {name:12s} decorr {r['decorrelation_ms']:5.1f} ms "
                    f"acc {r['accept_prob']:.2f} ESS {r['ess']['conservative_ess']:7.0f} "
                    f"spikes/dim/ESS {r['spikes_per_dim_per_ess']:7.2f} "
                    f"rate {n['mean_rate_hz']:6.1f} Hz CV {n['isi_cv']:.2f} Fano {n['fano']:.2f} "
                    f"|r| {n['correlation']['all']:.3f} (within {n['correlation']['within']:.3f}, "
                    f"across {n['correlation']['across']:.3f}) [{r['wall_s']['total']:.0f} s]",
                    flush=True,
                )
    report(out, args)


def order_of(name):
    return ["poisson", "lif", "hamiltonian", "cortical"].index(name)


if __name__ == "__main__":
    main()
