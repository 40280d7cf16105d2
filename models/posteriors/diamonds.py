"""Diamond prices, brms linear regression (posteriordb ``diamonds-diamonds``).

Y ~ N(Intercept + Xc b, sigma),  Xc = X[:, 1:] centred by column (transformed data)
b ~ N(0, 1),  Intercept ~ Student-t(3, 8, 10),  sigma ~ half-Student-t(3, 0, 10)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "linear regression, 24 highly correlated predictors (N=5000)"


def model(Xc, Y):
    Kc = Xc.shape[1]
    b = numpyro.sample("b", dist.Normal(0.0, 1.0).expand([Kc]).to_event(1))
    intercept = numpyro.sample("Intercept", dist.StudentT(3.0, 8.0, 10.0))
    # half-Student-t(3, 0, 10): the truncation term -lccdf(0) is a constant
    sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
    numpyro.factor("sigma_prior", dist.StudentT(3.0, 0.0, 10.0).log_prob(sigma))
    with numpyro.plate("N", Y.shape[0]):
        numpyro.sample("Y", dist.Normal(intercept + Xc @ b, sigma), obs=Y)


def make(data):
    X = np.asarray(data["X"], dtype=float)
    Xc = X[:, 1:] - X[:, 1:].mean(axis=0)
    return model, (Xc, np.asarray(data["Y"], dtype=float)), {}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 1000, "num_chains": 4, "dense_mass": True}
