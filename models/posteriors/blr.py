"""Bayesian linear regression (posteriordb ``sblrc-blr``).

y ~ N(X beta, sigma),  X: N x D (D=5, correlated columns)
beta_d ~ N(0, 10),  sigma ~ half-normal(0, 10)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "Bayesian linear regression, 5 predictors (N=100)"


def model(X, y=None):
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([X.shape[1]]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
    with numpyro.plate("N", X.shape[0]):
        numpyro.sample("y", dist.Normal(X @ beta, sigma), obs=y)


def make(data):
    X = np.asarray(data["X"], dtype=float).reshape(data["N"], data["D"])
    return model, (X,), {"y": np.asarray(data["y"], dtype=float)}


NUTS_CHECK = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4, "dense_mass": True}
