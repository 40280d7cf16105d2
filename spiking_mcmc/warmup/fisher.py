"""Fisher plasticity: the metric learned from positions AND membrane inputs (gradients).

    diagonal:  sigma_i^2 = sqrt(Var(x_i) / Var(g_i))
    dense:     Sigma = A # B^-1 = B^-1/2 (B^1/2 A B^1/2)^1/2 B^-1/2,   A = Cov(x), B = Cov(g)

For a Gaussian posterior N(mu, S) the gradient is g = -S^-1 (x - mu), so Cov(x) = S and
Cov(g) = S^-1: each signal alone carries the geometry, and their geometric mean (the symmetric
positive definite matrix "halfway" between A and B^-1) is S whatever the two estimates' errors
in opposite directions. It minimises the Fisher divergence between the posterior and a
Gaussian after an affine map (Seyboldt, Carlson & Carpenter 2026, arXiv 2603.18845; nutpie).
In the network's words this is a two-factor synaptic rule: the decoders learn from the
presynaptic activity (the decoded position x) times the postsynaptic current (the membrane
input g) the network sees at every warmup transition.

The dense estimate is taken in the coordinates the diagonal estimate whitens, where both
covariances get Stan's regularisation (n/(n + 5) C + 1e-3 5/(n + 5) I): directions the draws
have not explored fall back to the diagonal estimate (the two regularisers' geometric mean is
the identity there). Before any draw, the metric
comes from the first gradient alone: sigma_i^2 = 1 / |g_i| (nutpie's start).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from spiking_mcmc import metric as metrics
from spiking_mcmc.metric import Metric
from spiking_mcmc.warmup import welford

MIN_VARIANCE, MAX_VARIANCE = 1e-20, 1e20


def _clip(variances):
    finfo = jnp.finfo(jnp.result_type(variances))
    low = max(MIN_VARIANCE, float(finfo.tiny) ** 0.5)
    high = min(MAX_VARIANCE, float(finfo.max) ** 0.5)
    return jnp.clip(jnp.where(jnp.isfinite(variances), variances, 1.0), low, high)


def from_gradient(grads, dense: bool) -> Metric:
    """sigma_i^2 = 1 / mean_c |g_ci| from the chains' first gradients (C, d)."""
    variances = _clip(1.0 / jnp.mean(jnp.abs(grads), axis=0))
    if dense:
        return metrics.from_covariance(jnp.diag(variances))
    return metrics.Metric(jnp.sqrt(variances))


def diagonal_variances(var_x, var_g):
    """sqrt(Var(x) / Var(g)), clipped to a finite positive range."""
    return _clip(jnp.sqrt(var_x / var_g))


def geometric_mean(a, b):
    """A # B^-1 = L (L^T B L)^-1/2 L^T for symmetric positive definite A = L L^T and B.

    The geometric mean is congruence-invariant, (X A X^T) # (X C X^T) = X (A # C) X^T, so with
    X = L^-1 it is L (I # L^-1 B^-1 L^-T) L^T: one Cholesky factor and one eigendecomposition.
    """
    factor = jnp.linalg.cholesky(a)
    values, vectors = jnp.linalg.eigh(factor.T @ b @ factor)
    values = jnp.maximum(values, jnp.finfo(values.dtype).tiny)
    inverse_root = (vectors / jnp.sqrt(values)) @ vectors.T
    return factor @ inverse_root @ factor.T


def _shrunk(covariance, n):
    """n / (n + 5) C + 1e-3 5 / (n + 5) I: Stan's regularisation, in the scaled coordinates
    (where a well-learned C is near I: directions the draws have not explored fall back to
    the diagonal estimate)."""
    eye = jnp.eye(covariance.shape[-1], dtype=covariance.dtype)
    return (n / (n + 5.0)) * covariance + 1e-3 * (5.0 / (n + 5.0)) * eye


def estimate(
    positions: welford.WelfordState,
    grads: welford.WelfordState,
    dense: bool,
    mask=None,
    previous: Metric | None = None,
):
    """The Fisher metric of the draws and gradients summed in ``positions`` and ``grads``
    (diagonal or dense; ``mask`` keeps the entries of a block structure). A coordinate the
    draws did not move along (a spike-coding network moves a few directions at a time) carries
    no information: it keeps its ``previous`` variance instead of collapsing to zero, which
    would stop the network from ever moving it again. A dense estimate that is not positive
    definite in floating point falls back to the diagonal one."""
    var_x = _diagonal(welford.covariance(positions, regularize=False))
    var_g = _diagonal(welford.covariance(grads, regularize=False))
    variances = diagonal_variances(var_x, var_g)
    if previous is not None:
        previous_variances = _diagonal(previous.covariance())
        informed = (var_x > 0) & (var_g > 0)
        variances = jnp.where(informed, variances, previous_variances)
    diagonal = metrics.Metric(jnp.sqrt(variances))
    if not dense:
        return diagonal
    scale = jnp.sqrt(variances)
    n = welford.num_draws(positions).astype(scale.dtype)
    cov_x = welford.covariance(positions, regularize=False) / jnp.outer(scale, scale)
    cov_g = welford.covariance(grads, regularize=False) * jnp.outer(scale, scale)
    if mask is not None:
        cov_x, cov_g = cov_x * mask, cov_g * mask
    middle = geometric_mean(_shrunk(cov_x, n), _shrunk(cov_g, n))
    covariance = scale[:, None] * middle * scale[None, :]
    candidate = metrics.from_covariance(0.5 * (covariance + covariance.T))
    fallback = metrics.from_covariance(jnp.diag(variances))
    ok = jnp.all(jnp.isfinite(candidate.factor)) & jnp.all(jnp.diagonal(candidate.factor) > 0)
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), candidate, fallback)


def _diagonal(covariance):
    return covariance if covariance.ndim == 1 else jnp.diagonal(covariance)


def has_signal(positions: welford.WelfordState) -> jax.Array:
    """At least three draws pooled: enough for a variance."""
    return welford.num_draws(positions) >= 3
