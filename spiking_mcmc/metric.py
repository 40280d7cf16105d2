"""The metric: the posterior covariance the network has learned, and its square root.

    Sigma = L L^T     (the decoders are columns of L; NumPyro's inverse mass matrix is Sigma)
    colour(y) = L y,   whiten(x) = L^-1 x,   whiten_gradient(g) = L^T g

Three shapes, one convention (L is the lower-triangular, or diagonal, or symmetric-times-
diagonal factor with L L^T = Sigma):

- diagonal:  Sigma = diag(s)^2,                        L = diag(s)
- dense:     Sigma = L L^T, L its lower Cholesky factor
- low rank:  Sigma = S (I + U diag(lambda - 1) U^T) S,  L = S (I + U diag(sqrt(lambda) - 1) U^T)
             S = diag(s), U (d x k) orthonormal columns: the k directions in which the posterior is
             wider or narrower than the diagonal says (Seyboldt, Carlson & Carpenter 2026).

The metric is a pytree (a NamedTuple whose unused fields are None), so it lives in the warmup
state, under ``vmap`` and ``jit``, and in pickled states.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular


class Metric(NamedTuple):
    """Sigma = L L^T. ``scale``: the diagonal s; ``factor``: dense L (else None); ``basis`` U
    and ``basis_scale`` sqrt(lambda): the low-rank correction (else None)."""

    scale: jax.Array
    factor: jax.Array | None = None
    basis: jax.Array | None = None
    basis_scale: jax.Array | None = None

    # -- shapes --------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        if self.factor is not None:
            return "dense"
        return "diagonal" if self.basis is None else "low_rank"

    @property
    def dim(self) -> int:
        return self.scale.shape[-1]

    # -- the three operations ------------------------------------------------------------------
    def colour(self, y):
        """L y: whitened coordinates (or a momentum) to the model's coordinates."""
        if self.factor is not None:
            return self.factor @ y
        if self.basis is not None:
            y = y + self.basis @ ((self.basis_scale - 1.0) * (self.basis.T @ y))
        return self.scale * y

    def whiten(self, x):
        """L^-1 x: the model's coordinates to whitened ones."""
        if self.factor is not None:
            return solve_triangular(self.factor, x, lower=True)
        y = x / self.scale
        if self.basis is not None:
            y = y + self.basis @ ((1.0 / self.basis_scale - 1.0) * (self.basis.T @ y))
        return y

    def whiten_gradient(self, g):
        """L^T g: a gradient (a force) in whitened coordinates."""
        if self.factor is not None:
            return g @ self.factor
        y = self.scale * g
        if self.basis is not None:
            y = y + self.basis @ ((self.basis_scale - 1.0) * (self.basis.T @ y))
        return y

    # -- as matrices ---------------------------------------------------------------------------
    def matrix(self):
        """L as a dense d x d matrix."""
        return jax.vmap(self.colour, in_axes=1, out_axes=1)(
            jnp.eye(self.dim, dtype=self.scale.dtype)
        )

    def covariance(self):
        """Sigma: a vector of variances for a diagonal metric, else a d x d matrix."""
        if self.kind == "diagonal":
            return self.scale**2
        factor = self.matrix()
        return factor @ factor.T

    def inverse_covariance(self):
        """Sigma^-1 (NumPyro's mass matrix): a vector for a diagonal metric, else a matrix."""
        if self.kind == "diagonal":
            return self.scale**-2
        inverse_factor = jax.vmap(self.whiten, in_axes=1, out_axes=1)(
            jnp.eye(self.dim, dtype=self.scale.dtype)
        )
        return inverse_factor.T @ inverse_factor


def identity(dim: int, dense: bool = False, dtype=None) -> Metric:
    """Sigma = I, stored diagonal or dense."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    if dense:
        return Metric(jnp.ones(dim, dtype), jnp.eye(dim, dtype=dtype))
    return Metric(jnp.ones(dim, dtype))


def from_covariance(covariance) -> Metric:
    """The metric of a covariance: a vector of variances (diagonal) or a d x d matrix (dense)."""
    covariance = jnp.asarray(covariance)
    if covariance.ndim == 1:
        return Metric(jnp.sqrt(covariance))
    factor = jnp.linalg.cholesky(covariance)
    return Metric(jnp.sqrt(jnp.diagonal(covariance)), factor)


def from_factor(factor) -> Metric:
    """The metric with square root L = ``factor``: a vector (diagonal) or a lower-triangular
    matrix."""
    factor = jnp.asarray(factor)
    if factor.ndim == 1:
        return Metric(factor)
    return Metric(jnp.sqrt(jnp.sum(factor * factor, axis=1)), factor)


def low_rank(scale, basis, eigenvalues) -> Metric:
    """Sigma = S (I + U diag(lambda - 1) U^T) S with S = diag(scale), U orthonormal (d x k)."""
    return Metric(jnp.asarray(scale), None, jnp.asarray(basis), jnp.sqrt(jnp.asarray(eigenvalues)))
