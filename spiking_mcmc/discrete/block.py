"""The discrete units beside the continuous network: one chain's transition alternates them.

    (v, c)  <- sweep of the units given x            (leaves p(v | x) q(c | v) invariant)
    l, g    <- l(x | v), grad_x l(x | v)              (the continuous chain's density is now new)
    x       <- continuous network's transition given v   (leaves p(x | v) invariant)

Why the joint chain is exact. The target of the extended chain is
pi(x, v, c) = p(x, v) q(c | v), q the refractory clocks' law (:mod:`spiking_mcmc.discrete.neuron`).
The sweep changes (v, c) with x fixed and leaves pi(v, c | x) invariant
(:mod:`spiking_mcmc.discrete.sweep`); the continuous transition changes x with (v, c) fixed
and leaves p(x | v) invariant (its Metropolis step uses l(x | v) = log p(x, v) up to a
constant), and q(c | v) does not involve x. Each of the two is therefore a Gibbs block update
of pi, and their composition (a systematic scan) keeps pi, hence p(x, v), invariant. Warmup
tunes only the continuous network (step size, decoders) and the continuous chain's log
density is re-evaluated after every sweep (one extra gradient per transition).

The sweep evaluates l at the units' current values afresh at its start (warmup may restart a
chain at another chain's position, whose stored l belongs to other units). A model with no
continuous sites has d = 0: only the units run (beside the kernel's still network).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from spiking_mcmc.discrete import neuron, sweep
from spiking_mcmc.discrete.layout import Layout
from spiking_mcmc.discrete.settings import DiscreteSettings
from spiking_mcmc.dynamics.base import PositionState


class DiscreteState(NamedTuple):
    """One chain's discrete units (C chains stacked on a leading axis in a batch).

    ``fired``, ``num_spikes``, ``changed`` and ``num_evals`` describe the last step; ask for
    them per draw with ``MCMC.run(..., extra_fields=("discrete.fired", ...))``.
    """

    values: jax.Array  # (m,) value index of each unit (site value = support[index])
    clocks: jax.Array  # (m,) refractory steps left (0: a silent binary neuron)
    fired: jax.Array  # (m,) bool: the unit fired in the last step (neuron = its new value's)
    num_spikes: jax.Array  # spikes of all units in the last step
    changed: jax.Array  # fraction of units whose value changed in the last step
    num_evals: jax.Array  # log density evaluations of the last step (values, no gradient)


class DiscreteBlock(NamedTuple):
    """Static description of the units: K_j per unit, which are binary, and the settings."""

    num_values: np.ndarray  # (m,) int
    binary: np.ndarray  # (m,) bool
    settings: DiscreteSettings

    @property
    def num_units(self) -> int:
        return int(self.num_values.shape[0])


def build(layout: Layout, settings: DiscreteSettings) -> DiscreteBlock:
    """The block of ``layout``'s units."""
    num_values = layout.num_values
    return DiscreteBlock(num_values, num_values == 2, settings)


def init(block: DiscreteBlock, values, key, dtype=jnp.float32) -> DiscreteState:
    """One chain's units at value indices ``values``, clocks drawn from q(c | v)."""
    values = jnp.asarray(values, jnp.int32)
    clocks = neuron.initial_clocks(
        key, values, jnp.asarray(block.binary), block.settings.refractory_steps
    )
    return DiscreteState(
        values,
        clocks,
        jnp.zeros(values.shape, bool),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), dtype),
        jnp.zeros((), jnp.int32),
    )


def start(discrete_start, settings, batch: bool):
    """(layout, block, (C, m) initial value indices) of a model's discrete units; Nones
    for a model without discrete sites."""
    if discrete_start is None:
        return None, None, None
    values = discrete_start.values if batch else discrete_start.values[None]
    return discrete_start.layout, build(discrete_start.layout, settings), values


def init_chains(block: DiscreteBlock | None, values, key, dtype) -> DiscreteState | None:
    """Every chain's units at ``values``, their clocks drawn from their stationary law."""
    if values is None:
        return None
    keys = jax.random.split(jax.random.fold_in(key, 16), values.shape[0])
    return jax.vmap(lambda v, k: init(block, v, k, dtype))(values, keys)


def given(logdensity_and_grad, values):
    """x -> (l(x | v), grad l(x | v)) from the joint (x, v) -> (l, grad_x l)."""
    return lambda position: logdensity_and_grad(position, values)


def step(key, units: DiscreteState, state: PositionState, logdensity_and_grad, block):
    """Sweep one chain's units given x, then re-evaluate the continuous chain's density."""
    rule = sweep.RULES[block.settings.update]
    position = state.position

    def log_density_fn(values):
        return logdensity_and_grad(position, values)[0]

    # l at the current values, evaluated afresh: the chain's stored l(x | v) need not belong to
    # these units (warmup may restart a chain at another chain's position)
    result = rule(
        key,
        units.values,
        units.clocks,
        log_density_fn(units.values),
        log_density_fn,
        block.num_values,
        block.binary,
        block.settings.refractory_steps,
    )
    if position.shape[-1] == 0:  # only discrete sites: l was carried through the sweep
        log_density, grad = result.log_density, state.grad_log_density
    else:
        log_density, grad = logdensity_and_grad(position, result.values)
    changed = jnp.mean((result.values != units.values).astype(units.changed.dtype))
    new_units = DiscreteState(
        result.values,
        result.clocks,
        result.fired,
        jnp.sum(result.fired).astype(jnp.int32),
        changed,
        result.num_evals + 1,  # and the fresh l at the sweep's start
    )
    return new_units, PositionState(position, log_density, grad)


def step_chains(
    keys, units: DiscreteState, states: PositionState, logdensity_and_grad, block, over
):
    """:func:`step` for every chain, ``over(fn, xs)`` mapping over the chain axis (``vmap``, or
    ``lax.map`` in batches, which cannot batch the empty positions of a model without
    continuous sites: those are rebuilt outside the map)."""
    if states.position.shape[-1] > 0:

        def one(key_units_state):
            key, chain_units, chain = key_units_state
            return step(key, chain_units, chain, logdensity_and_grad, block)

        return over(one, (keys, units, states))

    def one_discrete(key_units_density):
        key, chain_units, log_density = key_units_density
        empty = jnp.zeros((0,), log_density.dtype)
        chain = PositionState(empty, log_density, empty)
        new_units, new = step(key, chain_units, chain, logdensity_and_grad, block)
        return new_units, new.log_density

    units, log_density = over(one_discrete, (keys, units, states.log_density))
    return units, states._replace(log_density=log_density)


def combine(infos, units: DiscreteState, continuous: bool, step_ms: float):
    """The transition's info: the whole network's spikes (continuous + discrete units); with a
    continuous part, the gradient evaluated after the sweep; without one (d = 0, the still
    network), one step of the units (``num_steps`` 1, ``step_ms`` of biological time)."""
    infos = infos._replace(
        num_spikes=infos.num_spikes + units.num_spikes.astype(infos.num_spikes.dtype)
    )
    if continuous:
        return infos._replace(num_grad_evals=infos.num_grad_evals + 1)
    return infos._replace(
        num_steps=jnp.ones_like(infos.num_steps),
        biological_time_ms=jnp.full_like(infos.biological_time_ms, step_ms),
    )
