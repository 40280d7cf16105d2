"""Quickstart: eight schools with the spiking kernel, in ArviZ, and beside NUTS.

python examples/quickstart.py     (needs only the installed package: pip install spiking-mcmc)
"""

import arviz as az
import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC

from spiking_mcmc import SpikingKernel, compare

J = 8
Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(J, sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        theta_trans = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_trans)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


# 1. The spiking kernel in ordinary NumPyro code, the draws in ArviZ.
mcmc = MCMC(
    SpikingKernel(eight_schools),
    num_warmup=1000,
    num_samples=1000,
    num_chains=4,
    chain_method="vectorized",
    progress_bar=False,
)
mcmc.run(jax.random.PRNGKey(0), J, SIGMA, y=Y)
idata = az.from_numpyro(mcmc)
print(az.summary(idata, var_names=["mu", "tau"]))
print("spikes per draw:", float(idata["sample_stats"]["num_spikes"].mean()))

# 2. The same model beside NUTS: ESS per gradient and per second of warmup plus sampling.
print(compare(eight_schools, J, SIGMA, model_kwargs={"y": Y}))
