"""Spike statistics, spike recording, and the linear-response prediction of count covariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spiking_mcmc import neural
from spiking_mcmc.dynamics import poisson
from spiking_mcmc.metric import from_factor
from spiking_mcmc.neural import recording

# -- spike statistics on trains with known answers ---------------------------------------------


def poisson_train(rate_hz, duration_ms, num_neurons, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate_hz * duration_ms / 1000.0, size=num_neurons)
    neurons = np.repeat(np.arange(num_neurons), counts)
    times = rng.uniform(0.0, duration_ms, size=neurons.size)
    return times, neurons


def binned(times, neurons, num_neurons, duration_ms, bin_ms):
    edges = np.arange(0.0, duration_ms + bin_ms / 2, bin_ms)
    return np.stack(
        [np.histogram(times[neurons == i], edges)[0] for i in range(num_neurons)], axis=1
    )


def test_homogeneous_poisson_train_has_cv_and_fano_one():
    duration, num = 200_000.0, 8
    times, neurons = poisson_train(20.0, duration, num)
    cv = neural.isi_cv(times, neurons, num)
    fano = neural.fano_factors(binned(times, neurons, num, duration, 50.0))
    rates = neural.rates_from_times_hz(times, neurons, num, duration)
    np.testing.assert_allclose(rates, 20.0, rtol=0.05)
    np.testing.assert_allclose(cv, 1.0, atol=0.05)
    np.testing.assert_allclose(fano, 1.0, atol=0.1)


def test_regular_train_has_cv_and_fano_zero():
    num, period = 4, 25.0
    times = np.concatenate([np.arange(i, 10_000.0, period) for i in range(num)])
    neurons = np.repeat(np.arange(num), times.size // num)
    cv = neural.isi_cv(times, neurons, num)
    fano = neural.fano_factors(binned(times, neurons, num, 10_000.0, 100.0))
    np.testing.assert_allclose(cv, 0.0, atol=1e-9)
    np.testing.assert_allclose(fano, 0.0, atol=1e-9)


def test_isi_cv_is_nan_for_nearly_silent_neurons():
    cv = neural.isi_cv(np.array([1.0, 5.0, 2.0]), np.array([0, 0, 1]), 3)
    assert np.all(np.isnan(cv))


def test_fano_factor_is_not_one_for_wrongly_binned_clock():
    # a clock counted in windows that are not multiples of its period varies: Fano < 1, != 0
    times = np.arange(0.0, 10_000.0, 30.0)
    fano = neural.fano_factors(binned(times, np.zeros_like(times, int), 1, 9_900.0, 50.0))
    assert 0.05 < fano[0] < 0.5


def test_count_covariance_and_correlation():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(5000, 2, 3))
    cov = neural.count_covariance(counts, max_lag=2)
    assert cov.shape == (3, 6, 6)
    np.testing.assert_allclose(cov[0], np.cov(counts.reshape(5000, 6).T, ddof=0))
    flat = counts.reshape(5000, 6) - counts.reshape(5000, 6).mean(0)
    np.testing.assert_allclose(cov[2], flat[2:].T @ flat[:-2] / 5000)
    corr = neural.count_correlation(counts, max_lag=1)
    np.testing.assert_allclose(np.diag(corr[0]), 1.0)
    assert np.all(np.abs(corr[1]) < 0.1)


def test_firing_rates_hz_from_counts():
    counts = np.zeros((100, 2, 2), int)
    counts[:, 0, 0] = 1  # one spike per 10 ms window = 100 Hz
    np.testing.assert_allclose(neural.firing_rates_hz(counts, 10.0), [100.0, 0, 0, 0])


# -- recording ---------------------------------------------------------------------------------


def test_spike_times_round_trip_and_neuron_index():
    rng = np.random.default_rng(1)
    counts = rng.poisson(0.7, size=(50, 2, 3))
    times, neurons = neural_times = recording.spike_times(counts, 10.0, seed=2)
    assert times.size == counts.sum() and np.all(np.diff(times) >= 0)
    assert neurons.dtype == np.int32 and neurons.max() < 6
    again = np.zeros_like(counts).reshape(50, 6)
    np.add.at(again, (np.floor(times / 10.0).astype(int), neurons), 1)
    np.testing.assert_array_equal(again.reshape(50, 2, 3), counts)
    assert neural_times[0].dtype == np.float64


def test_spike_times_refuse_too_many_spikes():
    counts = np.full((10, 2, 5), 3)
    with pytest.raises(ValueError, match=r"would hold 300 spikes.*max_spikes=100"):
        recording.spike_times(counts, 10.0, max_spikes=100)


def test_record_refuses_a_recording_above_max_spikes():
    params = poisson.build(poisson.PoissonSettings(), from_factor(jnp.ones(2)), 1.0)
    log_density_and_grad = jax.value_and_grad(lambda x: -0.5 * x @ x)
    state = recording.start_state(log_density_and_grad, jnp.zeros(2))
    with pytest.raises(ValueError, match=r"would hold 2,000 spikes.*Record fewer windows"):
        recording.record(
            jax.random.PRNGKey(0), state, log_density_and_grad, params, 1000, max_spikes=1000
        )


def test_record_positions_move_by_decoded_net_counts():
    params = poisson.build(poisson.PoissonSettings(jitter=0.0), from_factor(jnp.ones(2)), 0.8)
    log_density_and_grad = jax.value_and_grad(lambda x: -0.5 * x @ x)
    state = recording.start_state(log_density_and_grad, jnp.zeros(2))
    rec = recording.record(jax.random.PRNGKey(0), state, log_density_and_grad, params, 300)
    assert rec.spike_counts.shape == (300, 2, 2) and rec.positions.shape == (300, 2)
    net_counts = rec.spike_counts[:, 0] - rec.spike_counts[:, 1]
    jumps = net_counts @ np.asarray(poisson.decoders(params)).T * rec.is_accepted[:, None]
    np.testing.assert_allclose(rec.positions - rec.start_positions, jumps, atol=1e-5)
    np.testing.assert_allclose(rec.positions[:-1], rec.start_positions[1:])
    assert 0.3 < rec.is_accepted.mean() < 1.0
    np.testing.assert_allclose(rec.window_starts_ms[:3], [0.0, 10.0, 20.0])


# -- linear response on a 3-d Gaussian ---------------------------------------------------------

SIGMA = np.array([[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]])
MU = np.array([1.0, -1.0, 0.5])
PRECISION = np.linalg.inv(SIGMA)
NUM_WINDOWS = 20_000
JITTER = poisson.PoissonSettings().jitter


def _log_density(x):
    return -0.5 * (x - MU) @ jnp.asarray(PRECISION, x.dtype) @ (x - MU)


LOG_DENSITY_AND_GRAD = jax.value_and_grad(_log_density)


def run_gaussian(step_size, decoders, seed):
    """Record the Poisson network (D = sqrt(h / 2a) * covariance_sqrt) on N(MU, SIGMA)."""
    cov_sqrt = np.linalg.cholesky(SIGMA) if decoders == "chol" else 1.2 * np.eye(3)
    metric = from_factor(jnp.asarray(cov_sqrt, jnp.float32))
    params = poisson.build(poisson.PoissonSettings(), metric, step_size)
    state = recording.start_state(LOG_DENSITY_AND_GRAD, jnp.asarray(MU, jnp.float32))
    rec = recording.record(
        jax.random.PRNGKey(seed), state, LOG_DENSITY_AND_GRAD, params, NUM_WINDOWS
    )
    d = np.asarray(poisson.decoders(params), float)
    return rec, neural.gaussian_weights(d, PRECISION), params.expected_spikes, d


@pytest.fixture(scope="module")
def whitened_run():
    """D = delta chol(Sigma), h = 1: W = -delta^2/2 I, acceptance about 0.8."""
    return run_gaussian(1.0, "chol", seed=0)


@pytest.fixture(scope="module")
def unwhitened_run():
    """D = delta I: W = -delta^2/2 Lambda has off-diagonal entries."""
    return run_gaussian(1.0, "eye", seed=1)


def lag0_p_value(rec, weights, a, method="lognormal"):
    predicted = neural.predicted_count_covariance(weights, a, jitter=JITTER, method=method)
    return neural.covariance_test(rec.spike_counts, predicted[0], num_batches=50)["p_value"]


def test_lag0_count_covariance_matches_prediction_and_wrong_weights_fail(whitened_run):
    rec, weights, a, _ = whitened_run
    assert np.abs(weights - np.diag(np.diag(weights))).max() < 1e-6
    assert lag0_p_value(rec, weights, a) > 1e-3
    assert lag0_p_value(rec, np.zeros_like(weights), a) < 1e-6
    assert lag0_p_value(rec, -weights, a) < 1e-6


def test_first_order_formula_misses_the_mean_rate_on_the_diagonal(whitened_run):
    """a I - a^2/2 E^T W E takes the Poisson variance to be a, not the mean a e^{C_jj/2}."""
    rec, weights, a, _ = whitened_run
    assert lag0_p_value(rec, weights, a, method="linear") < 1e-6
    mean = neural.predicted_mean_counts(weights, a, jitter=JITTER)
    measured = rec.spike_counts.reshape(NUM_WINDOWS, -1).mean(0)
    np.testing.assert_allclose(measured, mean, rtol=0.03)
    assert np.all(measured > 1.05 * a)


def test_lag0_count_covariance_off_diagonal_weights(unwhitened_run):
    rec, weights, a, _ = unwhitened_run
    assert np.abs(weights[0, 1]) > 0.2
    assert lag0_p_value(rec, weights, a) > 1e-3
    assert lag0_p_value(rec, np.diag(np.diag(weights)), a) < 1e-6
    assert lag0_p_value(rec, weights.T * np.array([1, -1, 1]), a) < 1e-6


def lagged_p_values(rec, weights, a, decoders, acceptance=None):
    """p-values of the net-count lag-1..3 covariances against the prediction from ``weights``."""
    if acceptance is None:
        potentials = -0.5 * (rec.start_positions - MU) @ PRECISION @ decoders
        acceptance = neural.acceptance_factors(rec.spike_counts, rec.is_accepted, potentials)
    predicted = neural.predicted_count_covariance(
        weights, a, max_lag=3, jitter=JITTER, acceptance=acceptance
    )
    k = neural.net_counts(rec.spike_counts)
    net = neural.net_covariance(predicted)
    return [
        neural.covariance_test(k, net[lag], lag=lag, num_batches=50)["p_value"] for lag in (1, 2, 3)
    ]


def test_lagged_net_count_covariance_with_measured_acceptance(whitened_run):
    """Acceptance 0.8: the measured acceptance factors fit, the linearised proposal does not."""
    rec, weights, a, decoders = whitened_run
    assert min(lagged_p_values(rec, weights, a, decoders)) > 1e-3
    assert max(lagged_p_values(rec, weights, a, decoders, acceptance=(1.0, 1.0))[:2]) < 1e-6
    assert max(lagged_p_values(rec, -weights, a, decoders)) < 1e-6


def test_lagged_net_count_covariance_off_diagonal_weights_at_high_acceptance():
    rec, weights, a, decoders = run_gaussian(0.3, "eye", seed=2)
    assert rec.is_accepted.mean() > 0.9
    assert min(lagged_p_values(rec, weights, a, decoders)) > 1e-3
    assert max(lagged_p_values(rec, -weights, a, decoders)) < 1e-6
    assert max(lagged_p_values(rec, np.diag(np.diag(weights)), a, decoders)[:1]) < 1e-3


def test_network_counts_are_super_poisson(whitened_run):
    rec, weights, a, _ = whitened_run
    fano = neural.fano_factors(rec.spike_counts)
    predicted = neural.predicted_count_covariance(weights, a, jitter=JITTER)[0]
    expected = np.diag(predicted) / neural.predicted_mean_counts(weights, a, jitter=JITTER)
    np.testing.assert_allclose(fano, expected, rtol=0.05)
    assert np.all(fano > 1.05)


def test_record_kernel_records_the_tuned_network():
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC

    from spiking_mcmc import SpikingKernel

    def model():
        numpyro.sample("x", dist.MultivariateNormal(MU[:2], covariance_matrix=SIGMA[:2, :2]))

    kernel = SpikingKernel(model, dynamics="poisson", dense_mass=True)
    mcmc = MCMC(kernel, num_warmup=200, num_samples=5, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0))
    rec = recording.record_kernel(kernel, mcmc.last_state, 100, key=jax.random.PRNGKey(1))
    network, weights = kernel.get_network(mcmc.last_state)
    assert rec.spike_counts.shape == (100, 2, network.num_pairs)
    np.testing.assert_allclose(rec.start_positions[0], mcmc.last_state.z["x"], rtol=1e-6)
    np.testing.assert_allclose(rec.window_ms, network.window_ms)
    assert weights.shape == (network.num_pairs, network.num_pairs)
