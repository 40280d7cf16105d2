"""Log mesquite weight on log canopy measures (posteriordb ``mesquite-logmesquite_logvash``).

log w_n ~ N(beta_1 + beta_2 log(d1 d2 h) + beta_3 log(d1 d2) + beta_4 log(d1/d2)
            + beta_5 log(total_height) + beta_6 group, sigma)
beta flat (improper),  sigma > 0 flat (improper)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

KIND = "log-log regression, 5 predictors (N=46)"


def model(X, log_weight=None):
    beta = numpyro.sample("beta", dist.ImproperUniform(constraints.real, (), event_shape=(6,)))
    sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
    with numpyro.plate("N", X.shape[0]):
        numpyro.sample("log_weight", dist.Normal(X @ beta, sigma), obs=log_weight)


def make(data):
    col = {
        k: np.asarray(data[k], dtype=float)
        for k in ("weight", "diam1", "diam2", "canopy_height", "total_height", "group")
    }
    X = np.stack(
        [
            np.ones_like(col["weight"]),
            np.log(col["diam1"] * col["diam2"] * col["canopy_height"]),
            np.log(col["diam1"] * col["diam2"]),
            np.log(col["diam1"] / col["diam2"]),
            np.log(col["total_height"]),
            col["group"],
        ],
        axis=1,
    )
    return model, (X,), {"log_weight": np.log(col["weight"])}


NUTS_CHECK = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4, "dense_mass": True}
