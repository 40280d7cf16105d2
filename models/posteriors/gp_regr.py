"""Marginal GP regression (posteriordb ``gp_pois_regr-gp_regr``).

K_ij = alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2)) + sigma * delta_ij   (sigma is a variance here)
y ~ MVN(0, K),  rho ~ Gamma(25, 4),  alpha ~ half-N(0, 2),  sigma ~ half-N(0, 1)
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "marginal Gaussian process regression (N=11)"


def model(x, y=None):
    rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    sqdist = (x[:, None] - x[None, :]) ** 2
    cov = alpha**2 * jnp.exp(-0.5 * sqdist / rho**2) + sigma * jnp.eye(x.shape[0])
    numpyro.sample(
        "y",
        dist.MultivariateNormal(jnp.zeros(x.shape[0]), scale_tril=jnp.linalg.cholesky(cov)),
        obs=y,
    )


def make(data):
    return model, (np.asarray(data["x"], dtype=float),), {"y": np.asarray(data["y"], dtype=float)}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 750}
