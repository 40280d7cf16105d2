"""Structured metrics by site, as NumPyro's NUTS takes them: ``dense_mass`` and
``inverse_mass_matrix`` by blocks of sites.

    dense_mass=True            one dense block of every site
    dense_mass=[("a",), ("b", "c")]   dense blocks; every other site diagonal
    inverse_mass_matrix={("x",): Sigma_x, ...}   the initial covariance, block by block

The flat position is ``ravel_pytree`` of the sites, in sorted name order. A block structure is
a mask on the covariance: entries between two sites of one dense block, and the diagonal, are
kept; the rest are zero. The metric is then the Cholesky factor of the masked covariance,
block-diagonal like it. :class:`MassLayout` maps flat indices back to blocks so that the warmup
state reads as NUTS's does (``adapt_state.inverse_mass_matrix`` a dict by site tuples).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from numpyro.distributions.util import cholesky_of_inverse


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class MassLayout:
    """Blocks of sites: ``blocks`` ((site names, dense), ...); ``sites`` (name, start, size)
    in flat (sorted) order."""

    blocks: tuple
    sites: tuple

    @property
    def dim(self) -> int:
        return sum(size for _, _, size in self.sites)

    @property
    def any_dense(self) -> bool:
        return any(dense for _, dense in self.blocks)

    def indices(self, names) -> np.ndarray:
        """Flat indices of the sites ``names``, in the block's order."""
        where = {name: (start, size) for name, start, size in self.sites}
        return np.concatenate(
            [np.arange(where[n][0], where[n][0] + where[n][1]) for n in names] or [np.zeros(0, int)]
        ).astype(int)

    def mask(self) -> np.ndarray:
        """(d, d) 0/1: the covariance entries the structure keeps."""
        keep = np.eye(self.dim)
        for names, dense in self.blocks:
            if dense:
                index = self.indices(names)
                keep[np.ix_(index, index)] = 1.0
        return keep

    def split(self, covariance) -> dict:
        """{site tuple: block covariance (matrix if dense, else vector)} of a flat covariance."""
        full = covariance if jnp.ndim(covariance) == 2 else jnp.diag(covariance)
        out = {}
        for names, dense in self.blocks:
            index = self.indices(names)
            block = full[jnp.ix_(index, index)]
            out[names] = block if dense else jnp.diagonal(block)
        return out

    def join(self, blocks: dict, dtype):
        """The flat covariance of ``{site tuple: block}`` (ones where a site has no block)."""
        full = np.eye(self.dim)
        for names, value in blocks.items():
            index = self.indices(tuple(names))
            value = np.asarray(value, dtype=float)
            full[np.ix_(index, index)] = value if value.ndim == 2 else np.diag(value)
        full = jnp.asarray(full, dtype)
        return full if self.any_dense else jnp.diagonal(full)


DENSE_UP_TO = 200  # dense_mass=None: a dense metric up to this many dimensions


def structure(dense_mass, dim: int):
    """The metric structure asked for: ``dense_mass`` itself, or for None a dense metric up
    to 200 dimensions (learning it from gradients takes few draws, and its O(d^2) cost per
    step is small beside a gradient there), a diagonal one beyond."""
    return dim <= DENSE_UP_TO if dense_mass is None else dense_mass


def layout(z: dict, dense_mass, inverse_mass_matrix=None) -> MassLayout:
    """NumPyro's block structure for sites ``z`` (one chain's dict of unconstrained values)."""
    names = sorted(z)
    sites, start = [], 0
    for name in names:
        size = int(np.size(z[name]))
        sites.append((name, start, size))
        start += size
    if isinstance(dense_mass, bool):
        dense_blocks = [tuple(names)] if dense_mass else []
    else:
        dense_blocks = [tuple(block) for block in dense_mass]
    blocks = [(block, True) for block in dense_blocks]
    if isinstance(inverse_mass_matrix, dict):
        blocks += [(tuple(k), False) for k in inverse_mass_matrix if tuple(k) not in dense_blocks]
    owned = {name for block, _ in blocks for name in block}
    unknown = sorted(owned - set(names))
    if unknown:
        raise ValueError(
            f"dense_mass / inverse_mass_matrix name sites {unknown} that are not latent sites "
            f"of the model (its sites: {names})"
        )
    repeated = sorted(
        {n for block, _ in blocks for n in block if sum(n in b for b, _ in blocks) > 1}
    )
    if repeated:
        raise ValueError(f"sites {repeated} appear in more than one block of dense_mass")
    rest = tuple(name for name in names if name not in owned)
    if rest:
        blocks.append((rest, False))
    return MassLayout(tuple(blocks), tuple(sites))


def numpyro_sqrt(block):
    """NumPyro's (mass_matrix_sqrt, mass_matrix_sqrt_inv) of a block covariance."""
    if jnp.ndim(block) == 1:
        return 1.0 / jnp.sqrt(block), jnp.sqrt(block)
    sqrt = cholesky_of_inverse(block)
    identity = jnp.eye(block.shape[-1], dtype=block.dtype)
    return sqrt, solve_triangular(sqrt, identity, lower=True)
