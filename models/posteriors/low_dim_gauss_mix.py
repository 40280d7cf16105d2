"""Two-component 1-D Gaussian mixture (posteriordb ``low_dim_gauss_mix-low_dim_gauss_mix``).

y_n ~ theta N(mu_1, sigma_1) + (1 - theta) N(mu_2, sigma_2),  mu ordered (mu_1 < mu_2)
mu_k ~ N(0, 2),  sigma_k ~ half-N(0, 2),  theta ~ Beta(5, 5)
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints

KIND = "two-component Gaussian mixture, ordered means (N=1000)"


def model(y):
    # ordered[2] mu with a N(0, 2) prior on each element (Stan's ordered transform)
    mu = numpyro.sample(
        "mu", dist.ImproperUniform(constraints.ordered_vector, (), event_shape=(2,))
    )
    numpyro.factor("mu_prior", dist.Normal(0.0, 2.0).log_prob(mu).sum())
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]).to_event(1))
    theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
    log_w = jnp.stack([jnp.log(theta), jnp.log1p(-theta)])
    comp = dist.Normal(mu, sigma).log_prob(y[:, None])  # (N, 2)
    numpyro.factor("y", logsumexp(comp + log_w, axis=-1).sum())


def make(data):
    return model, (np.asarray(data["y"], dtype=float),), {}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 1000, "num_chains": 4}
