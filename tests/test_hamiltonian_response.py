"""Linear response of the integrate-and-fire Hamiltonian network: the measured covariance of a
transition's net spike counts against the prediction from W, and wrong weights fail."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spiking_mcmc import neural
from spiking_mcmc.dynamics import hamiltonian as ham
from spiking_mcmc.metric import from_factor
from spiking_mcmc.neural import hamiltonian_response, recording

SIGMA = np.array([[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]])
MU = np.array([1.0, -1.0, 0.5])
PRECISION = np.linalg.inv(SIGMA)
STEP, QUANTUM, LENGTH = 0.4, 0.5, 1.0


def _log_density(x):
    return -0.5 * (x - MU) @ jnp.asarray(PRECISION, x.dtype) @ (x - MU)


LOG_DENSITY_AND_GRAD = jax.value_and_grad(_log_density)


@pytest.fixture(scope="module", params=["chol", "eye"])
def run(request):
    """20,000 transitions with decoders q chol(Sigma) (W diagonal) or q 1.2 I (W dense)."""
    factor = np.linalg.cholesky(SIGMA) if request.param == "chol" else 1.2 * np.eye(3)
    settings = ham.HamiltonianSettings(
        spike_quantum=QUANTUM, trajectory_length=LENGTH, adapt_trajectory_length=False
    )
    params = ham.build(settings, from_factor(jnp.asarray(factor, jnp.float32)), STEP)
    state = recording.start_state(LOG_DENSITY_AND_GRAD, jnp.asarray(MU, jnp.float32))
    rec = recording.record(
        jax.random.PRNGKey(0), state, LOG_DENSITY_AND_GRAD, params, 20_000, ham.transition
    )
    weights = neural.gaussian_weights(np.asarray(ham.network(params).decoders), PRECISION)
    return neural.net_counts(rec.spike_counts), weights, request.param


def p_value(net_counts, weights):
    predicted = hamiltonian_response.predicted_net_count_covariance(
        weights, QUANTUM, STEP, LENGTH, step_jitter=0.2
    )
    return neural.covariance_test(net_counts, predicted, num_batches=50)["p_value"]


def test_net_count_covariance_matches_the_linear_response(run):
    net_counts, weights, kind = run
    assert p_value(net_counts, weights) > 1e-3
    if kind == "eye":
        assert np.abs(weights[0, 1]) > 0.1 * np.abs(weights[0, 0])
        assert p_value(net_counts, np.diag(np.diag(weights))) < 1e-6
    assert p_value(net_counts, 1.5 * weights) < 1e-6
