"""A 16-unit Boltzmann machine sampled by spiking neurons (neural sampling), against exact
enumeration of its 65,536 states.

python examples/discrete_boltzmann.py [output_folder]     (default examples/figures/)

    p(s) ∝ exp(1/2 s^T W s + b^T s),  s in {0, 1}^16     (models.load("boltzmann_machine_16"))
    unit i is one neuron with membrane potential u_i = log p(s_i = 1, rest) - log p(s_i = 0, rest)

Runs SpikingKernel(model) with default settings (4 chains, 1000 warmup, 4000 draws: one sweep
of the 16 units per draw) and again with a refractory period of tau = 10 steps of 1 ms, the
construction of Buesing et al. (2011) with biologically long refractory periods. Figures:
rasters of the 16 neurons (tau = 1 and tau = 10), the marginals P(s_i = 1) and the pairwise
correlations of the units against the exact ones, and the firing rates against
P(s_i = 1) / (tau * step).
"""

import argparse
import pathlib
import sys

import jax
import matplotlib
import numpy as np
from numpyro.infer import MCMC

matplotlib.use("Agg")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the zoo, models/
import matplotlib.pyplot as plt  # noqa: E402

import models  # noqa: E402
from models.posteriors import boltzmann  # noqa: E402
from spiking_mcmc import SpikingKernel, neural  # noqa: E402
from spiking_mcmc.discrete import neural as discrete_neural  # noqa: E402

FIELDS = ("discrete.fired", "discrete.values")


def run(posterior, num_warmup, num_samples, **discrete):
    kernel = SpikingKernel(posterior.model, discrete=discrete or None)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0), *posterior.args, extra_fields=FIELDS)
    return mcmc, kernel


def correlations(states, weights=None):
    """Pairwise correlations (i < j) of binary states, weighted by ``weights`` when given."""
    cov = np.cov(states.T, aweights=weights)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return corr[np.triu_indices(states.shape[1], 1)]


def raster(ax, rec, t_max_ms, title):
    times, neurons = rec.spike_times()
    keep = times < t_max_ms
    ax.eventplot(
        [times[keep & (neurons == n)] for n in range(rec.num_neurons)],
        colors="k",
        linelengths=0.8,
        linewidths=0.8,
    )
    on = rec.values[: int(t_max_ms / rec.step_ms)].T
    ax.imshow(
        on,
        aspect="auto",
        cmap="Blues",
        alpha=0.35,
        extent=(0, t_max_ms, rec.num_neurons - 0.5, -0.5),
        interpolation="nearest",
        vmin=0,
        vmax=1,
    )
    ax.set_ylim(rec.num_neurons - 0.5, -0.5)
    ax.set_xlim(0, t_max_ms)
    ax.set_ylabel("unit")
    ax.set_title(title)


def main(folder, num_warmup, num_samples):
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    posterior = models.load("boltzmann_machine_16")
    states, p = boltzmann.enumerate_states(16, 0.75)
    exact_marginals = p @ states
    exact_corr = correlations(states, p)

    results = {}
    for tau in (1, 10):
        options = {} if tau == 1 else {"refractory_steps": tau}
        mcmc, kernel = run(posterior, num_warmup, num_samples, **options)
        s = np.asarray(mcmc.get_samples(group_by_chain=True)["s"], float)
        fields = mcmc.get_extra_fields(group_by_chain=True)
        recs = [discrete_neural.from_fields(fields, kernel, chain=c) for c in range(4)]
        rec = recs[0]
        draws = posterior.stan_draws(mcmc.get_samples(group_by_chain=True))
        check = models.compare(draws, posterior.reference, sd_tol=np.inf)
        all_spikes = np.concatenate([r.spikes for r in recs])
        rates = neural.firing_rates_hz(all_spikes, rec.step_ms)
        times, neurons = rec.spike_times()
        cv = neural.isi_cv(times, neurons, rec.num_neurons)
        results[tau] = (s, rec, check, rates, cv)
        print(
            f"tau = {tau:2d}: max |z| {check.max_abs_z:.2f} over {len(check.params)} "
            f"probabilities, min ESS {min(q.ess_bulk for q in check.params):.0f}, "
            f"passed {check.passed}; rates {rates.min():.0f}-{rates.max():.0f} Hz, "
            f"ISI CV {np.nanmean(cv):.2f}"
        )

    fig, axes = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    raster(axes[0], results[1][1], 200.0, "tau = 1 (default): one step per draw, spike = on")
    raster(axes[1], results[10][1], 200.0, "tau = 10: a spike holds the unit on for 10 ms")
    axes[1].set_xlabel("time (ms)")
    fig.tight_layout()
    fig.savefig(folder / "discrete_boltzmann_raster.png", dpi=120)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for tau, marker in ((1, "o"), (10, "x")):
        s, rec, check, rates, _ = results[tau]
        flat = s.reshape(-1, 16)
        axes[0].scatter(exact_marginals, flat.mean(0), marker=marker, label=f"tau = {tau}")
        axes[1].scatter(exact_corr, correlations(flat), marker=marker, s=12, label=f"tau = {tau}")
        predicted = discrete_neural.predicted_rates_hz(exact_marginals, tau, rec.step_ms)
        axes[2].scatter(predicted, rates, marker=marker, label=f"tau = {tau}")
    for ax, title in zip(
        axes,
        (
            "marginals P(s_i = 1)",
            "pairwise correlations (120 pairs)",
            "firing rate (Hz) vs P(s_i = 1) / (tau step)",
        ),
        strict=True,
    ):
        lo, hi = ax.get_xlim()
        lo = max(lo, 1.0) if ax is axes[2] else lo
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("exact (enumeration)")
        ax.set_ylabel("spiking network")
        ax.set_title(title)
        ax.legend()
    axes[2].set_xscale("log")
    axes[2].set_yscale("log")
    fig.tight_layout()
    fig.savefig(folder / "discrete_boltzmann_marginals.png", dpi=120)
    print(f"figures in {folder}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default=pathlib.Path(__file__).parent / "figures")
    parser.add_argument("--num-warmup", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=4000)
    args = parser.parse_args()
    main(args.folder, args.num_warmup, args.num_samples)
