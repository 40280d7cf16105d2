"""Small targets with analytic answers, shared by the tests."""

import numpy as np
import numpyro
import numpyro.distributions as dist


def correlated_gaussian(dim=5, rho=0.6, seed=0):
    """Mean and covariance: mean ~ N(0, 4), Sigma_ij = s_i s_j rho^|i-j|."""
    rng = np.random.default_rng(seed)
    mean = 2.0 * rng.normal(size=dim)
    scales = np.exp(rng.uniform(-1.0, 1.0, size=dim))
    lags = np.abs(np.subtract.outer(np.arange(dim), np.arange(dim)))
    return mean, np.outer(scales, scales) * rho**lags


def gaussian_model(mean, cov):
    def model():
        numpyro.sample("x", dist.MultivariateNormal(mean, covariance_matrix=cov))

    return model


def gaussian_reference(mean, cov):
    return {
        f"x[{i + 1}]": {"mean": m, "sd": s}
        for i, (m, s) in enumerate(zip(mean, np.sqrt(np.diag(cov)), strict=True))
    }


def tiny_model(y):
    """mu ~ N(0, 10), sigma ~ half-N(5), y ~ N(mu, sigma): a constrained site and a plate-free
    likelihood, for the quick user-level tests."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


Y = np.array([1.2, 0.4, 2.2, 1.9, 0.1, 1.1])
