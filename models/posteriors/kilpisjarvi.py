"""Kilpisjarvi summer temperature trend (posteriordb ``kilpisjarvi_mod-kilpisjarvi``).

    y_n ~ N(alpha + beta * x_n, sigma),  x_n = year (uncentred, about 3952..4013)
    alpha ~ N(pmualpha, psalpha),  beta ~ N(pmubeta, psbeta),  sigma > 0 flat (improper)
alpha and beta are almost perfectly correlated, so NUTS needs a dense mass matrix.
"""

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "simple linear regression on time (N=62)"


def model(x, pmualpha, psalpha, pmubeta, psbeta, y=None):
    alpha = numpyro.sample("alpha", dist.Normal(pmualpha, psalpha))
    beta = numpyro.sample("beta", dist.Normal(pmubeta, psbeta))
    sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
    with numpyro.plate("N", x.shape[0]):
        numpyro.sample("y", dist.Normal(alpha + beta * x, sigma), obs=y)


def make(data):
    priors = tuple(float(data[k]) for k in ("pmualpha", "psalpha", "pmubeta", "psbeta"))
    return (
        model,
        (np.asarray(data["x"], dtype=float),) + priors,
        {"y": np.asarray(data["y"], dtype=float)},
    )


NUTS_CHECK = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4, "dense_mass": True}
