"""Eight schools, centred (posteriordb ``eight_schools-eight_schools_centered``).

    theta_j ~ N(mu, tau),  y_j ~ N(theta_j, sigma_j)
    mu ~ N(0, 5),  tau ~ half-Cauchy(0, 5)
A funnel in (theta, tau): NUTS needs a high target acceptance rate and still diverges.
"""

import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "hierarchical normal, centred (J=8)"


def model(J, sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def make(data):
    return (
        model,
        (data["J"], np.asarray(data["sigma"], dtype=float)),
        {"y": np.asarray(data["y"], dtype=float)},
    )


NUTS_CHECK = {"num_warmup": 2000, "num_samples": 4000, "num_chains": 4, "target_accept_prob": 0.999}
