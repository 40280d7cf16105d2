"""The protocol of Masset et al. (2022, "Natural gradient enables fast sampling in spiking
neural networks") for the networks of this package.

    python -m benchmarks.masset_protocol [--dims 2 8 32 64] [--repeats 100] [--duration-ms 500]

Targets: Gaussians N(mu, Sigma) in d = 2, 8, 32, 64 dimensions with unit variances and every
pairwise correlation rho = 0.75 (Sigma = (1 - rho) I + rho 1 1^T, condition number
1 + rho d / (1 - rho)), mu = 1 (every coordinate one standard deviation from the start).
Networks, all with the natural (posterior-whitening) geometry D ~ chol(Sigma), as in the
paper's natural-gradient networks, and 10 neurons per dimension (P = 5d ON/OFF pairs on a
tight frame) where the network allows it:

- poisson: the exact Poisson network, window 10 ms, step h = 2 T / tau (the diffusion limit
  is Langevin dynamics with time constant tau = 20 ms);
- lif: the leaky integrate-and-fire network (not exact), Langevin time constant tau = 20 ms,
  membrane time constant 20 ms, dt = 0.1 ms;
- hamiltonian: the integrate-and-fire Hamiltonian network (exact; one pair per dimension,
  1 ms per leapfrog step).

Each network is built through the public dynamics API (``registry.get(name)``: its settings
dataclass, ``build(settings, metric, step_size)`` with ``metric.from_factor(chol(Sigma))``,
``transition``), and the grid of (d, network) cases runs through the benchmark harness.
``repeats`` independent chains start at the origin. At each 10 ms of biological time the
ensemble of chains is compared with the truth: the marginal 2-Wasserstein distance
W2(t) = mean_i W2(empirical marginal i of the R chains at t, N(mu_i, Sigma_ii)), computed
exactly between the empirical quantile function and the Gaussian one. Reported: W2 after
50 ms, W2 at steady state (mean over the second half of the run) beside the floor that R
exact independent draws give, the decorrelation time (first lag at which the autocorrelation
of the whitened coordinates, ``numpyro.diagnostics.autocorrelation`` averaged over
coordinates and chains, falls below 1/e, in ms), the mean firing rate per neuron, acceptance,
and the time the compiled run took. Results: results.json (harness records) and masset.png
in benchmarks/results/masset/.
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from spiking_mcmc.dynamics import registry
from spiking_mcmc.dynamics.base import PositionState
from spiking_mcmc.timing import compile_ahead, time_call

GRID_MS = 10.0


def target(dim, rho):
    cov = (1.0 - rho) * np.eye(dim) + rho * np.ones((dim, dim))
    return np.ones(dim), cov


def marginal_w2(samples, mean, sd):
    """Mean over coordinates of W2(empirical marginal, N(mean_i, sd_i^2)), exactly.

    W2^2 = sum_k int_{(k-1)/R}^{k/R} (x_(k) - q(u))^2 du, q the Gaussian quantile function;
    int q = -sd [phi(z)] + mean du and int q^2 follow from z = (q - mean) / sd.
    """
    x = np.sort(np.asarray(samples, float), axis=0)  # (R, d)
    r = x.shape[0]
    edges = np.linspace(0.0, 1.0, r + 1)
    z = stats.norm.ppf(edges)[:, None]  # -inf, ..., +inf
    finite = np.isfinite(z)
    z = np.where(finite, z, 0.0)
    pdf = np.where(finite, stats.norm.pdf(z), 0.0)  # phi(+-inf) = 0, z phi(z) -> 0
    cdf = edges[:, None]
    zpdf = z * pdf
    int_z = pdf[:-1] - pdf[1:]  # int z du over each interval
    int_z2 = (cdf[1:] - zpdf[1:]) - (cdf[:-1] - zpdf[:-1])  # int z^2 du
    width = 1.0 / r
    int_q = mean * width + sd * int_z
    int_q2 = mean**2 * width + 2 * mean * sd * int_z + sd**2 * int_z2
    w2sq = np.sum(x * x * width - 2 * x * int_q + int_q2, axis=0)
    return float(np.mean(np.sqrt(np.maximum(w2sq, 0.0))))


def decorrelation_ms(whitened, grid_ms):
    """First lag (ms) where the mean autocorrelation of whitened coordinates drops below 1/e
    (linear between grid points); NaN if it never does within half the run.

    whitened: (T, R, d) on a time grid of ``grid_ms``, scaled by the truth's factor."""
    from numpyro.diagnostics import autocorrelation

    acf = np.mean(autocorrelation(np.asarray(whitened), axis=0), axis=(1, 2))
    threshold = np.exp(-1.0)
    for lag in range(1, whitened.shape[0] // 2):
        if acf[lag] < threshold:
            a, b = acf[lag - 1], acf[lag]
            return grid_ms * (lag - 1 + (a - threshold) / (a - b))
    return float("nan")


def network_settings(name, dim, args):
    """The settings dataclass of network ``name`` for the protocol."""
    dynamics = registry.get(name)
    pairs = args.neurons_per_dim // 2 * dim
    options = {
        "poisson": {"num_pairs": pairs},
        "lif": {
            "num_pairs": pairs,
            "tau_ms": args.tau_ms,
            "tau_m_ms": args.tau_ms,
            "dt_ms": args.lif_dt_ms,
        },
    }.get(name, {})
    return dynamics.settings(**options)


def acceptance(dynamics, settings, metric, logdensity_and_grad, starts, keys):
    """log h -> mean one-window acceptance of the network with step h from ``starts``."""

    def mean_accept(log_h):
        params = dynamics.build(settings, metric, jnp.exp(log_h))

        def one(x, key):
            lp, g = logdensity_and_grad(x)
            _, info = dynamics.transition(key, PositionState(x, lp, g), logdensity_and_grad, params)
            return info.accept_prob

        return jnp.mean(jax.vmap(one)(starts, keys))

    return jax.jit(mean_accept)


def tuned_poisson_step(dynamics, settings, metric, logdensity_and_grad, mean, key):
    """Largest h (bisection on log h) whose mean one-window acceptance at stationarity (256
    exact draws as starting points) is at least the network's target acceptance."""
    chol = metric.matrix()
    starts = mean + jax.random.normal(key, (256, metric.dim)) @ chol.T
    keys = jax.random.split(jax.random.fold_in(key, 1), 256)
    accept = acceptance(dynamics, settings, metric, logdensity_and_grad, starts, keys)
    low, high = np.log(1e-3), np.log(10.0)
    for _ in range(14):
        middle = 0.5 * (low + high)
        if float(accept(middle)) >= dynamics.target_accept_prob:
            low = middle
        else:
            high = middle
    return float(np.exp(low))


def step_size(name, dynamics, settings, metric, args, logdensity_and_grad, mean, key):
    """Poisson: the tau-matched step h = 2 T / tau (its diffusion limit is Langevin dynamics
    with time constant tau), unless acceptance would fall below the target: then the tuned
    step. Hamiltonian: ``--hmc-step`` (whitened). LIF: unused."""
    if name == "poisson":
        matched = 2.0 * settings.window_ms / args.tau_ms
        tuned = tuned_poisson_step(dynamics, settings, metric, logdensity_and_grad, mean, key)
        return min(matched, tuned)
    if name == "hamiltonian":
        return args.hmc_step
    return 1.0


def transition_ms(name, settings, args):
    """The shortest biological duration of one transition (to size the run)."""
    if name == "hamiltonian":  # at least ceil(trajectory / (1.2 step)) leapfrog steps
        steps = np.ceil(settings.trajectory_length / (args.hmc_step * (1 + settings.step_jitter)))
        return settings.step_ms * steps
    return settings.window_ms


def run_network(name, dim, args, key):
    """One (network, d) case: ``args.repeats`` chains from the origin for ``duration_ms``."""
    from spiking_mcmc.metric import from_factor

    dynamics = registry.get(name)
    settings = network_settings(name, dim, args)
    mean, cov = target(dim, args.rho)
    chol = np.linalg.cholesky(cov)
    metric = from_factor(jnp.asarray(chol, jnp.float32))
    precision = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    mean_j = jnp.asarray(mean, jnp.float32)

    def log_density(x):
        return -0.5 * (x - mean_j) @ precision @ (x - mean_j)

    logdensity_and_grad = jax.value_and_grad(log_density)
    key, key_tune = jax.random.split(key)
    step = step_size(name, dynamics, settings, metric, args, logdensity_and_grad, mean_j, key_tune)
    params = dynamics.build(settings, metric, step)
    num_transitions = int(np.ceil(args.duration_ms / transition_ms(name, settings, args))) + 1

    def chain(key):
        x0 = jnp.zeros(dim, jnp.float32)
        state = PositionState(x0, *logdensity_and_grad(x0))

        def move(state, key):
            state, info = dynamics.transition(key, state, logdensity_and_grad, params)
            return state, (
                state.position,
                info.biological_time_ms,
                info.num_spikes,
                info.accept_prob,
            )

        return jax.lax.scan(move, state, jax.random.split(key, num_transitions))[1]

    keys = jax.random.split(key, args.repeats)
    compiled, compile_s = compile_ahead(jax.vmap(chain), keys)
    (positions, durations, spikes, accept), run_s = time_call(compiled, keys)
    positions, durations = np.asarray(positions, float), np.asarray(durations, float)
    ends = np.cumsum(durations, axis=1)  # (R, n)
    grid = np.arange(0.0, args.duration_ms + 1e-9, GRID_MS)
    # state at time t: after the last transition that ended by t (the start before any)
    index = np.stack([np.searchsorted(e, grid, side="right") for e in ends])  # (R, T)
    padded = np.concatenate([np.zeros((args.repeats, 1, dim)), positions], axis=1)
    at_grid = np.take_along_axis(padded, index[:, :, None], axis=1)  # (R, T, d)
    sd = np.sqrt(np.diag(cov))
    w2 = np.array([marginal_w2(at_grid[:, t], mean, sd) for t in range(grid.size)])
    late = grid >= args.duration_ms / 2
    whitened = np.linalg.solve(chol, (at_grid[:, late] - mean).reshape(-1, dim).T).T
    whitened = whitened.reshape(args.repeats, late.sum(), dim).transpose(1, 0, 2)
    total_ms = float(np.mean(ends[:, -1]))
    num_neurons = 2 * (getattr(settings, "num_pairs", None) or dim)
    early = int(np.argmin(np.abs(grid - args.early_ms)))
    return {
        "network": name,
        "dim": dim,
        "num_neurons": num_neurons,
        "w2_early": float(w2[early]),
        "w2_steady": float(np.mean(w2[late])),
        "decorrelation_ms": decorrelation_ms(whitened, GRID_MS),
        "mean_rate_hz": float(np.sum(spikes) / (args.repeats * num_neurons * total_ms / 1000.0)),
        "accept_prob": float(np.mean(accept)),
        "step_size": step if name != "lif" else None,
        "exact": dynamics.exact,
        "run_s": run_s,
        "compile_s": compile_s,
        "w2_curve": w2.tolist(),
        "time_ms": grid.tolist(),
    }


def w2_floor(dim, args, seed=0, draws=20):
    """W2 of R exact independent draws (what a perfect sampler scores with R chains)."""
    mean, cov = target(dim, args.rho)
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.diag(cov))
    return float(
        np.mean(
            [
                marginal_w2(rng.multivariate_normal(mean, cov, size=args.repeats), mean, sd)
                for _ in range(draws)
            ]
        )
    )


def figure(results, floors, args, path):
    from matplotlib.figure import Figure

    dims = sorted({r["dim"] for r in results})
    networks = list(dict.fromkeys(r["network"] for r in results))
    colors = {"poisson": "#c0392b", "lif": "#2471a3", "hamiltonian": "#1e8449"}
    fig = Figure(figsize=(3.4 * max(len(dims), 4), 7.0), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    axes = [np.atleast_1d(top.subplots(1, len(dims))), bottom.subplots(1, 4)]
    for ax, dim in zip(axes[0], dims, strict=False):
        for r in results:
            if r["dim"] == dim:
                ax.plot(
                    r["time_ms"],
                    r["w2_curve"],
                    color=colors.get(r["network"]),
                    label=r["network"] + ("" if r["exact"] else " (not exact)"),
                )
        ax.axhline(floors[dim], color="0.4", ls="--", lw=1, label=f"{args.repeats} exact draws")
        ax.axvline(args.early_ms, color="0.8", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"d = {dim}")
        ax.set_xlabel("biological time (ms)")
        ax.set_ylabel("marginal W2 to the truth")
    axes[0][0].legend(fontsize=7)
    panels = [
        ("w2_early", f"W2 after {args.early_ms:g} ms", True),
        ("w2_steady", "W2 at steady state", True),
        ("decorrelation_ms", "decorrelation time (ms)", False),
        ("mean_rate_hz", "mean firing rate (Hz)", False),
    ]
    for ax, (key, label, log) in zip(axes[1], panels, strict=False):
        for name in networks:
            rows = [r for r in results if r["network"] == name]
            ax.plot(
                [r["dim"] for r in rows],
                [r[key] for r in rows],
                "o-",
                color=colors.get(name),
                label=name,
            )
        if key == "w2_steady":
            ax.plot(dims, [floors[d] for d in dims], "k--", lw=1, label="exact draws")
        ax.set_xscale("log", base=2)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("dimension d")
        ax.set_title(label)
    axes[1][1].legend(fontsize=7)
    fig.suptitle(
        f"Masset protocol: Gaussians with rho = {args.rho}, {args.neurons_per_dim} neurons per "
        f"dimension, tau = {args.tau_ms:g} ms, {args.repeats} chains"
    )
    fig.savefig(path, dpi=110)


def run_case(case, out, floors):
    """The harness's runner: ``case.method`` is the network, ``case.settings`` the protocol."""
    args = case.settings
    dim = int(case.model.rsplit("_d", 1)[1])
    network_index = args.networks.index(case.method)
    key = jax.random.fold_in(jax.random.PRNGKey(args.seed), 1000 * dim + network_index)
    record = run_network(case.method, dim, args, key)
    record["w2_floor"] = floors[dim]
    return record


def main(argv=None):
    import functools

    from benchmarks import harness
    from benchmarks.migrate import masset_model

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.masset_protocol", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8, 32, 64])
    parser.add_argument("--networks", nargs="+", default=["poisson", "lif", "hamiltonian"])
    parser.add_argument("--rho", type=float, default=0.75)
    parser.add_argument("--neurons-per-dim", type=int, default=10)
    parser.add_argument("--tau-ms", type=float, default=20.0)
    parser.add_argument("--lif-dt-ms", type=float, default=0.1)
    parser.add_argument("--hmc-step", type=float, default=0.3, help="whitened leapfrog step")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--duration-ms", type=float, default=500.0)
    parser.add_argument("--early-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=pathlib.Path, default=pathlib.Path("benchmarks/results/masset")
    )
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    args.networks = [n for n in args.networks if n in registry.names()]
    floors = {dim: w2_floor(dim, args) for dim in args.dims}
    protocol = {k: v for k, v in vars(args).items() if k not in ("out", "resume")}
    cases = [
        harness.Case(masset_model(dim), name, args.repeats, args)
        for dim in args.dims
        for name in args.networks
    ]
    results = harness.run(
        cases,
        functools.partial(run_case, floors=floors),
        args.out,
        resume=args.resume,
        settings=protocol,
        desc="masset",
    )
    results["target"] = "N(1, (1 - rho) I + rho 1 1^T); chains start at 0"
    results["w2_floor"] = {str(d): f for d, f in floors.items()}
    harness.save_results(args.out / "results.json", results)
    records = [r for r in results["records"] if "error" not in r]
    for r in records:
        print(
            f"d={r['dim']:3d} {r['network']:12s} W2@{args.early_ms:g}ms {r['w2_early']:.3f} "
            f"steady {r['w2_steady']:.3f} (floor {r['w2_floor']:.3f}) "
            f"decorr {r['decorrelation_ms']:.0f} ms rate {r['mean_rate_hz']:.0f} Hz "
            f"acc {r['accept_prob']:.2f} run {r['run_s']:.1f}s"
        )
    for r in results["records"]:
        if "error" in r:
            print(f"{r['model']} / {r['method']}: failed: {r['error']}")
    figure(records, {r["dim"]: r["w2_floor"] for r in records}, args, args.out / "masset.png")
    print("wrote", args.out / "results.json", "and", args.out / "masset.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
