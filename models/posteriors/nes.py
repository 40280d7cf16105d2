"""Party identification, NES 2000 (posteriordb ``nes2000-nes``).

partyid7_n ~ N(beta_1 + beta_2 ideo + beta_3 race + beta_4..6 [age group 2, 3, 4]
               + beta_7 educ1 + beta_8 gender + beta_9 income, sigma)
beta flat (improper),  sigma > 0 flat (improper)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "linear regression, 8 predictors (N=476)"


def model(X, partyid7=None):
    beta = numpyro.sample("beta", dist.ImproperUniform(constraints.real, (), event_shape=(9,)))
    sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
    with numpyro.plate("N", X.shape[0]):
        numpyro.sample("partyid7", dist.Normal(X @ beta, sigma), obs=partyid7)


def make(data):
    col = {
        k: np.asarray(data[k], dtype=float)
        for k in ("partyid7", "real_ideo", "race_adj", "educ1", "gender", "income")
    }
    age = np.asarray(data["age_discrete"])
    X = np.stack(
        [
            np.ones_like(col["partyid7"]),
            col["real_ideo"],
            col["race_adj"],
            (age == 2).astype(float),
            (age == 3).astype(float),
            (age == 4).astype(float),
            col["educ1"],
            col["gender"],
            col["income"],
        ],
        axis=1,
    )
    return model, (X,), {"partyid7": col["partyid7"]}


NUTS_CHECK = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4, "dense_mass": True}
