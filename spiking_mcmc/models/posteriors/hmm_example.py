"""Two-state hidden Markov model, Gaussian emissions (posteriordb ``hmm_example-hmm_example``).

theta1, theta2 ~ flat on the 2-simplex (rows of the transition matrix),  mu positive_ordered
mu_1 ~ N(3, 1),  mu_2 ~ N(10, 1),  y_t | z_t ~ N(mu_{z_t}, 1)
p(y) by the forward algorithm (log-sum-exp), with Stan's gamma_1k = log N(y_1 | mu_k, 1)
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
    mu = numpyro.sample(
        "mu", dist.ImproperUniform(constraints.positive_ordered_vector, (), event_shape=(K,))
    )
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
