"""The state NumPyro sees, and its conversion to and from the sampler core's.

    SpikingState (one chain, or C chains stacked: what MCMC stores, pickles and resumes from)
        <->  SamplerState (C chains of flat positions; the core's)

NumPyro keeps positions as dicts of sites and the potential energy -log p; the core keeps flat
positions with l(x) = log p and its gradient. A single chain (sequential or parallel chains)
is a batch of one for the core.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from spiking_mcmc.dynamics.base import PositionState
from spiking_mcmc.health import FROZEN, Health
from spiking_mcmc.sampler import SamplerState
from spiking_mcmc.warmup import WarmupState


class SpikingState(NamedTuple):
    """State of one chain, or of C chains stacked on a leading axis (a plain pytree: it
    pickles, and a run resumes from it)."""

    i: jax.Array  # transitions made so far, warmup included
    z: Any  # position in unconstrained space (dict of sites, as NumPyro's HMC)
    potential_energy: jax.Array  # -log p(z)
    z_grad: Any  # gradient of the potential energy (dict, as NumPyro's HMC)
    accept_prob: jax.Array
    mean_accept_prob: jax.Array  # running mean; restarts when sampling begins
    num_spikes: jax.Array  # spikes in the last transition (whole population)
    num_grad_evals: jax.Array  # gradient evaluations of the last transition
    num_steps: jax.Array  # integration steps of the last transition
    diverging: jax.Array  # the last proposal's density or gradient was not finite
    biological_time_ms: jax.Array  # duration of the last transition in network time
    frozen: jax.Array  # no move, or a collapsed step size, for 50 transitions (health.py)
    adapt_state: WarmupState  # step size, metric (decoders), warmup statistics, tuning
    rng_key: jax.Array
    health: Health  # transitions without moving, far out, best state, chain number
    # discrete units: DiscreteState (values, refractory clocks, last spikes) or None;
    # z then also holds the discrete sites' values
    discrete: Any = None


FIELDS = (
    "z",
    "potential_energy",
    "accept_prob",
    "num_spikes",
    "num_grad_evals",
    "num_steps",
    "diverging",
    "biological_time_ms",
    "frozen",
)


def is_batch(state: SpikingState) -> bool:
    """Whether ``state`` holds C chains on a leading axis."""
    return jnp.ndim(state.i) == 1


def as_batch(state: SpikingState, shared_warmup: bool) -> SpikingState:
    """A single chain as a batch of one (a shared warmup state has no chain axis)."""
    if is_batch(state):
        return state
    expanded = jax.tree.map(lambda x: x[None], state._replace(adapt_state=None))
    warmup = (
        state.adapt_state if shared_warmup else jax.tree.map(lambda x: x[None], state.adapt_state)
    )
    return expanded._replace(adapt_state=warmup)


def as_single(state: SpikingState, shared_warmup: bool) -> SpikingState:
    """The inverse of :func:`as_batch` for a batch of one."""
    single = jax.tree.map(lambda x: x[0], state._replace(adapt_state=None))
    warmup = state.adapt_state if shared_warmup else jax.tree.map(lambda x: x[0], state.adapt_state)
    return single._replace(adapt_state=warmup)


def continuous_sites(z, z_grad):
    """The sites of ``z`` that have a gradient (all of them, unless there are discrete sites)."""
    if isinstance(z, dict) and isinstance(z_grad, dict) and len(z) != len(z_grad):
        return {name: z[name] for name in z_grad}
    return z


def positions(state: SpikingState) -> PositionState:
    """The flat (C, d) PositionState of a batch."""
    num_chains = state.i.shape[0]
    flat = jax.vmap(lambda z: ravel_pytree(z)[0], axis_size=num_chains)
    z = continuous_sites(state.z, state.z_grad)
    return PositionState(flat(z), -state.potential_energy, -flat(state.z_grad))


def to_sampler(state: SpikingState) -> SamplerState:
    """The core's view of a batch."""
    return SamplerState(
        positions(state), state.adapt_state, state.i[0], state.health, state.discrete
    )


def with_discrete(z, sampler_state: SamplerState, decode):
    """z with the discrete sites' values decoded from the units' value indices."""
    if sampler_state.discrete is None:
        return z
    return {**z, **jax.vmap(decode)(sampler_state.discrete.values)}


def from_sampler(
    sampler_state: SamplerState, infos, keys, unravel, mean_accept_prob, num_warmup, decode=None
) -> SpikingState:
    """A batch after a transition with ``infos``; ``mean_accept_prob`` is the running mean
    before it (it restarts when sampling begins); ``decode``: the discrete units' value
    indices -> the discrete sites' values."""
    states = sampler_state.states
    i = sampler_state.iteration
    count = jnp.where(i <= num_warmup, i, i - num_warmup).astype(infos.accept_prob.dtype)
    num_chains = states.position.shape[0]
    return SpikingState(
        i=jnp.full((num_chains,), i),
        z=with_discrete(jax.vmap(unravel)(states.position), sampler_state, decode),
        potential_energy=-states.log_density,
        z_grad=jax.vmap(unravel)(-states.grad_log_density),
        accept_prob=infos.accept_prob,
        mean_accept_prob=mean_accept_prob + (infos.accept_prob - mean_accept_prob) / count,
        num_spikes=infos.num_spikes.astype(jnp.int32),
        num_grad_evals=infos.num_grad_evals.astype(jnp.int32),
        num_steps=infos.num_steps.astype(jnp.int32),
        diverging=infos.diverging,
        biological_time_ms=infos.biological_time_ms,
        frozen=(sampler_state.health.still >= FROZEN) | (sampler_state.health.tiny >= FROZEN),
        adapt_state=sampler_state.warmup,
        rng_key=keys,
        health=sampler_state.health,
        discrete=sampler_state.discrete,
    )


def initial(sampler_state: SamplerState, unravel, keys, decode=None) -> SpikingState:
    """The batch before any transition."""
    states = sampler_state.states
    dtype = states.log_density.dtype
    num_chains = states.position.shape[0]
    zeros = jnp.zeros((num_chains,), jnp.int32)
    return SpikingState(
        i=zeros,
        z=with_discrete(jax.vmap(unravel)(states.position), sampler_state, decode),
        potential_energy=-states.log_density,
        z_grad=jax.vmap(unravel)(-states.grad_log_density),
        accept_prob=jnp.zeros((num_chains,), dtype),
        mean_accept_prob=jnp.zeros((num_chains,), dtype),
        num_spikes=zeros,
        num_grad_evals=zeros,
        num_steps=zeros,
        diverging=jnp.zeros((num_chains,), bool),
        biological_time_ms=jnp.zeros((num_chains,), dtype),
        frozen=jnp.zeros((num_chains,), bool),
        adapt_state=sampler_state.warmup,
        rng_key=keys,
        health=sampler_state.health,
        discrete=sampler_state.discrete,
    )


def chain(state: SpikingState, index: int = 0) -> SpikingState:
    """Chain ``index`` of a batch (a shared warmup state is kept as it is)."""
    if not is_batch(state):
        return state
    shared = jnp.ndim(state.adapt_state.step_size) == 0
    pick = jax.tree.map(lambda x: x[index], state._replace(adapt_state=None))
    warmup = state.adapt_state if shared else jax.tree.map(lambda x: x[index], state.adapt_state)
    return pick._replace(adapt_state=warmup)


def refresh(state: SpikingState, potential_fn, forward_mode: bool = False) -> SpikingState:
    """The potential energy and its gradient at the state's position under ``potential_fn``
    (one chain or a batch); with discrete units, ``potential_fn(z, v)`` is U(z | v)."""
    from spiking_mcmc.initialization import value_and_grad

    evaluate = value_and_grad(potential_fn, forward_mode)
    if is_batch(state):
        evaluate = jax.vmap(evaluate)
    units = () if state.discrete is None else (state.discrete.values,)
    potential_energy, z_grad = evaluate(continuous_sites(state.z, state.z_grad), *units)
    return state._replace(potential_energy=potential_energy, z_grad=z_grad)
