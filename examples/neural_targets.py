"""The networks on a 32-d correlated Gaussian and on eight schools: raster with the decoded
state, rate / ISI-CV / Fano histograms, measured against predicted count correlations.

python examples/neural_targets.py [--network poisson|hamiltonian|lif|cortical|all]
                                  [--target gaussian32|eight_schools|all] [output_folder]

The 32-d Gaussian has unit variances and every correlation 0.75 (Masset et al.'s targets);
eight schools is non-centred (unconstrained: mu, log tau, theta_trans). Warmup learns a dense
covariance (the decoders) and, for the Hamiltonian network, the step size and trajectory
length; the tuned network is then recorded.

- poisson (figures neural_<target>_*.png): 2 ON/OFF pairs per dimension on a tight frame for
  the Gaussian, 1 for eight schools; 40,000 windows (400 s). Spike times are uniform within
  windows (exact given the counts). The lag-0 count correlations are predicted from the
  recurrent weights W = -1/2 D^T H D (H the Hessian of -log p at the state where the recording
  starts, ``SpikingKernel.get_network``) by the lognormal linear response of
  :mod:`spiking_mcmc.neural.statistics`; for eight schools (not Gaussian) also with the mean of
  H over the recorded states, which equals Cov(grad log p) (Fisher's identity).
- hamiltonian (the default network; neural_hamiltonian_<target>_*.png): one pair per
  dimension, 4,000 transitions. Spike times are the threshold crossings interpolated within
  each kick. The counts of a transition are not conditionally Poisson, so the Poisson network's
  prediction does not apply; the net counts (ON - OFF) of a transition are predicted instead by
  the linear Hamiltonian flow (:mod:`spiking_mcmc.neural.hamiltonian_response`) from the same W.
  Rates, ISI CV, Fano factors and ON/OFF count correlations are measured in 10 ms bins.
- lif (not exact; neural_lif_<target>_*.png): as the Poisson network's population, 2,000
  windows of 10 ms; spike times at the dt steps they fired in.
- cortical (neural_cortical_<target>_*.png): the configuration of benchmarks/cortical_protocol.py
  (32 pairs per direction, spike_quantum 2.5, step 0.1 fixed, trajectory U(1, 2)); warmup
  learns the dense metric only; 2,000 transitions. No linear-response figure: a population's
  membranes do not forget their start within a transition, which the IF prediction assumes.
"""

import argparse
import pathlib
import warnings

import jax
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC
from numpyro.infer.util import potential_energy

import models
from spiking_mcmc import SpikingKernel, neural
from spiking_mcmc.neural import hamiltonian_response, plots, recording, summary

TARGETS = {  # posterior, ON/OFF pairs per dimension (Poisson, LIF), pairs shown, warmup windows
    "gaussian32": ("gaussian_corr_d32", 2, 12, 3000),
    "eight_schools": ("eight_schools-eight_schools_noncentered", 1, 10, 2000),
}
NETWORKS = ("poisson", "hamiltonian", "lif", "cortical")
WINDOWS = {"poisson": 40_000, "hamiltonian": 4_000, "lif": 2_000, "cortical": 2_000}
RASTER_MS = {"poisson": 300.0, "hamiltonian": 100.0, "lif": 100.0, "cortical": 1000.0}
CORTICAL = {  # as benchmarks/cortical_protocol.py
    "population_size": 32,
    "spike_quantum": 2.5,
    "step_size": 0.1,
    "adapt_step_size": False,
    "adapt_trajectory_length": False,
}
BIN_MS = 10.0


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
    """How well predicted correlations match measured ones (off-diagonal entries).

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


def predicted_correlation(network_name, weights, kernel, params, network):
    """Lag-0 correlations predicted from W: of ON/OFF counts per window (Poisson network,
    lognormal linear response), of net counts per transition (Hamiltonian network)."""
    if network_name == "poisson":
        cov = neural.predicted_count_covariance(
            weights, network.expected_spikes, jitter=kernel.settings.jitter
        )[0]
    else:
        cov = hamiltonian_response.predicted_net_count_covariance(
            weights,
            params.spike_quantum,
            float(params.step_size),
            float(params.trajectory_length),
            params.step_jitter,
            params.max_steps,
        )
    return neural.covariance_to_correlation(cov)


def run(network_name, target, folder):
    name, pairs_per_dim, shown_pairs, num_warmup = TARGETS[target]
    posterior = models.load(name)
    dim = posterior.dimension
    options = {"dense_mass": True}
    if network_name in ("poisson", "lif"):
        options["num_pairs"] = pairs_per_dim * dim
    if network_name == "cortical":
        options.update(CORTICAL)
        shown_pairs = 4 * CORTICAL["population_size"]  # four directions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the LIF network's InexactChainWarning
        kernel = SpikingKernel(posterior.model, dynamics=network_name, **options)
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=10, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), *posterior.args, **posterior.kwargs)
    state = mcmc.last_state
    network, weights = kernel.get_network(state)
    params = kernel.network_params(state)
    rec = recording.record_kernel(
        kernel, state, WINDOWS[network_name], key=jax.random.PRNGKey(1), max_spikes=20_000_000
    )
    num_pairs = rec.num_pairs
    num_neurons = 2 * num_pairs
    times, neurons = rec.spikes(seed=0)
    cv = neural.isi_cv(times, neurons, num_neurons)
    binned = neural.binned_counts(times, neurons, num_neurons, BIN_MS, rec.duration_ms)
    if network_name == "poisson":  # counts per 10 ms window, as before
        rates = neural.firing_rates_hz(rec.spike_counts, rec.window_ms)
        fano = neural.fano_factors(rec.spike_counts)
        measured = neural.count_correlation(rec.spike_counts)[0]
    else:
        rates = neural.rates_from_times_hz(times, neurons, num_neurons, rec.duration_ms)
        fano = neural.fano_factors(binned)
        measured = neural.count_correlation(neural.net_counts(rec.spike_counts))[0]
    size = CORTICAL["population_size"] if network_name == "cortical" else 1
    pairs = summary.correlation_summary(binned, summary.population_labels(num_pairs, size))
    prefix = f"neural_{target}" if network_name == "poisson" else f"neural_{network_name}_{target}"
    print(
        f"{network_name} on {target}: d = {dim}, {num_neurons} neurons, {rec.num_windows} "
        f"{'transitions' if network_name in ('hamiltonian', 'cortical') else 'windows'} "
        f"({rec.duration_ms / 1000:.1f} s), acceptance {rec.is_accepted.mean():.2f}, "
        f"{rec.num_spikes:,} spikes\n"
        f"  rate {rates.mean():.1f} Hz (range {rates.min():.1f}-{rates.max():.1f}), "
        f"ISI CV {np.nanmean(cv):.2f} ({np.nanmin(cv):.2f}-{np.nanmax(cv):.2f}), "
        f"Fano {np.nanmean(fano):.2f} ({np.nanmin(fano):.2f}-{np.nanmax(fano):.2f})\n"
        f"  mean |count correlation| in {BIN_MS:g} ms bins: all {pairs['all']:.3f}, "
        f"within a population {pairs['within']:.3f}, across {pairs['across']:.3f} "
        f"(independent: {pairs['floor']:.3f})"
    )
    figures = {
        f"{prefix}_raster.png": plots.raster(
            rec, t_max_ms=RASTER_MS[network_name], dims=range(4), pairs=shown_pairs
        ),
        f"{prefix}_rates_isi.png": plots.rate_and_isi_histograms(
            rates, cv, fano, num_pairs=num_pairs
        ),
    }
    if network_name in ("poisson", "hamiltonian"):
        weights = np.asarray(weights)
        predicted = predicted_correlation(network_name, weights, kernel, params, network)
        at_state = correlation_match(measured, predicted)
        decoders = np.asarray(network.decoders, float)
        averaged = neural.gaussian_weights(decoders, mean_hessian(posterior, state, rec.positions))
        at_mean = correlation_match(
            measured, predicted_correlation(network_name, averaged, kernel, params, network)
        )
        what = (
            "ON/OFF counts per window" if network_name == "poisson" else "net counts per transition"
        )
        print(
            f"  lag-0 correlations of {what}, Hessian at the recorded state: "
            f"r = {at_state['r']:.3f}, slope {at_state['slope']:.2f}, rms error "
            f"{at_state['rms']:.4f} (spread of the measured {at_state['spread']:.4f}, noise "
            f"~{rec.num_windows**-0.5:.4f})\n"
            f"  mean Hessian over recorded states: r = {at_mean['r']:.3f}, "
            f"slope {at_mean['slope']:.2f}, rms error {at_mean['rms']:.4f}"
        )
        figures[f"{prefix}_correlations.png"] = plots.correlation_scatter(
            measured,
            predicted,
            title=f"{network_name}, {target} (d = {dim}), {rec.num_windows} "
            f"{'windows' if network_name == 'poisson' else 'transitions'}\n"
            f"lag-0 {what}: r = {at_state['r']:.2f}\n(W from the Hessian at the recorded state)",
            on_off=network_name == "poisson",
        )
    for file_name, fig in figures.items():
        fig.savefig(folder / file_name, dpi=110)
        print("  wrote", folder / file_name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=[*NETWORKS, "all"], default="all")
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("folder", nargs="?", default="examples/figures")
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    for network_name in NETWORKS if args.network == "all" else [args.network]:
        for target in TARGETS if args.target == "all" else [args.target]:
            run(network_name, target, folder)


if __name__ == "__main__":
    main()
