"""Measured spike-count correlations of the Poisson network beside the linear-response
prediction from its synaptic weights W = -1/2 D^T Lambda D.

python examples/neural_correlations.py [output_folder]     (default examples/figures/)

A correlated 4-d Gaussian; warmup learns a diagonal covariance only, so the decoders do not
whiten the posterior and W has off-diagonal entries (the posterior's correlations are in the
recurrent synapses). Warmup aims at acceptance 0.9, where a scalar acceptance factor
describes the lagged covariances (at the default 0.57 lag 0 still fits, lags >= 1 do not:
rejections depend on the direction of the jump). The tuned network is recorded for 20,000
windows; lag-0 correlations follow from W alone (the chain is exact, so v = 1/2 D^T g is
N(0, -W/2)), the lagged ones also need the fractions of drift and noise that accepted windows
pass on (measured).
"""

import argparse
import pathlib

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC

from spiking_mcmc import SpikingKernel, neural
from spiking_mcmc.neural import plots, recording

DIM = 4
MEAN = np.linspace(-1.0, 1.0, DIM)
COV = 0.7 ** np.abs(np.subtract.outer(np.arange(DIM), np.arange(DIM)))  # AR(1), rho = 0.7


def model():
    numpyro.sample("x", dist.MultivariateNormal(MEAN, covariance_matrix=COV))


def main(folder, num_windows=20_000):
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kernel = SpikingKernel(model, dynamics="poisson", dense_mass=False, target_accept_prob=0.9)
    mcmc = MCMC(kernel, num_warmup=1000, num_samples=10, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0))
    state = mcmc.last_state
    network, weights = kernel.get_network(state)
    rec = recording.record_kernel(kernel, state, num_windows, key=jax.random.PRNGKey(1))
    decoders = np.asarray(network.decoders, float)
    a = network.expected_spikes
    jitter = kernel.settings.jitter
    precision = np.linalg.inv(COV)
    potentials = -0.5 * (rec.start_positions - MEAN) @ precision @ decoders
    beta = neural.acceptance_factors(rec.spike_counts, rec.is_accepted, potentials)
    max_lag = 2
    predicted = neural.predicted_count_covariance(
        np.asarray(weights), a, max_lag=max_lag, jitter=jitter, acceptance=beta
    )
    measured = neural.count_covariance(rec.spike_counts, max_lag=max_lag)
    np.set_printoptions(precision=3, suppress=True, linewidth=120)
    print(f"acceptance {rec.is_accepted.mean():.2f}; a = {a}; beta (drift, noise) {beta}")
    print("W =\n", np.asarray(weights))
    print("lag-0 count covariance, measured\n", measured[0], "\npredicted\n", predicted[0])
    lag0 = neural.covariance_test(rec.spike_counts, predicted[0], num_batches=50)
    print(
        f"lag 0 (ON/OFF counts): T^2 = {lag0['statistic']:.1f} on {lag0['dof']} entries, "
        f"p = {lag0['p_value']:.3f}"
    )
    net = neural.net_covariance(predicted)
    k = neural.net_counts(rec.spike_counts)
    for lag in range(1, max_lag + 1):
        test = neural.covariance_test(k, net[lag], lag=lag, num_batches=50)
        print(
            f"lag {lag} (net counts): T^2 = {test['statistic']:.1f} on {test['dof']}, "
            f"p = {test['p_value']:.3f}"
        )
    wrong = neural.predicted_count_covariance(np.zeros_like(weights), a, jitter=jitter)[0]
    print(
        f"lag 0 with W = 0: p = "
        f"{neural.covariance_test(rec.spike_counts, wrong, num_batches=50)['p_value']:.2g}"
    )

    fig = plots.correlation_scatter(
        neural.covariance_to_correlation(measured),
        neural.covariance_to_correlation(predicted),
        title=f"{DIM}-d Gaussian, {num_windows} windows: count correlations",
    )
    fig.savefig(folder / "neural_correlations.png", dpi=120)
    fig = plots.correlation_scatter(
        neural.net_covariance(measured),
        net,
        lags=range(1, max_lag + 1),
        on_off=False,
        title="net counts k = n_on - n_off: lagged covariances",
    )
    fig.savefig(folder / "neural_net_lagged.png", dpi=120)
    print("wrote", folder / "neural_correlations.png", "and", folder / "neural_net_lagged.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="examples/figures")
    main(parser.parse_args().folder)
