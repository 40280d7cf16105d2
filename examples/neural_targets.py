"""The Poisson network on a 32-d correlated Gaussian and on eight schools: raster with the
decoded state, rate / ISI-CV / Fano histograms, measured against predicted count correlations.

python examples/neural_targets.py [--target gaussian32|eight_schools|all] [output_folder]

The 32-d Gaussian has unit variances and every correlation 0.75 (Masset et al.'s targets),
with 64 ON/OFF pairs on a tight frame (the raster shows 12 of them); eight schools
(non-centred, unconstrained: mu, log tau, theta_trans) has one pair per dimension. Warmup
learns a dense covariance (the decoders); the tuned network is recorded for 40,000 windows
(400 s of network time).

The lag-0 spike-count correlations are predicted from the recurrent weights
W = -1/2 D^T H D, H the Hessian of -log p at the state where the recording starts
(``SpikingKernel.get_network``), by the lognormal linear response of spiking_mcmc.neural.
For the Gaussian H is the same everywhere and the lognormal form is exact; eight schools is
not Gaussian (H changes with tau), so the script also predicts with the mean of H over the
recorded states, which equals Cov(grad log p) (Fisher's identity) and so gives the
potentials' covariance C = -W/2 that the lag-0 prediction needs.
"""

import argparse
import pathlib

import jax
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC
from numpyro.infer.util import potential_energy

import models
from spiking_mcmc import SpikingKernel, neural
from spiking_mcmc.neural import plots, recording

TARGETS = {  # posterior, ON/OFF pairs per dimension, pairs shown in the raster, warmup windows
    "gaussian32": ("gaussian_corr_d32", 2, 12, 3000),
    "eight_schools": ("eight_schools-eight_schools_noncentered", 1, 10, 2000),
}
NUM_WINDOWS = 40_000


def mean_hessian(posterior, state, positions, num_states=200):
    """Mean Hessian of -log p over recorded states (flat unconstrained positions).

    H_bar = 1/S sum_s H(x_s) = E[g g^T] at stationarity (Fisher's identity, g = grad log p).
    """
    _, unravel = ravel_pytree(state.z)

    def potential(flat):
        return potential_energy(posterior.model, posterior.args, posterior.kwargs, unravel(flat))

    chosen = positions[:: max(1, len(positions) // num_states)]
    return np.mean(np.asarray(jax.jit(jax.vmap(jax.hessian(potential)))(chosen)), axis=0)


def correlation_match(measured, predicted):
    """How well predicted lag-0 correlations match measured ones (off-diagonal entries).

    r = Pearson correlation of the entries; slope of measured on predicted through 0;
    rms = sqrt(mean (measured - predicted)^2), beside the spread sqrt(mean measured^2).
    """
    off = ~np.eye(measured.shape[0], dtype=bool)
    m, p = measured[off], predicted[off]
    return {
        "r": float(np.corrcoef(m, p)[0, 1]),
        "slope": float(m @ p / (p @ p)),
        "rms": float(np.sqrt(np.mean((m - p) ** 2))),
        "spread": float(np.sqrt(np.mean(m**2))),
    }


def predicted_correlation(weights, network, jitter):
    """Lag-0 count correlation predicted from W (lognormal linear response)."""
    cov = neural.predicted_count_covariance(weights, network.expected_spikes, jitter=jitter)
    return neural.covariance_to_correlation(cov[0])


def run(target, folder):
    name, pairs_per_dim, shown_pairs, num_warmup = TARGETS[target]
    posterior = models.load(name)
    num_pairs = pairs_per_dim * posterior.dimension
    kernel = SpikingKernel(
        posterior.model, dynamics="poisson", dense_mass=True, num_pairs=num_pairs
    )
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=10, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), *posterior.args, **posterior.kwargs)
    state = mcmc.last_state
    network, weights = kernel.get_network(state)
    rec = recording.record_kernel(kernel, state, NUM_WINDOWS, key=jax.random.PRNGKey(1))
    times, neurons = recording.spike_times(rec.spike_counts, rec.window_ms, seed=0)
    rates = neural.firing_rates_hz(rec.spike_counts, rec.window_ms)
    cv = neural.isi_cv(times, neurons, 2 * num_pairs)
    fano = neural.fano_factors(rec.spike_counts)
    measured = neural.count_correlation(rec.spike_counts)[0]
    jitter = kernel.settings.jitter
    predicted = predicted_correlation(np.asarray(weights), network, jitter)
    at_state = correlation_match(measured, predicted)
    decoders = np.asarray(network.decoders, float)
    averaged = neural.gaussian_weights(decoders, mean_hessian(posterior, state, rec.positions))
    at_mean = correlation_match(measured, predicted_correlation(averaged, network, jitter))
    print(
        f"{target}: d = {posterior.dimension}, {2 * num_pairs} neurons, {rec.num_windows} windows "
        f"({rec.duration_ms / 1000:.0f} s), acceptance {rec.is_accepted.mean():.2f}\n"
        f"  rate {rates.mean():.1f} Hz (range {rates.min():.1f}-{rates.max():.1f}), "
        f"ISI CV {np.nanmean(cv):.2f} ({np.nanmin(cv):.2f}-{np.nanmax(cv):.2f}), "
        f"Fano {np.nanmean(fano):.2f} ({np.nanmin(fano):.2f}-{np.nanmax(fano):.2f})\n"
        f"  lag-0 correlations, Hessian at the recorded state: r = {at_state['r']:.3f}, "
        f"slope {at_state['slope']:.2f}, rms error {at_state['rms']:.4f} "
        f"(spread of the measured {at_state['spread']:.4f}, noise ~{rec.num_windows**-0.5:.4f})\n"
        f"  mean Hessian over recorded states: r = {at_mean['r']:.3f}, "
        f"slope {at_mean['slope']:.2f}, rms error {at_mean['rms']:.4f}"
    )
    subset = rec._replace(spike_counts=rec.spike_counts[:, :, :shown_pairs])
    figures = {
        f"neural_{target}_raster.png": plots.raster(subset, t_max_ms=300.0, dims=range(4)),
        f"neural_{target}_rates_isi.png": plots.rate_and_isi_histograms(
            rates, cv, fano, num_pairs=num_pairs
        ),
        f"neural_{target}_correlations.png": plots.correlation_scatter(
            measured,
            predicted,
            title=f"{target} (d = {posterior.dimension}), {rec.num_windows} windows: lag-0 count "
            f"correlations\nW from the Hessian at the recorded state: r = {at_state['r']:.2f}",
        ),
    }
    for file_name, fig in figures.items():
        fig.savefig(folder / file_name, dpi=110)
        print("  wrote", folder / file_name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("folder", nargs="?", default="examples/figures")
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    for target in TARGETS if args.target == "all" else [args.target]:
        run(target, folder)


if __name__ == "__main__":
    main()
