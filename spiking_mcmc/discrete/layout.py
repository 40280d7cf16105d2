"""The discrete sites of a model as a flat vector of units, and back.

    unit j = one element of a discrete site (one batch element: a plate entry), with K_j values
    value index v_j in {0, ..., K_j - 1} picks the value support[v_j] (``enumerate_support``)
    values (m,) int  <->  {site: array of the site's values}     (``decode`` / ``encode``)

A unit with K_j = 2 values (Bernoulli, Categorical over two, Binomial with one trial) is one
neuron; a unit with K_j >= 3 values is a winner-take-all group of K_j neurons, neuron k coding
value k (:mod:`spiking_mcmc.discrete.units`). The layout is static: it is built once from a
traced model (numpy arrays), and ``decode`` is a pure jax function of the value indices.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


class Site(NamedTuple):
    """One discrete site: its name, the shape of its value, its event rank, and its support
    broadcast to (K, *shape) (``support[k]`` is the site's value when every unit takes value k)."""

    name: str
    shape: tuple
    event_ndim: int
    support: np.ndarray

    @property
    def num_values(self) -> int:
        return self.support.shape[0]

    @property
    def batch_shape(self) -> tuple:
        return self.shape[: len(self.shape) - self.event_ndim]

    @property
    def num_units(self) -> int:
        return int(np.prod(self.batch_shape, dtype=int))


class Layout(NamedTuple):
    """The discrete sites in order and the flat vector of their units."""

    sites: tuple  # of Site

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def names(self) -> tuple:
        return tuple(site.name for site in self.sites)

    @property
    def num_units(self) -> int:
        return sum(site.num_units for site in self.sites)

    @property
    def num_values(self) -> np.ndarray:
        """(m,) K_j, the number of values of each unit."""
        return np.concatenate(
            [np.full(site.num_units, site.num_values, np.int32) for site in self.sites]
        )

    @property
    def max_values(self) -> int:
        return int(self.num_values.max())

    @property
    def neurons_per_unit(self) -> np.ndarray:
        """(m,) one neuron for a two-valued unit, K_j neurons for a winner-take-all group."""
        k = self.num_values
        return np.where(k == 2, 1, k).astype(np.int32)

    @property
    def num_neurons(self) -> int:
        return int(self.neurons_per_unit.sum())

    @property
    def unit_names(self) -> list:
        """``site[i, j]`` for every unit, in order (0-based indices, as NumPyro's arrays)."""
        names = []
        for site in self.sites:
            for index in np.ndindex(*site.batch_shape):
                names.append(site.name + (str(list(index)) if index else ""))
        return names

    # -- values ---------------------------------------------------------------------------------
    def decode(self, values) -> dict:
        """(m,) value indices -> {site: value} (jax; traced indices allowed)."""
        out, start = {}, 0
        for site in self.sites:
            stop = start + site.num_units
            index = jnp.reshape(values[start:stop], (1, *site.batch_shape) + (1,) * site.event_ndim)
            index = jnp.broadcast_to(index, (1, *site.shape))
            out[site.name] = jnp.take_along_axis(jnp.asarray(site.support), index, axis=0)[0]
            start = stop
        return out

    def encode(self, site_values: dict):
        """{site: value} -> (m,) int32 value indices; a value outside the support is an error."""
        parts = []
        for site in self.sites:
            value = jnp.broadcast_to(jnp.asarray(site_values[site.name]), site.shape)
            equal = jnp.asarray(site.support) == value[None]
            if site.event_ndim:
                equal = jnp.all(equal, axis=tuple(range(-site.event_ndim, 0)))
            parts.append(jnp.reshape(jnp.argmax(equal, axis=0), (-1,)).astype(jnp.int32))
        if not parts:
            return jnp.zeros((0,), jnp.int32)
        return jnp.concatenate(parts)

    def contains(self, site_values: dict):
        """Whether every value lies in its site's support (jax bool)."""
        ok = jnp.asarray(True)
        for site in self.sites:
            value = jnp.broadcast_to(jnp.asarray(site_values[site.name]), site.shape)
            equal = jnp.asarray(site.support) == value[None]
            if site.event_ndim:
                equal = jnp.all(equal, axis=tuple(range(-site.event_ndim, 0)))
            ok = ok & jnp.all(jnp.any(equal, axis=0))
        return ok


def elementary(fn):
    """The distribution of one element: ``Independent`` (``.to_event``) only declares batch
    dimensions to be event dimensions, so its elements are still separate units."""
    from numpyro.distributions import Independent

    while isinstance(fn, Independent):
        fn = fn.base_dist
    return fn


def site_of(name: str, site: dict) -> Site:
    """The :class:`Site` of a traced NumPyro sample site with finite (enumerable) support."""
    fn = elementary(site["fn"])
    value = np.asarray(site["value"])
    support = np.asarray(fn.enumerate_support(expand=False))
    support = np.broadcast_to(support, (support.shape[0], *value.shape)).astype(value.dtype)
    return Site(name, tuple(value.shape), int(fn.event_dim), np.array(support))


def from_trace(trace: dict, names) -> Layout:
    """The layout of the sites ``names`` (in that order) of a NumPyro trace."""
    return Layout(tuple(site_of(name, trace[name]) for name in names))
