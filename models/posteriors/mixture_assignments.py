"""A three-component Gaussian mixture with its assignments as discrete sites, exact by
enumeration of all 3^N assignments.

    w ~ Dirichlet(2, 2, 2);  mu_k ~ N(m_k, 1), m = (-2, 0, 2);  z_n ~ Categorical(w);
    y_n ~ N(mu_{z_n}, 1)                                            (N = 12)
    p(z | y) ∝ DirMult(counts(z); alpha) prod_k N-marginal(y_{z = k}; m_k)  (conjugate in w, mu)

Identifiable: the components have different prior means, so the labels mean something and
the exact answer (which sums over every labelling) is not symmetric. The reference gives the
means and sds of mu and w (mixtures of the conjugate posteriors over all assignments) and
P(z_n = k) (``z_is[n, k]``, a deterministic one-hot site) for those between 0.02 and 0.98.
Data: N = 12 points drawn once (numpy seed 16) from the mixture with means (-2.5, 0, 2.5).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy.special import gammaln

KIND = "3-component Gaussian mixture with assignments (N=12)"
DATA = np.array([0.14, -0.92, -2.69, 1.12, 0.57, -1.93, 2.85, 2.32, -4.37, 3.49, -4.01, 0.22])
ALPHA = np.array([2.0, 2.0, 2.0])
PRIOR_MEANS = np.array([-2.0, 0.0, 2.0])
PRIOR_SD = 1.0
NOISE_SD = 1.0
MIN_PROBABILITY = 0.02


def kind():
    return KIND


def model(y):
    num_components = ALPHA.shape[0]
    w = numpyro.sample("w", dist.Dirichlet(jnp.asarray(ALPHA, y.dtype)))
    mu = numpyro.sample("mu", dist.Normal(jnp.asarray(PRIOR_MEANS, y.dtype), PRIOR_SD).to_event(1))
    with numpyro.plate("data", y.shape[0]):
        z = numpyro.sample("z", dist.Categorical(w))
        numpyro.sample("y", dist.Normal(mu[z], NOISE_SD), obs=y)
    numpyro.deterministic("z_is", jax.nn.one_hot(z, num_components))


def make():
    return model, (jnp.asarray(DATA, jnp.float32),), {}


@functools.cache
def enumerate_assignments():
    """Every assignment (K^N, N), its posterior probability, and per component the conjugate
    posterior of mu (mean, precision) and the counts."""
    y = DATA
    num_components, num_points = ALPHA.shape[0], y.shape[0]
    digits = num_components ** np.arange(num_points)
    z = (np.arange(num_components**num_points)[:, None] // digits) % num_components
    masks = [(z == k).astype(float) for k in range(num_components)]
    counts = np.stack([m.sum(axis=1) for m in masks], axis=1)  # (S, K)
    sums = np.stack([m @ y for m in masks], axis=1)
    squares = np.stack([m @ y**2 for m in masks], axis=1)
    prior_precision = 1.0 / PRIOR_SD**2
    precision = prior_precision + counts / NOISE_SD**2
    mean = (PRIOR_MEANS * prior_precision + sums / NOISE_SD**2) / precision
    log_marginal = (
        -0.5 * np.log(precision / prior_precision)
        - 0.5 * (squares / NOISE_SD**2 + PRIOR_MEANS**2 * prior_precision - mean**2 * precision)
    ).sum(axis=1)
    log_dirichlet = gammaln(ALPHA + counts).sum(axis=1)
    log_p = log_marginal + log_dirichlet
    p = np.exp(log_p - log_p.max())
    return z, p / p.sum(), mean, precision, counts


def _moments(mean, second):
    return {"mean": float(mean), "sd": float(np.sqrt(max(second - mean**2, 0.0)))}


def reference():
    z, p, mean, precision, counts = enumerate_assignments()
    num_components = ALPHA.shape[0]
    out = {}
    for k in range(num_components):
        second = p @ (mean[:, k] ** 2 + 1.0 / precision[:, k])
        out[f"mu[{k + 1}]"] = _moments(p @ mean[:, k], second)
    total = ALPHA.sum() + DATA.shape[0]
    for k in range(num_components):
        a = ALPHA[k] + counts[:, k]
        out[f"w[{k + 1}]"] = _moments(p @ (a / total), p @ (a * (a + 1) / (total * (total + 1))))
    for n in range(DATA.shape[0]):
        for k in range(num_components):
            q = float(p @ (z[:, n] == k))
            if MIN_PROBABILITY <= q <= 1.0 - MIN_PROBABILITY:
                out[f"z_is[{n + 1},{k + 1}]"] = {"mean": q, "sd": float(np.sqrt(q * (1 - q)))}
    return out
