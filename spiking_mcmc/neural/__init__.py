"""The neural lens: record a network's spikes, measure them as a neuroscientist would, and
predict them from the synapses.

    recording   run a network window by window and keep its spikes (counts, times)
    statistics  rates, ISI CV, Fano factors, count covariances, the linear-response prediction
    summary     a network as a cortical circuit: rate, ISI CV, pairwise correlations within
                and across populations, spikes per dimension per effective sample
    plots       raster, histograms, correlation scatter, trajectories (needs matplotlib:
                ``pip install spiking-mcmc[plots]``; imported only when asked for)

The statistics are importable from here: ``from spiking_mcmc import neural;
neural.firing_rates_hz(...)``.
"""

from spiking_mcmc.neural import recording, summary
from spiking_mcmc.neural.statistics import (
    acceptance_factors,
    binned_counts,
    count_correlation,
    count_covariance,
    count_matrix,
    covariance_test,
    covariance_to_correlation,
    fano_factors,
    firing_rates_hz,
    gaussian_weights,
    isi_cv,
    linear_count_covariance,
    net_counts,
    net_covariance,
    pair_signs,
    predicted_count_covariance,
    predicted_mean_counts,
    rates_from_times_hz,
)

__all__ = [
    "acceptance_factors",
    "binned_counts",
    "count_correlation",
    "count_covariance",
    "count_matrix",
    "covariance_test",
    "covariance_to_correlation",
    "fano_factors",
    "firing_rates_hz",
    "gaussian_weights",
    "isi_cv",
    "linear_count_covariance",
    "net_counts",
    "net_covariance",
    "pair_signs",
    "predicted_count_covariance",
    "predicted_mean_counts",
    "rates_from_times_hz",
    "recording",
    "summary",
]
