"""The chains' covariance, learned as they move: Welford sums pooled over a batch of chains.

    m_c <- m_c + (x_c - m_c) / n_c;   M2 <- M2 + sum_c (x_c - m_c,old)(x_c - m_c,new)^T
    Sigma = M2 / sum_c (n_c - 1),  shrunk as Stan does:  n'/(n' + 5) Sigma + 1e-3 5/(n' + 5) I

Each chain keeps its own running mean and count, so Sigma is the within-chain covariance
(R-hat's W): chains that have not yet met do not inflate it, as the spread between their means
would. With one chain (C = 1) this is the ordinary Welford estimator. A draw can be left out
(``mask``), for example a rejected transition that repeats the last position. n' = sum_c
(n_c - 1) + 1 is the number of draws the pooled estimate counts.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class WelfordState(NamedTuple):
    chain_means: jax.Array  # (C, d)
    m2: jax.Array  # (d,) diagonal or (d, d) dense
    count: jax.Array  # (C,) draws of each chain


def init(num_chains: int, dim: int, dense: bool, dtype) -> WelfordState:
    """Nothing seen yet."""
    m2 = jnp.zeros((dim, dim) if dense else (dim,), dtype)
    zeros = jnp.zeros((num_chains, dim), dtype)
    return WelfordState(zeros, m2, jnp.zeros((num_chains,), jnp.int32))


def update(state: WelfordState, samples, mask=None) -> WelfordState:
    """Add one draw of every chain, ``samples`` (C, d); ``mask`` (C,) keeps only some."""
    keep = jnp.ones(samples.shape[0], bool) if mask is None else mask
    count = state.count + keep.astype(jnp.int32)
    weight = jnp.where(keep, 1.0 / jnp.maximum(count, 1), 0.0).astype(samples.dtype)[:, None]
    delta_before = jnp.where(keep[:, None], samples - state.chain_means, 0.0)
    chain_means = state.chain_means + weight * delta_before
    delta_after = jnp.where(keep[:, None], samples - chain_means, 0.0)
    if state.m2.ndim == 1:
        m2 = state.m2 + jnp.sum(delta_before * delta_after, axis=0)
    else:
        m2 = state.m2 + delta_after.T @ delta_before
    return WelfordState(chain_means, m2, count)


def num_draws(state: WelfordState):
    """n' = sum_c (n_c - 1) + 1: the draws the pooled within-chain estimate counts."""
    return jnp.sum(jnp.maximum(state.count - 1, 0)) + 1


def covariance(state: WelfordState, regularize: bool = True):
    """The pooled within-chain covariance (a vector of variances when diagonal)."""
    n = num_draws(state).astype(state.m2.dtype)
    cov = state.m2 / jnp.maximum(n - 1.0, 1.0)
    if regularize:
        shrinkage = 1e-3 * (5.0 / (n + 5.0))
        cov = (n / (n + 5.0)) * cov
        eye = jnp.eye(cov.shape[0], dtype=cov.dtype)
        cov = cov + shrinkage if cov.ndim == 1 else cov + shrinkage * eye
    return cov


def reset(state: WelfordState) -> WelfordState:
    """Start a new window."""
    return jax.tree.map(jnp.zeros_like, state)
