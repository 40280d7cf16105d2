"""Synthetic Gaussian targets with analytic answers.

x ~ N(0, Sigma);  equicorrelated: Sigma = (1 - rho) I + rho 1 1^T  (Masset et al. 2022);
ill-conditioned: Sigma = Q diag(s) Q^T, s log-spaced over [1/kappa, 1], Q a fixed rotation.
"""

from statistics import NormalDist

import numpy as np
import numpyro
import numpyro.distributions as dist

RHO = 0.75


def covariance(dim, condition_number=None, rho=RHO):
    """The target covariance (float64 numpy)."""
    if condition_number is None:
        return (1.0 - rho) * np.eye(dim) + rho * np.ones((dim, dim))
    rotation, _ = np.linalg.qr(np.random.default_rng(20221).normal(size=(dim, dim)))
    variances = np.logspace(-np.log10(condition_number), 0.0, dim)
    return (rotation * variances) @ rotation.T


def kind(dim, condition_number=None):
    if condition_number is None:
        return f"Gaussian, d={dim}, all correlations {RHO}"
    return f"Gaussian, d={dim}, condition number {condition_number:g}"


def model(scale_tril):
    numpyro.sample("x", dist.MultivariateNormal(0.0, scale_tril=scale_tril))


def make(dim, condition_number=None):
    return model, (np.linalg.cholesky(covariance(dim, condition_number)),), {}


def reference(dim, condition_number=None):
    sd = np.sqrt(np.diag(covariance(dim, condition_number)))
    z = [NormalDist().inv_cdf(q) for q in (0.05, 0.5, 0.95)]
    return {
        f"x[{i + 1}]": {"mean": 0.0, "sd": s, "q5": s * z[0], "q50": 0.0, "q95": s * z[2]}
        for i, s in enumerate(sd)
    }
