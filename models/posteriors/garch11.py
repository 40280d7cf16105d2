"""GARCH(1, 1) volatility model (posteriordb ``garch-garch11``).

sigma_1 = sigma1 (data),  sigma_t^2 = alpha0 + alpha1 (y_{t-1} - mu)^2 + beta1 sigma_{t-1}^2
y_t ~ N(mu, sigma_t);  flat priors on mu, alpha0 > 0, alpha1 in (0, 1), beta1 in (0, 1 - alpha1)
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "GARCH(1,1) volatility time series (T=200)"


def model(y, sigma1):
    mu = numpyro.sample("mu", dist.ImproperUniform(constraints.real, (), ()))
    alpha0 = numpyro.sample("alpha0", dist.ImproperUniform(constraints.positive, (), ()))
    alpha1 = numpyro.sample("alpha1", dist.ImproperUniform(constraints.unit_interval, (), ()))
    # flat on (0, 1 - alpha1), a bound that depends on alpha1. Uniform(0, 1 - alpha1) has
    # density 1 / (1 - alpha1), which Stan's flat prior lacks: the factor cancels it. (Not
    # ImproperUniform: NumPyro does not detect its dependent support and would map the draws
    # back with the initial alpha1's bound.)
    beta1 = numpyro.sample("beta1", dist.Uniform(0.0, 1.0 - alpha1))
    numpyro.factor("beta1_flat", jnp.log1p(-alpha1))

    def step(var_prev, y_prev):
        var = alpha0 + alpha1 * jnp.square(y_prev - mu) + beta1 * var_prev
        return var, var

    var1 = jnp.square(sigma1) * jnp.ones_like(mu)
    _, var_rest = jax.lax.scan(step, var1, y[:-1])
    sigma = jnp.sqrt(jnp.concatenate([var1[None], var_rest]))
    with numpyro.plate("T", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def make(data):
    return model, (np.asarray(data["y"], dtype=float), float(data["sigma1"])), {}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 1000, "num_chains": 4}
