"""The Poisson network sampling a correlated 2-d Gaussian: raster, decoded state, statistics.

python examples/neural_raster.py [output_folder]     (default examples/figures/)

Warmup learns the decoders (D = delta chol(Sigma_hat)); the tuned network is then recorded for
2,000 windows (20 s of network time) and drawn: the spike raster above the decoded state, the
firing-rate and ISI-CV histograms, and the decoded trajectory over the posterior's contours.
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

MEAN = np.array([0.5, -0.3])
COV = np.array([[1.0, 0.8], [0.8, 1.0]])


def model():
    numpyro.sample("x", dist.MultivariateNormal(MEAN, covariance_matrix=COV))


def main(folder):
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kernel = SpikingKernel(model, dynamics="poisson", dense_mass=True, num_pairs=10)  # 10 per dim
    mcmc = MCMC(kernel, num_warmup=1000, num_samples=10, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0))
    rec = recording.record_kernel(kernel, mcmc.last_state, 2000, key=jax.random.PRNGKey(1))
    times, neurons = recording.spike_times(rec.spike_counts, rec.window_ms, seed=0)
    num_neurons = 2 * rec.num_pairs
    rates = neural.firing_rates_hz(rec.spike_counts, rec.window_ms)
    cv = neural.isi_cv(times, neurons, num_neurons)
    fano = neural.fano_factors(rec.spike_counts)
    print(
        f"{rec.num_windows} windows ({rec.duration_ms / 1000:.0f} s), {rec.num_spikes} spikes, "
        f"acceptance {rec.is_accepted.mean():.2f}\n"
        f"rates (Hz) {np.round(rates, 1)}\nISI CV {np.round(cv, 2)}\n"
        f"Fano (one window) {np.round(fano, 2)}\n"
        f"sample mean {rec.positions.mean(0).round(2)} (true {MEAN}), "
        f"sd {rec.positions.std(0).round(2)} (true {np.sqrt(np.diag(COV))})"
    )
    figures = {
        "neural_raster.png": plots.raster(rec, times, neurons, t_max_ms=300.0),
        "neural_rates_isi.png": plots.rate_and_isi_histograms(
            rates, cv, fano, num_pairs=rec.num_pairs
        ),
        "neural_trajectory.png": plots.trajectory_2d(
            rec.positions,
            mean=MEAN,
            covariance=COV,
            max_points=60,
            start_positions=rec.start_positions,
            title="decoded state: 60 windows (600 ms) over N(mu, Sigma)",
        ),
    }
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=120)
        print("wrote", folder / name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="examples/figures")
    main(parser.parse_args().folder)
