"""The protocol of Masset et al. (2022, "Natural gradient enables fast sampling in spiking
neural networks") for the networks of this package.

    python benchmarks/masset_protocol.py [--dims 2 8 32 64] [--repeats 100] [--duration-ms 500]

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
  1 ms per leapfrog step), if registered.

``repeats`` independent chains start at the origin. At each 10 ms of biological time the
ensemble of chains is compared with the truth: the marginal 2-Wasserstein distance
W2(t) = mean_i W2(empirical marginal i of the R chains at t, N(mu_i, Sigma_ii)), computed
exactly between the empirical quantile function and the Gaussian one. Reported: W2 after
50 ms, W2 at steady state (mean over the second half of the run) beside the floor that R
exact independent draws give, the decorrelation time (first lag at which the autocorrelation
of the whitened coordinates, averaged over coordinates and chains, falls below 1/e, in ms),
the mean firing rate per neuron, acceptance, and the wall time. Results: JSON and a figure
in benchmarks/results/masset/.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from spiking_mcmc.dynamics import registry
from spiking_mcmc.dynamics.base import PositionState

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
    """First lag (ms) where the mean autocorrelation of whitened coordinates drops below 1/e.

    whitened: (T, R, d) on a time grid of ``grid_ms``, already centred and scaled by the truth.
    """
    steps = whitened.shape[0]
    acf = [1.0]
    for lag in range(1, steps // 2):
        acf.append(float(np.mean(whitened[lag:] * whitened[:-lag]) / np.mean(whitened**2)))
        if acf[-1] < np.exp(-1.0):
            a, b = acf[-2], acf[-1]
            return grid_ms * (lag - 1 + (a - np.exp(-1.0)) / (a - b))
    return float("nan")


def tuned_poisson_step(module, settings, frame, chol, logdensity_and_grad, mean, key):
    """Largest h (bisection on log h) whose mean one-window acceptance at stationarity (256
    exact draws as starting points) is at least the Poisson network's target (0.57)."""
    dim = chol.shape[0]
    starts = mean + jax.random.normal(key, (256, dim)) @ jnp.asarray(chol, jnp.float32).T
    keys = jax.random.split(jax.random.fold_in(key, 1), 256)

    @jax.jit
    def acceptance(log_h):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = module.make_params(jnp.exp(log_h), jnp.asarray(chol), settings, frame)

        def one(x, k):
            lp, g = logdensity_and_grad(x)
            return module.transition(k, PositionState(x, lp, g), logdensity_and_grad, params)[
                1
            ].accept_prob

        return jnp.mean(jax.vmap(one)(starts, keys))

    low, high = np.log(1e-3), np.log(10.0)
    for _ in range(14):
        middle = 0.5 * (low + high)
        if float(acceptance(middle)) >= module.TARGET_ACCEPT_PROB:
            low = middle
        else:
            high = middle
    return float(np.exp(low))


def network_params(name, dim, chol, args, logdensity_and_grad=None, mean=None, key=None):
    module = registry.get(name)
    settings = dict(module.DEFAULTS)
    step_size = 1.0
    if name == "poisson":
        settings["num_pairs"] = args.neurons_per_dim // 2 * dim
        # tau-matched step (diffusion limit: Langevin with time constant tau), unless the
        # acceptance rate would fall below the target: then the tuned step
        step_size = 2.0 * settings["window_ms"] / args.tau_ms
        tuned = tuned_poisson_step(
            module, settings, module.frame(dim, settings), chol, logdensity_and_grad, mean, key
        )
        step_size = min(step_size, tuned)
    elif name == "lif":
        settings.update(
            num_pairs=args.neurons_per_dim // 2 * dim,
            tau_ms=args.tau_ms,
            tau_m_ms=args.tau_ms,
            dt_ms=args.lif_dt_ms,
        )
    elif name == "hamiltonian":
        step_size = args.hmc_step
    module.check_settings(settings)
    frame = module.frame(dim, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = module.make_params(step_size, jnp.asarray(chol, jnp.float32), settings, frame)
    return module, params, settings, step_size


def run_network(name, dim, args, key):
    mean, cov = target(dim, args.rho)
    chol = np.linalg.cholesky(cov)
    precision = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    mean_j = jnp.asarray(mean, jnp.float32)

    def log_density(x):
        return -0.5 * (x - mean_j) @ precision @ (x - mean_j)

    logdensity_and_grad = jax.value_and_grad(log_density)
    key, key_tune = jax.random.split(key)
    module, params, settings, step_size = network_params(
        name, dim, chol, args, logdensity_and_grad, mean_j, key_tune
    )
    # enough transitions to cover the duration (hamiltonian transitions last >= 1 step)
    if name == "hamiltonian":
        per_transition = settings["step_ms"] * np.ceil(1.0 / (args.hmc_step * 1.2))
    else:
        per_transition = settings["window_ms"]
    num_transitions = int(np.ceil(args.duration_ms / per_transition)) + 1

    def chain(key):
        x0 = jnp.zeros(dim, jnp.float32)
        lp, g = logdensity_and_grad(x0)
        state = PositionState(x0, lp, g)

        def step(state, k):
            new, info = module.transition(k, state, logdensity_and_grad, params)
            return new, (
                new.position,
                info.biological_time_ms,
                info.num_spikes,
                info.accept_prob,
            )

        return jax.lax.scan(step, state, jax.random.split(key, num_transitions))[1]

    run = jax.jit(jax.vmap(chain))
    keys = jax.random.split(key, args.repeats)
    compile_start = time.perf_counter()
    compiled = run.lower(keys).compile()
    compile_s = time.perf_counter() - compile_start
    start = time.perf_counter()
    positions, durations, spikes, accept = jax.block_until_ready(compiled(keys))
    wall_s = time.perf_counter() - start
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
    num_neurons = 2 * (settings.get("num_pairs") or dim)
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
        "step_size": step_size if name != "lif" else None,
        "exact": bool(getattr(module, "EXACT", True)),
        "wall_s": wall_s,
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    parser.add_argument("--out", default="benchmarks/results/masset")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    networks = [n for n in args.networks if n in registry.names()]
    results, floors = [], {}
    key = jax.random.PRNGKey(args.seed)
    for dim in args.dims:
        floors[dim] = w2_floor(dim, args)
        for name in networks:
            key, sub = jax.random.split(key)
            r = run_network(name, dim, args, sub)
            results.append(r)
            print(
                f"d={dim:3d} {name:12s} W2@{args.early_ms:g}ms {r['w2_early']:.3f} "
                f"steady {r['w2_steady']:.3f} (floor {floors[dim]:.3f}) "
                f"decorr {r['decorrelation_ms']:.0f} ms rate {r['mean_rate_hz']:.0f} Hz "
                f"acc {r['accept_prob']:.2f} wall {r['wall_s']:.1f}s",
                flush=True,
            )
    summary = {
        "protocol": {k: v for k, v in vars(args).items() if k != "out"},
        "target": "N(1, (1 - rho) I + rho 1 1^T); chains start at 0",
        "w2_floor": {str(d): f for d, f in floors.items()},
        "results": results,
    }
    (out / "masset.json").write_text(json.dumps(summary, indent=1))
    figure(results, floors, args, out / "masset.png")
    print("wrote", out / "masset.json", "and", out / "masset.png")


if __name__ == "__main__":
    main()
