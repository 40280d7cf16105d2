"""Two-state hidden Markov model, Gaussian emissions (posteriordb ``hmm_example-hmm_example``).

theta1, theta2 ~ flat on the 2-simplex (rows of the transition matrix),  mu positive_ordered
mu_1 ~ N(3, 1),  mu_2 ~ N(10, 1),  y_t | z_t ~ N(mu_{z_t}, 1)
p(y) by the forward algorithm (log-sum-exp), with Stan's gamma_1k = log N(y_1 | mu_k, 1)

mu's support is not validated (``validate_args=False``), as Stan's positive_ordered never
rejects: the transform mu = exp(cumsum(z_1, exp(z_2))) rounds mu_2 to mu_1 in float32 once
exp(z_2) < ulp(z_1) / 2 (z_2 < -16 or so), and NumPyro's validation then gives the tie density
zero.  Those zero-density cells are a float32 artefact with a ragged edge (it moves with the
binade of z_1): an early warmup trajectory from a far start (potential energy in the
thousands) can throw a chain to z_2 ~ -16 in the flat exp(z_2) tail (mu_1 = mu_2 ~ 7.4), where
the density rises into such a wall.  Pinned there, dual averaging shrank the step size to 1e-6
and one chain of the benchmark stayed stuck for all 2000 iterations (R-hat 1.57).  Without the
wall the tail is a plain slope of 1 in z_2 and the chain walks back within warmup.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints

KIND = "2-state hidden Markov model, Gaussian emissions (N=100)"


def model(y, K=2):
    theta1 = numpyro.sample("theta1", dist.Dirichlet(jnp.ones(K)))
    theta2 = numpyro.sample("theta2", dist.Dirichlet(jnp.ones(K)))
    positive_ordered = dist.ImproperUniform(
        constraints.positive_ordered_vector, (), event_shape=(K,), validate_args=False
    )  # no -inf at float32 ties mu_1 == mu_2 (see the module docstring)
    mu = numpyro.sample("mu", positive_ordered)
    numpyro.factor("mu_prior", dist.Normal(jnp.array([3.0, 10.0]), 1.0).log_prob(mu).sum())
    log_theta = jnp.log(jnp.stack([theta1, theta2]))  # [from j, to k]
    log_emit = dist.Normal(mu, 1.0).log_prob(y[:, None])  # [t, k]

    def step(gamma, log_e):
        gamma = logsumexp(gamma[:, None] + log_theta, axis=0) + log_e
        return gamma, None

    gamma, _ = jax.lax.scan(step, log_emit[0], log_emit[1:])
    numpyro.factor("y", logsumexp(gamma))


def make(data):
    return model, (np.asarray(data["y"], dtype=float),), {"K": int(data["K"])}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 750}
