"""Numerical faults are survived: extreme curvature, NaN regions, steep gradients, any precision."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, init_to_value

from spiking_mcmc import SpikingKernel

PoissonKernel = functools.partial(SpikingKernel, dynamics="poisson")


def run(model, num_warmup=500, num_samples=2000, **kwargs):
    mcmc = MCMC(
        PoissonKernel(model, **kwargs),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0))
    return mcmc


def funnel():
    """Neal's funnel: v ~ N(0, 3), x_i ~ N(0, exp(v / 2)); curvature spans e^9 in scale."""
    v = numpyro.sample("v", dist.Normal(0.0, 3.0))
    numpyro.sample("x", dist.Normal(0.0, jnp.exp(v / 2)).expand([9]).to_event(1))


def test_funnel_runs_without_crashing(precision):
    mcmc = run(funnel)
    samples = mcmc.get_samples()
    assert np.all(np.isfinite(np.asarray(samples["v"])))
    assert np.all(np.isfinite(np.asarray(samples["x"])))
    extra = mcmc.get_extra_fields()
    assert np.all(np.isfinite(np.asarray(extra["accept_prob"])))


def test_region_of_nan_density_is_rejected_in_a_full_run(precision):
    """log p is NaN for x > 2: proposals there are rejected, counted, and sampling goes on."""

    def model():
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        numpyro.factor("hole", jnp.where(x > 2.0, jnp.nan, 0.0))

    mcmc = run(model, num_samples=5000)
    x = np.asarray(mcmc.get_samples()["x"])
    assert np.all(x <= 2.0)
    assert int(np.sum(mcmc.get_extra_fields()["diverging"])) > 0
    assert abs(x.mean() - (-0.055)) < 0.1  # mean of N(0,1) truncated above 2


def test_steep_gradients_in_float32():
    """Gradients of size 1e5 (a posterior of sd 1e-4, started 30 sd out) overflow neither exp
    nor cosh. (From uniform starts, about 10^4 sd out, the Poisson network's saturated
    membranes stall it and the frozen-chain warning names the chains: see the README.)"""

    def model():
        numpyro.sample("x", dist.Normal(jnp.arange(3.0), 1e-4).to_event(1))

    start = {"x": jnp.arange(3.0) + 3e-3}
    mcmc = run(model, num_warmup=1000, num_samples=2000, init_strategy=init_to_value(values=start))
    x = np.asarray(mcmc.get_samples()["x"])
    assert np.all(np.isfinite(x))
    np.testing.assert_allclose(x.mean(0), [0.0, 1.0, 2.0], atol=5e-5)
    assert x.std(0).max() < 3e-4
