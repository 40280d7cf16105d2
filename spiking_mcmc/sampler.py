"""The sampler core: a pure ``init`` / ``step`` over a batch of chains, in BlackJAX's shape.

    state' , infos = step(keys, state, logdensity_and_grad)
    (x_c, info_c) = transition(key_c, x_c, params(warmup)) for every chain c, then, while in
    warmup, warmup' = update(warmup, t, x, info)

A :class:`SamplerState` holds C chains (C = 1 for one chain), their warmup state (one per
chain, or one shared by all with cross-chain warmup) and the number of transitions made. The
network's parameters are rebuilt from the warmup state at every step (``dynamics.build`` from
the step size and the metric, then the dynamics' tuner), so nothing is cached between steps and
the state alone resumes a run. Nothing here knows NumPyro: the log density is a function of a
flat position, and the chains' positions are flat arrays.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from spiking_mcmc import health as health_
from spiking_mcmc import warmup as warmups
from spiking_mcmc.discrete import block as discrete_block
from spiking_mcmc.dynamics.base import Dynamics, PositionState
from spiking_mcmc.warmup import WarmupOptions, WarmupState

# The draws that chains share under cross-chain warmup (the jittered step and duration) come
# from fold_in(chain 0's transition key, SHARED_STREAM), a stream no chain draws from. Each
# dynamics draws its own per-chain variables from fold_in(key, 1) and its children, and jax's
# partitionable threefry makes split(k, n)[i] == fold_in(k, i): a shared key of fold_in(key, 1)
# made chain 0's trajectory duration the same bits as its first momentum, which broke
# reversibility (one chain of gaussian_ill_d100: 0.05-0.6 sd off in x[1]).
SHARED_STREAM = 1 << 20


class SamplerState(NamedTuple):
    """C chains: their positions (C, d), warmup state, the transitions made so far, and
    whether each chain still moves (:mod:`spiking_mcmc.health`)."""

    states: PositionState
    warmup: WarmupState
    iteration: jax.Array
    health: health_.Health
    # discrete units: (C, m) DiscreteState, or None for a model without discrete sites
    discrete: Any = None


class Sampler(NamedTuple):
    """init(states (C, d), logdensity_and_grad, key, step_size, metric, chain_ids, units=None)
    -> SamplerState (``states``: the chains' starting PositionState, e.g. ``jax.vmap(start)``);
    step(keys (C,), state, logdensity_and_grad) -> (SamplerState, infos (C, ...)).

    With discrete units (``build(..., discrete=block)``) ``logdensity_and_grad`` is the joint
    (x, v) -> (l(x, v), grad_x l) and ``units`` their (C, m) initial DiscreteState."""

    init: callable
    step: callable


def start(logdensity_and_grad, position) -> PositionState:
    """The PositionState at ``position``: (x, l(x), g(x))."""
    log_density, grad = logdensity_and_grad(position)
    return PositionState(position, log_density, grad)


def network_params(dynamics: Dynamics, settings, warmup_state: WarmupState):
    """The network the warmup state describes: ``dynamics.build`` then its tuner."""
    params = dynamics.build(settings, warmup_state.metric, warmup_state.step_size)
    if dynamics.tuner is not None and warmup_state.tuning is not None:
        params = dynamics.tuner.apply(params, warmup_state.tuning)
    return params


def over_chains(fn, xs, batch_size=None):
    """``fn`` over the leading (chain) axis: ``vmap``, or ``lax.map`` ``batch_size`` at a time
    (the same draws; less working memory)."""
    if batch_size is None or any(jnp.size(x) == 0 for x in jax.tree.leaves(xs)):
        return jax.vmap(fn)(xs)  # (lax.map cannot batch zero-size leaves: d = 0, no neurons)
    return lax.map(fn, xs, batch_size=batch_size)


def build(
    dynamics: Dynamics,
    settings,
    options: WarmupOptions,
    chain_batch_size=None,
    chain_offset=None,
    discrete=None,
) -> Sampler:
    """The sampler of ``dynamics`` with its ``settings``, warmed up as ``options`` say.
    ``chain_offset() -> int`` (read when a warning is issued, not traced) is added to the
    chains' indices in the batch to name them in warnings (sequential chains: their number);
    ``discrete``: the :class:`~spiking_mcmc.discrete.block.DiscreteBlock` of a model's discrete
    units, which alternate with the continuous network."""
    warmup_init, warmup_update = warmups.build(options, dynamics.tuner, settings)
    pooled = options.pooled

    def chain_density(logdensity_and_grad, chain_units):
        """The density a chain's continuous network sees: l(x), or l(x | v) with units."""
        if chain_units is None:
            return logdensity_and_grad
        return discrete_block.given(logdensity_and_grad, chain_units.values)

    def probe(logdensity_and_grad, units=None):
        if units is not None and not pooled:
            # per-chain warmup probes one chain without its units: no heuristic search
            return None

        def accept_probs(step_size, metric, key, states):
            params = dynamics.build(settings, metric, step_size)
            keys = jax.random.split(key, states.position.shape[0])
            _, infos = jax.vmap(
                lambda k, s, u: dynamics.transition(
                    k, s, chain_density(logdensity_and_grad, u), params
                )
            )(keys, states, units)
            return infos.accept_prob

        return accept_probs

    def init(
        states, logdensity_and_grad, key, step_size, metric, chain_ids, units=None
    ) -> SamplerState:
        keys = key if pooled else jax.random.split(key, states.position.shape[0])
        warmup_state = warmup_init(
            states, step_size, metric, keys, probe(logdensity_and_grad, units)
        )
        health = health_.init(states, chain_ids)
        return SamplerState(states, warmup_state, jnp.zeros((), jnp.int32), health, units)

    def heal(states, warmup_state, health, sick):
        """Restart the sick chains: from the healthiest chain when there is one (its position,
        and its network under per-chain warmup), else from their own best state."""
        donor = health_.donors(health, states, sick)
        from_donor = sick & (donor != jnp.arange(sick.shape[0]))
        from_best = sick & ~from_donor
        own = warmups.restart(warmup_state, from_best, pooled)
        if not pooled:
            copied = health_.take(warmup_state, donor)
            own = _select(from_donor, copied, own)
        states = _select(from_donor, health_.take(states, donor), states)
        states = _select(from_best, health.best, states)
        zeros = jnp.zeros_like(health.still)
        health = health._replace(
            still=jnp.where(sick, zeros, health.still),
            tiny=jnp.where(sick, zeros, health.tiny),
            outside=jnp.where(sick, zeros, health.outside),
        )
        return states, own, health

    def look_after(before, state: SamplerState, states, warmup_state):
        """Count still and far-out transitions; in warmup, heal; at its end, name the frozen."""
        step_size = warmup_state.step_size if options.adapt_step_size else None
        health = health_.observe(state.health, before, states, step_size)
        if options.num_warmup == 0:
            return states, warmup_state, health
        t = state.iteration
        last_chance = t == options.num_warmup - 2  # the last transition that may heal
        sick = health_.needs_healing(health, final=last_chance) & (t < options.num_warmup - 1)
        states, warmup_state, health = lax.cond(
            jnp.any(sick),
            lambda args: heal(*args, sick),
            lambda args: args,
            (states, warmup_state, health),
        )
        frozen = health_.stuck(health)
        if step_size is not None:  # a step collapsed now is collapsed for the whole sampling
            frozen = frozen | jnp.broadcast_to(step_size < health_.TINY_STEP, frozen.shape)
        lax.cond(
            (t == options.num_warmup - 1) & jnp.any(frozen),
            lambda: jax.debug.callback(
                functools.partial(health_.warn_frozen, offset=chain_offset),
                health.chain_id,
                frozen,
            ),
            lambda: None,
        )
        return states, warmup_state, health

    def step(keys, state: SamplerState, logdensity_and_grad):
        split = jax.vmap(lambda k: jax.random.split(k, 2))(keys)
        keys_transition, keys_warmup = split[:, 0], split[:, 1]
        states, units = state.states, state.discrete
        if units is not None:  # discrete units: sweep them given x, then move x
            keys_units = jax.vmap(lambda k: jax.random.fold_in(k, 16))(keys_transition)
            units, states = discrete_block.step_chains(
                keys_units,
                units,
                states,
                logdensity_and_grad,
                discrete,
                lambda fn, xs: over_chains(fn, xs, chain_batch_size),
            )
        if pooled:
            params = network_params(dynamics, settings, state.warmup)
            shared_key = jax.random.fold_in(keys_transition[0], SHARED_STREAM)

            def move(key_state_units):
                key, chain, chain_units = key_state_units
                density = chain_density(logdensity_and_grad, chain_units)
                return dynamics.transition(key, chain, density, params, shared_key)

            states, infos = over_chains(move, (keys_transition, states, units), chain_batch_size)
        else:

            def move(key_state_warmup_units):
                key, chain, chain_warmup, chain_units = key_state_warmup_units
                params = network_params(dynamics, settings, chain_warmup)
                density = chain_density(logdensity_and_grad, chain_units)
                return dynamics.transition(key, chain, density, params)

            states, infos = over_chains(
                move, (keys_transition, states, state.warmup, units), chain_batch_size
            )
        warmup_state = state.warmup
        if options.num_warmup > 0:
            key_warmup = keys_warmup[0] if pooled else keys_warmup
            warmup_state = lax.cond(
                state.iteration < options.num_warmup,
                lambda w: warmup_update(
                    w,
                    state.iteration,
                    states,
                    infos,
                    key_warmup,
                    probe(logdensity_and_grad, units),
                ),
                lambda w: w,
                warmup_state,
            )
        states, warmup_state, health = look_after(state.states, state, states, warmup_state)
        if units is not None:
            continuous = states.position.shape[-1] > 0
            infos = discrete_block.combine(infos, units, continuous, discrete.settings.step_ms)
            if not continuous:  # only discrete sites: a chain moves when its units change
                health = health._replace(still=jnp.where(units.changed > 0, 0, health.still))
        return SamplerState(states, warmup_state, state.iteration + 1, health, units), infos

    return Sampler(init, step)


def _select(mask, new, old):
    """Per chain (leading axis): ``new`` where ``mask`` else ``old``."""

    def pick(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, new, old)
