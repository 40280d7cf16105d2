"""Kid's test score with an interaction (posteriordb ``kidiq-kidscore_interaction``).

kid_score_n ~ N(beta_1 + beta_2 hs_n + beta_3 iq_n + beta_4 hs_n iq_n, sigma)
beta flat (improper),  sigma ~ half-Cauchy(0, 2.5)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "linear regression with interaction (N=434)"


def model(mom_hs, mom_iq, inter, kid_score=None):
    beta = numpyro.sample("beta", dist.ImproperUniform(constraints.real, (), event_shape=(4,)))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    mean = beta[0] + beta[1] * mom_hs + beta[2] * mom_iq + beta[3] * inter
    with numpyro.plate("N", mom_iq.shape[0]):
        numpyro.sample("kid_score", dist.Normal(mean, sigma), obs=kid_score)


def make(data):
    mom_hs = np.asarray(data["mom_hs"], dtype=float)
    mom_iq = np.asarray(data["mom_iq"], dtype=float)
    return (
        model,
        (mom_hs, mom_iq, mom_hs * mom_iq),
        {"kid_score": np.asarray(data["kid_score"], dtype=float)},
    )


NUTS_CHECK = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4, "dense_mass": True}
