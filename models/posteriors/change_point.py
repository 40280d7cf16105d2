"""A change-point model for counts (the coal-mining-disaster model, on synthetic data), exact by
enumeration of the change point.

    switch ~ Categorical(uniform over 0..T-1);  early, late ~ Gamma(a, b)  (a = 2, b = 1)
    y_t ~ Poisson(early if t < switch else late)
    p(switch = k | y) ∝ B(S_<k, n_<k) B(S_>=k, n_>=k),   B(S, n) = Gamma(a + S) / (b + n)^(a + S)

The rates are conjugate, so the sum over k of the Gamma posteriors (a + S, b + n) of each
segment gives the rates' exact means and sds. Data: T = 60 counts drawn once with rate 3 before
t = 26 and 1 after (numpy seed 16), stored here. ``switch_is[k + 1]`` is the indicator of
switch = k (a deterministic site), so its mean is P(switch = k | y); the reference lists the
values of k with P >= 0.02.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy.special import gammaln

KIND = "Poisson change point (T=60), Gamma rates"
COUNTS = np.array(
    [2, 2, 2, 3, 5, 3, 2, 4, 5, 4, 3, 2, 7, 2, 3, 3, 3, 3, 2, 2, 5, 1, 5, 5, 2, 4, 1, 2, 2, 0]
    + [2, 1, 2, 2, 2, 0, 2, 1, 0, 0, 1, 1, 2, 0, 2, 2, 1, 0, 2, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 2]
)
SHAPE, RATE = 2.0, 1.0
MIN_PROBABILITY = 0.02  # switch values listed in the reference


def kind():
    return KIND


def model(counts):
    num_years = counts.shape[0]
    switch = numpyro.sample("switch", dist.Categorical(probs=jnp.ones(num_years) / num_years))
    early = numpyro.sample("early", dist.Gamma(SHAPE, RATE))
    late = numpyro.sample("late", dist.Gamma(SHAPE, RATE))
    rate = jnp.where(jnp.arange(num_years) < switch, early, late)
    numpyro.deterministic("switch_is", jax.nn.one_hot(switch, num_years))
    numpyro.sample("y", dist.Poisson(rate), obs=counts)


def make():
    return model, (jnp.asarray(COUNTS, jnp.float32),), {}


def posterior_of_switch(counts=COUNTS):
    """p(switch = k | y) for k = 0..T-1 and the segments' sufficient statistics."""
    counts = np.asarray(counts, float)
    num_years = counts.shape[0]
    k = np.arange(num_years)
    before = np.concatenate([[0.0], np.cumsum(counts)[:-1]])  # S_<k
    after = counts.sum() - before
    n_before, n_after = k.astype(float), num_years - k.astype(float)

    def segment(total, n):
        return gammaln(SHAPE + total) - (SHAPE + total) * np.log(RATE + n)

    log_p = segment(before, n_before) + segment(after, n_after)
    p = np.exp(log_p - log_p.max())
    return p / p.sum(), (before, n_before), (after, n_after)


def _gamma_mixture(p, total, n):
    shape, rate = SHAPE + total, RATE + n
    mean = p @ (shape / rate)
    second = p @ (shape * (shape + 1.0) / rate**2)
    return {"mean": float(mean), "sd": float(np.sqrt(second - mean**2))}


def reference():
    p, (s1, n1), (s2, n2) = posterior_of_switch()
    k = np.arange(p.shape[0])
    mean = p @ k
    out = {
        "switch": {"mean": float(mean), "sd": float(np.sqrt(p @ k**2 - mean**2))},
        "early": _gamma_mixture(p, s1, n1),
        "late": _gamma_mixture(p, s2, n2),
    }
    for value in np.flatnonzero(p >= MIN_PROBABILITY):
        q = float(p[value])
        out[f"switch_is[{value + 1}]"] = {"mean": q, "sd": float(np.sqrt(q * (1 - q)))}
    return out
