"""Eight schools, non-centred (posteriordb ``eight_schools-eight_schools_noncentered``).

theta_trans_j ~ N(0, 1),  theta_j = mu + tau * theta_trans_j,  y_j ~ N(theta_j, sigma_j)
mu ~ N(0, 5),  tau ~ half-Cauchy(0, 5)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "hierarchical normal, non-centred (J=8)"


def model(J, sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        theta_trans = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_trans)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def make(data):
    return (
        model,
        (data["J"], np.asarray(data["sigma"], dtype=float)),
        {"y": np.asarray(data["y"], dtype=float)},
    )
