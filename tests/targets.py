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
