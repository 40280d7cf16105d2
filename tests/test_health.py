"""Chains that stop moving: healed in warmup, named when they end it frozen, flagged after."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC
from targets import Y, tiny_model

from spiking_mcmc import SpikingKernel
from spiking_mcmc.health import FrozenChainWarning

ISLAND = 20.0


def island_potential(params):
    """N(0, 1) on |x| < 6, plus an island of width 2e-4 at x = 20 where the density is finite:
    a chain that starts there proposes only -inf points and cannot leave."""
    x = params["x"]
    normal = 0.5 * x**2
    on_island = jnp.abs(x - ISLAND) < 1e-4
    return jnp.where(jnp.abs(x) < 6.0, normal, jnp.where(on_island, 0.0, jnp.inf))


def run_island(chain_method):
    init = {"x": jnp.array([0.3, ISLAND])}
    mcmc = MCMC(
        SpikingKernel(potential_fn=island_potential),
        num_warmup=300,
        num_samples=300,
        num_chains=2,
        chain_method=chain_method,
        progress_bar=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(jax.random.PRNGKey(0), init_params=init)
    frozen_warnings = [w for w in caught if issubclass(w.category, FrozenChainWarning)]
    return mcmc, frozen_warnings


def test_a_chain_trapped_alone_is_named_and_its_draws_flagged():
    """Sequential chains see only themselves: the trapped chain restarts from its own best
    state (the island) in vain; the warning names it and its draws are marked frozen."""
    mcmc, caught = run_island("sequential")
    assert len(caught) == 1 and "chain(s) [1]" in str(caught[0].message), caught
    frozen = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["frozen"])
    assert not frozen[0].any() and frozen[1, 100:].all()


def test_a_trapped_chain_among_vectorised_ones_restarts_from_a_healthy_one():
    mcmc, caught = run_island("vectorized")
    assert not caught
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    assert np.all(np.abs(x) < 6.0)  # both chains sample the normal
    assert not np.asarray(mcmc.get_extra_fields()["frozen"]).any()


def worse_mode_potential(params):
    """N(-5, 0.3^2) and, 40 nats lower, N(5, 0.3^2): the second mode holds e^-40 of the mass,
    and a leapfrog trajectory cannot cross the barrier between them."""
    x = params["x"]
    good = -0.5 * ((x + 5.0) / 0.3) ** 2
    worse = -0.5 * ((x - 5.0) / 0.3) ** 2 - 40.0
    return -jnp.logaddexp(good, worse)


def run_worse_mode(starts, num_warmup):
    """Four vectorised chains from ``starts``; their draws (chain, draw)."""
    mcmc = MCMC(
        SpikingKernel(potential_fn=worse_mode_potential),
        num_warmup=num_warmup,
        num_samples=100,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0), init_params={"x": jnp.array(starts)})
    return np.asarray(mcmc.get_samples(group_by_chain=True)["x"])


def test_half_the_chains_in_a_worse_mode_are_moved_to_the_best_one():
    """Two of four chains start in the worse mode: measured against the best chain (not the
    median, which a 2:2 split puts halfway) they are far out and restart from it in warmup."""
    x = run_worse_mode([-5.0, 5.0, -5.1, 5.1], num_warmup=300)
    assert np.all(np.abs(x + 5.0) < 2.0), x.mean(axis=1)


def test_chains_still_in_a_worse_mode_when_warmup_ends_are_moved():
    """Three of four chains in the worse mode and a warmup of 40 transitions, shorter than
    the 50 a far-out chain is given: only the rule for warmup's last transition moves them."""
    x = run_worse_mode([-5.0, 5.0, 5.1, 4.9], num_warmup=40)
    assert np.all(np.abs(x + 5.0) < 2.0), x.mean(axis=1)


@pytest.mark.parametrize("dynamics", ["hamiltonian", "poisson"])
def test_a_healthy_run_raises_no_warning(dynamics):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrozenChainWarning)
        mcmc = MCMC(
            SpikingKernel(tiny_model, dynamics=dynamics),
            num_warmup=300,
            num_samples=300,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(jax.random.PRNGKey(0), y=jnp.asarray(Y))
    assert not np.asarray(mcmc.get_extra_fields()["frozen"]).any()


def binomial(x, n):
    p = numpyro.sample("p", dist.Beta(1.0, 1.0))
    numpyro.sample("x", dist.Binomial(n, logits=jnp.log(p) - jnp.log1p(-p)), obs=x)


def test_binomial_with_millions_of_trials_in_float32():
    """x = 3849 of n = 5,000,000 through logits (a test of NumPyro's): in float32 the log
    density is resolved in steps of 8 nats, several posterior sds wide. A chain that
    overshot and shrank its step size there is restarted from its best state: the mean is
    within 5% of x / n, and a chain whose step collapsed is named."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FrozenChainWarning)
        mcmc = MCMC(SpikingKernel(binomial), num_warmup=200, num_samples=200, progress_bar=False)
        mcmc.run(jax.random.PRNGKey(2), 3849.0, 5_000_000.0)
    p = np.asarray(mcmc.get_samples()["p"])
    assert abs(p.mean() / (3849 / 5e6) - 1.0) < 0.05
