"""Simulation-based calibration: ranks of the true parameter among posterior draws are uniform.

R independent replications are packed into one R-dimensional model (the posterior factorises),
so one chain yields R rank statistics. theta_r ~ N(0, 1), y_rj ~ N(theta_r, 1), j = 1..3.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC
from scipy import stats

from spiking_mcmc import SpikingKernel
from spiking_mcmc.dynamics import poisson

PoissonKernel = functools.partial(SpikingKernel, dynamics="poisson")

REPLICATIONS = 400
DRAWS = 49  # ranks take 50 values; 10 bins of 5
THIN = 40
SEEDS = (0, 1, 2)  # three chains: 1200 ranks (one chain alone misses the broken rule at seed 0)


def model(y):
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([y.shape[0]]).to_event(1))
    numpyro.sample("y", dist.Normal(theta[:, None], 1.0).to_event(2), obs=y)


def ranks(seed):
    """The rank of each replication's true theta among its DRAWS thinned draws (one chain)."""
    rng = np.random.default_rng(seed)
    theta_true = rng.normal(size=REPLICATIONS)
    y = theta_true[:, None] + rng.normal(size=(REPLICATIONS, 3))
    mcmc = MCMC(
        PoissonKernel(model),
        num_warmup=1000,
        num_samples=DRAWS * THIN,
        thinning=THIN,
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), y=jnp.asarray(y))
    draws = np.asarray(mcmc.get_samples()["theta"])  # (DRAWS, REPLICATIONS)
    return np.sum(draws < theta_true[None, :], axis=0)  # 0..DRAWS


def sbc_p_value(seeds=SEEDS):
    """Chi-square p-value of the pooled ranks of independent chains (10 bins of 5 ranks)."""
    pooled = np.concatenate([ranks(seed) for seed in seeds])
    counts = np.bincount(pooled // 5, minlength=10)
    return stats.chisquare(counts).pvalue


@pytest.mark.slow
def test_ranks_are_uniform():
    # a calibrated sampler fails this one run in 1,000
    assert sbc_p_value() > 1e-3


@pytest.mark.slow
def test_broken_acceptance_rule_is_miscalibrated(monkeypatch):
    def without_cosh(state, proposal, net_counts, u, u_new, expected_spikes):
        return proposal.log_density - state.log_density - jnp.sum(net_counts * (u + u_new))

    monkeypatch.setattr(poisson, "log_accept_ratio", without_cosh)
    assert sbc_p_value() < 1e-3
