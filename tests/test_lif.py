"""The leaky integrate-and-fire network (research mode): honest about being inexact, and its
bias falls as the time step shrinks."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from spiking_mcmc import SpikingKernel
from spiking_mcmc.dynamics import lif, registry
from spiking_mcmc.metric import from_factor
from spiking_mcmc.neural import recording

SIGMA = np.array([[1.0, 0.8], [0.8, 1.0]])
MU = np.array([0.5, -0.3])
PRECISION = np.linalg.inv(SIGMA)
CHOL = np.linalg.cholesky(SIGMA)


def _log_density(x):
    return -0.5 * (x - MU) @ jnp.asarray(PRECISION, x.dtype) @ (x - MU)


LOG_DENSITY_AND_GRAD = jax.value_and_grad(_log_density)


def make(**settings):
    return lif.build(lif.LIFSettings(**settings), from_factor(jnp.asarray(CHOL, jnp.float32)), 1.0)


def start():
    return recording.start_state(LOG_DENSITY_AND_GRAD, jnp.asarray(MU, jnp.float32))


def test_lif_is_registered_and_warns_once_that_it_is_not_exact():
    """One warning when the kernel is built, none from tracing and running it."""
    assert registry.get("lif") is lif.DYNAMICS
    assert lif.DYNAMICS.exact is False
    with pytest.warns(lif.InexactChainWarning, match="NOT an exact MCMC"):
        kernel = SpikingKernel(lambda: numpyro.sample("x", dist.Normal()), dynamics="lif")
    with warnings.catch_warnings():
        warnings.simplefilter("error", lif.InexactChainWarning)
        mcmc = MCMC(
            kernel,
            num_warmup=5,
            num_samples=5,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(jax.random.PRNGKey(0))


def test_transition_info_shows_no_metropolis_step():
    params = make()
    _, info = jax.jit(lambda k, s: lif.transition(k, s, LOG_DENSITY_AND_GRAD, params))(
        jax.random.PRNGKey(0), start()
    )
    assert float(info.accept_prob) == 1.0 and bool(info.is_accepted)
    assert not bool(info.is_exact)
    assert info.spike_counts.shape == (2, 2)
    assert int(info.num_steps) == 100 and float(info.biological_time_ms) == pytest.approx(10.0)
    assert int(info.num_spikes) == int(np.sum(info.spike_counts)) > 0
    assert 0 < int(info.num_grad_evals) <= 100


@pytest.mark.parametrize("num_pairs", [None, 6])
def test_readout_moves_by_decoded_spikes(num_pairs):
    params = make(num_pairs=num_pairs)
    rec = recording.record(
        jax.random.PRNGKey(1), start(), LOG_DENSITY_AND_GRAD, params, 50, lif.transition
    )
    net_counts = rec.spike_counts[:, 0] - rec.spike_counts[:, 1]
    decoders = np.asarray(params.decoders())
    np.testing.assert_allclose(
        rec.positions - rec.start_positions, net_counts @ decoders.T, atol=1e-4
    )
    # every spike moves the whitened readout by spike_size
    whitened = np.linalg.solve(CHOL, decoders)
    np.testing.assert_allclose(np.linalg.norm(whitened, axis=0), lif.LIFSettings().spike_size)
    assert np.all(rec.is_accepted)


def whitened_variance(dt_ms, num_windows=4000, seeds=(0, 1)):
    params = make(dt_ms=dt_ms)
    variances = []
    for seed in seeds:
        rec = recording.record(
            jax.random.PRNGKey(seed),
            start(),
            LOG_DENSITY_AND_GRAD,
            params,
            num_windows,
            lif.transition,
        )
        whitened = np.linalg.solve(CHOL, (rec.positions - MU).T).T
        variances.append(whitened.var(axis=0))
    return float(np.mean(variances))


def test_variance_bias_falls_as_dt_shrinks():
    """Whitened variance (1 for the posterior): 0.83 at dt = 2 ms, ~1.00 at 0.125 ms."""
    bias = {dt: abs(whitened_variance(dt) - 1.0) for dt in (2.0, 0.5, 0.125)}
    assert bias[2.0] > 0.1
    assert bias[0.5] < 0.6 * bias[2.0]
    assert bias[0.125] < 0.05


def test_check_settings_names_the_bad_setting():
    for bad, match in [
        ({"dt_ms": 0.0}, "dt_ms"),
        ({"dt_ms": 20.0}, "must not exceed window_ms"),
        ({"reset": 0.6}, "reset"),
        ({"refractory_ms": -1.0}, "refractory_ms"),
        ({"num_pairs": 0}, "num_pairs"),
    ]:
        with pytest.raises(ValueError, match=match):
            lif.LIFSettings(**bad)


def test_kernel_runs_lif_and_reports_accept_prob_one():
    def model():
        numpyro.sample("x", dist.MultivariateNormal(MU, covariance_matrix=SIGMA))

    with pytest.warns(lif.InexactChainWarning):
        kernel = SpikingKernel(model, dynamics="lif", dense_mass=True)
    mcmc = MCMC(kernel, num_warmup=200, num_samples=600, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), extra_fields=("accept_prob", "num_spikes"))
    extra = mcmc.get_extra_fields()
    assert np.all(np.asarray(extra["accept_prob"]) == 1.0)
    assert np.mean(extra["num_spikes"]) > 1
    x = np.asarray(mcmc.get_samples()["x"])
    np.testing.assert_allclose(x.mean(0), MU, atol=0.35)
    np.testing.assert_allclose(np.cov(x.T), SIGMA, atol=0.35)
