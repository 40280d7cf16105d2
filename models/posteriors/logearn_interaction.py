"""Log earnings on height, sex and their interaction (posteriordb ``earnings-logearn_interaction``).

log(earn_n) ~ N(beta_1 + beta_2 height_n + beta_3 male_n + beta_4 height_n male_n, sigma)
beta flat (improper),  sigma > 0 flat (improper)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "log-linear regression with interaction (N=1192)"


def model(height, male, inter, log_earn=None):
    beta = numpyro.sample("beta", dist.ImproperUniform(constraints.real, (), event_shape=(4,)))
    sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
    mean = beta[0] + beta[1] * height + beta[2] * male + beta[3] * inter
    with numpyro.plate("N", height.shape[0]):
        numpyro.sample("log_earn", dist.Normal(mean, sigma), obs=log_earn)


def make(data):
    height = np.asarray(data["height"], dtype=float)
    male = np.asarray(data["male"], dtype=float)
    log_earn = np.log(np.asarray(data["earn"], dtype=float))
    return model, (height, male, height * male), {"log_earn": log_earn}


NUTS_CHECK = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4, "dense_mass": True}
