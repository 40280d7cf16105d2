"""Low rank plus diagonal Fisher plasticity, for posteriors too large for a dense metric.

    sigma_i = (Var(x_i) / Var(g_i))^(1/4);   x~ = (x - mean) / sigma,  g~ = (g - mean) sigma
    Q = an orthonormal basis of the span of the last N draws x~ and gradients g~ (d x 2N)
    M = (Q^T Cov(x~) Q) # (Q^T Cov(g~) Q)^-1;   M = V diag(lambda) V^T
    Sigma = S (I + U diag(lambda - 1) U^T) S,   S = diag(sigma),  U = Q V

The diagonal Fisher estimate scales every coordinate; the draws and gradients then span the
few directions in which the posterior is wider or narrower than that scaling says, and the
Fisher geometric mean inside that span (as in :mod:`spiking_mcmc.warmup.fisher`) gives the
correction. Eigenvalues between 1/2 and 2 are set to 1 (no correction), so the metric stays
diagonal where the draws do not say otherwise (nutpie's low-rank adaptation; Seyboldt,
Carlson & Carpenter 2026). The last N moving draws are kept in a ring buffer (N x d); the cost
of an estimate is O(d N^2), never O(d^2) memory.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from spiking_mcmc import metric as metrics
from spiking_mcmc.metric import Metric
from spiking_mcmc.warmup.fisher import _clip, geometric_mean

CAPACITY = 64  # draws kept: the correction has rank <= 2 x CAPACITY
CUTOFF = 2.0  # eigenvalues within [1/2, 2] are no correction


class DrawBuffer(NamedTuple):
    """The last ``CAPACITY`` moving draws and their gradients, a ring."""

    positions: jax.Array  # (N, d)
    grads: jax.Array  # (N, d)
    filled: jax.Array  # (N,) bool
    head: jax.Array  # next row to write


def init(dim: int, dtype, capacity: int = CAPACITY) -> DrawBuffer:
    zeros = jnp.zeros((capacity, dim), dtype)
    return DrawBuffer(zeros, zeros, jnp.zeros(capacity, bool), jnp.zeros((), jnp.int32))


def add(buffer: DrawBuffer, positions, grads, keep) -> DrawBuffer:
    """Write the kept rows of a batch ``positions``, ``grads`` (C, d), oldest first out."""
    capacity = buffer.filled.shape[0]

    def write(carry, row):
        buffer = carry
        x, g, k = row
        index = buffer.head % capacity
        written = DrawBuffer(
            buffer.positions.at[index].set(x),
            buffer.grads.at[index].set(g),
            buffer.filled.at[index].set(True),
            buffer.head + 1,
        )
        return jax.tree.map(lambda a, b: jnp.where(k, a, b), written, buffer), None

    return jax.lax.scan(write, buffer, (positions, grads, keep))[0]


def clear(buffer: DrawBuffer) -> DrawBuffer:
    return buffer._replace(filled=jnp.zeros_like(buffer.filled))


def as_low_rank(diagonal: Metric, rank: int) -> Metric:
    """A diagonal metric in the low-rank form (a zero correction of ``rank`` directions), so
    that every metric a warmup holds has the same pytree structure."""
    dim = diagonal.scale.shape[-1]
    zeros = jnp.zeros((dim, rank), diagonal.scale.dtype)
    return metrics.low_rank(diagonal.scale, zeros, jnp.ones(rank, diagonal.scale.dtype))


def rank(dim: int, capacity: int = CAPACITY) -> int:
    """The number of correction directions: the span of 2N draws and gradients, at most d."""
    return min(dim, 2 * capacity)


def _moments(values, weights):
    n = jnp.maximum(jnp.sum(weights), 2.0)
    mean = jnp.sum(weights[:, None] * values, axis=0) / n
    centred = weights[:, None] * (values - mean)
    return mean, jnp.sum(centred**2, axis=0) / (n - 1.0), centred, n


def estimate(buffer: DrawBuffer, previous: Metric) -> Metric:
    """The low rank plus diagonal Fisher metric of the buffered draws (module docstring)."""
    weights = buffer.filled.astype(buffer.positions.dtype)
    _, var_x, x_centred, n = _moments(buffer.positions, weights)
    _, var_g, g_centred, _ = _moments(buffer.grads, weights)
    previous_variances = previous.scale**2
    informed = (var_x > 0) & (var_g > 0)
    variances = jnp.where(informed, _clip(jnp.sqrt(var_x / var_g)), previous_variances)
    scale = jnp.sqrt(variances)
    x_scaled = x_centred / scale
    g_scaled = g_centred * scale
    basis, _ = jnp.linalg.qr(jnp.concatenate([x_scaled, g_scaled], axis=0).T)  # (d, k)
    x_projected, g_projected = x_scaled @ basis, g_scaled @ basis
    eye = jnp.eye(basis.shape[1], dtype=basis.dtype)
    regulariser = 1e-3 * (5.0 / (n + 5.0)) * eye
    cov_x = (n / (n + 5.0)) * (x_projected.T @ x_projected) / (n - 1.0) + regulariser
    cov_g = (n / (n + 5.0)) * (g_projected.T @ g_projected) / (n - 1.0) + regulariser
    values, vectors = jnp.linalg.eigh(geometric_mean(cov_x, cov_g))
    keep = (values > CUTOFF) | (values < 1.0 / CUTOFF)
    values = jnp.where(keep & jnp.isfinite(values), values, 1.0)
    candidate = metrics.low_rank(scale, basis @ vectors, jnp.maximum(values, 1e-12))
    ok = jnp.all(jnp.isfinite(candidate.basis)) & jnp.all(jnp.isfinite(scale))
    fallback = as_low_rank(metrics.Metric(scale), basis.shape[1])
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), candidate, fallback)
