"""A Boltzmann machine: binary units with random symmetric couplings, exact by enumeration.

    p(s) ∝ exp(1/2 s^T W s + b^T s),   s in {0, 1}^n,   W_ij = W_ji ~ N(0, coupling^2)
    b_i = -1/2 sum_j W_ij + h_i,   h_i ~ N(0, 1/4)    (spins s = (1 + sigma)/2 in a weak field)
    reference: P(s_i = 1) and P(s_i = s_j = 1) (``pairs``, i < j) summed over all 2^n states

Every unit is a Bernoulli(1/2) site; the couplings enter as a ``numpyro.factor``. The
deterministic site ``pairs`` holds s_i s_j for every i < j (row-major over i), so its means are
the pairwise co-activation probabilities (the correlations follow from them).
"""

import itertools

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

SEED = 1611  # the couplings and biases


def kind(num_units=16, coupling=0.5):
    return f"Boltzmann machine, {num_units} binary units, couplings N(0, {coupling}^2)"


def parameters(num_units=16, coupling=0.5):
    """(W, b): symmetric couplings with zero diagonal, and biases that centre the units
    (fixed seed)."""
    rng = np.random.default_rng(SEED)
    upper = np.triu(rng.normal(0.0, coupling, (num_units, num_units)), 1)
    weights = upper + upper.T
    return weights, -0.5 * weights.sum(axis=1) + rng.normal(0.0, 0.5, num_units)


def pair_index(num_units):
    """(i, j) with i < j, row-major: the order of ``pairs``."""
    return np.triu_indices(num_units, 1)


def model(weights, biases):
    n = biases.shape[0]
    with numpyro.plate("units", n):
        s = numpyro.sample("s", dist.Bernoulli(0.5))
    x = s.astype(weights.dtype)
    numpyro.factor("energy", 0.5 * x @ weights @ x + biases @ x)
    i, j = pair_index(n)
    numpyro.deterministic("pairs", s[i] * s[j])


def make(num_units=16, coupling=0.5):
    weights, biases = parameters(num_units, coupling)
    return model, (jnp.asarray(weights, jnp.float32), jnp.asarray(biases, jnp.float32)), {}


def enumerate_states(num_units=16, coupling=0.5):
    """Every state (2^n, n) and its probability (exact)."""
    weights, biases = parameters(num_units, coupling)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=num_units)))
    log_p = 0.5 * np.einsum("ki,ij,kj->k", states, weights, states) + states @ biases
    p = np.exp(log_p - log_p.max())
    return states, p / p.sum()


def _binary(p):
    return {"mean": float(p), "sd": float(np.sqrt(p * (1.0 - p)))}


def reference(num_units=16, coupling=0.5):
    states, p = enumerate_states(num_units, coupling)
    marginals = p @ states
    out = {f"s[{i + 1}]": _binary(m) for i, m in enumerate(marginals)}
    i, j = pair_index(num_units)
    both = p @ (states[:, i] * states[:, j])
    out.update({f"pairs[{k + 1}]": _binary(m) for k, m in enumerate(both)})
    return out
