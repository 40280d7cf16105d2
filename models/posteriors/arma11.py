"""ARMA(1, 1) time series (posteriordb ``arma-arma11``).

nu_1 = mu + phi mu,  nu_t = mu + phi y_{t-1} + theta err_{t-1},  err_t = y_t - nu_t
err_t ~ N(0, sigma);  mu ~ N(0, 10),  phi, theta ~ N(0, 2),  sigma ~ half-Cauchy(0, 2.5)
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "ARMA(1,1) time series, error recursion (T=200)"


def model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    phi = numpyro.sample("phi", dist.Normal(0.0, 2.0))
    theta = numpyro.sample("theta", dist.Normal(0.0, 2.0))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))

    err1 = y[0] - (mu + phi * mu)  # assumes err_0 = 0

    def step(err_prev, y_pair):
        y_prev, y_t = y_pair
        err = y_t - (mu + phi * y_prev + theta * err_prev)
        return err, err

    _, err_rest = jax.lax.scan(step, err1, (y[:-1], y[1:]))
    err = jnp.concatenate([err1[None], err_rest])
    # err ~ normal(0, sigma). Where the recursion has exploded (|theta| > 1 far from the
    # data: some |err| > 1e6 sigma, a log density below -5e11, so no posterior mass at all)
    # the density is set to 0 outright. This changes nothing in the posterior, but it rejects
    # such initial points, as float32 overflow does anyway: in float64 a chain started there
    # can stick in a spurious narrow mode with |theta| > 1, far from the posterior's mass.
    z = err / sigma
    log_lik = -0.5 * jnp.sum(jnp.square(z)) - err.shape[0] * jnp.log(sigma)
    numpyro.factor("err", jnp.where(jnp.max(jnp.abs(z)) < 1e6, log_lik, -jnp.inf))


def make(data):
    return model, (np.asarray(data["y"], dtype=float),), {}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 1000, "num_chains": 4}
