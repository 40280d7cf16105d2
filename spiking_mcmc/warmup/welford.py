"""The chains' covariance, learned as they move: Welford sums pooled over a batch of chains.

    m_c <- m_c + (x_c - m_c) / n;   M2 <- M2 + sum_c (x_c - m_c,old)(x_c - m_c,new)^T
    Sigma = M2 / (C (n - 1)),  shrunk as Stan does:  n'/(n' + 5) Sigma + 1e-3 5/(n' + 5) I

Each chain keeps its own running mean, so Sigma is the within-chain covariance (R-hat's W):
chains that have not yet met do not inflate it, as the spread between their means would. With
one chain (C = 1) this is the ordinary Welford estimator. n' = C (n - 1) + 1 is the number of
draws the pooled estimate counts.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class WelfordState(NamedTuple):
    chain_means: jax.Array  # (C, d)
    m2: jax.Array  # (d,) diagonal or (d, d) dense
    count: jax.Array  # draws per chain


def init(num_chains: int, dim: int, dense: bool, dtype) -> WelfordState:
    """Nothing seen yet."""
    m2 = jnp.zeros((dim, dim) if dense else (dim,), dtype)
    return WelfordState(jnp.zeros((num_chains, dim), dtype), m2, jnp.zeros((), jnp.int32))


def update(state: WelfordState, samples) -> WelfordState:
    """Add one draw of every chain, ``samples`` (C, d)."""
    count = state.count + 1
    delta_before = samples - state.chain_means
    chain_means = state.chain_means + delta_before / count.astype(samples.dtype)
    delta_after = samples - chain_means
    if state.m2.ndim == 1:
        m2 = state.m2 + jnp.sum(delta_before * delta_after, axis=0)
    else:
        m2 = state.m2 + delta_after.T @ delta_before
    return WelfordState(chain_means, m2, count)


def covariance(state: WelfordState, regularize: bool = True):
    """The pooled within-chain covariance (a vector of variances when diagonal)."""
    num_chains = state.chain_means.shape[0]
    n = (num_chains * (state.count - 1) + 1).astype(state.m2.dtype)
    cov = state.m2 / (n - 1.0)
    if regularize:
        shrinkage = 1e-3 * (5.0 / (n + 5.0))
        cov = (n / (n + 5.0)) * cov
        cov = (
            cov + shrinkage
            if cov.ndim == 1
            else cov + shrinkage * jnp.eye(cov.shape[0], dtype=cov.dtype)
        )
    return cov


def reset(state: WelfordState) -> WelfordState:
    """Start a new window."""
    return jax.tree.map(jnp.zeros_like, state)
