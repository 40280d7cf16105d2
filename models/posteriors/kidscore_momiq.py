"""Kid's test score on mother's IQ (posteriordb ``kidiq-kidscore_momiq``).

kid_score_n ~ N(beta_1 + beta_2 * mom_iq_n, sigma)
beta flat (improper),  sigma ~ half-Cauchy(0, 2.5)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "linear regression, 1 predictor (N=434)"


def model(mom_iq, kid_score=None):
    beta = numpyro.sample("beta", dist.ImproperUniform(constraints.real, (), event_shape=(2,)))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    with numpyro.plate("N", mom_iq.shape[0]):
        numpyro.sample("kid_score", dist.Normal(beta[0] + beta[1] * mom_iq, sigma), obs=kid_score)


def make(data):
    return (
        model,
        (np.asarray(data["mom_iq"], dtype=float),),
        {"kid_score": np.asarray(data["kid_score"], dtype=float)},
    )


NUTS_CHECK = {"num_warmup": 500, "num_samples": 1000, "num_chains": 4}
