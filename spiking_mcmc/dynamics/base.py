"""What every network dynamics is and shares: the Dynamics protocol, the chain's position, the
per-transition information, and the Metropolis-Hastings step.

    transition(key, state, logdensity_and_grad, params, shared_key) -> (state', info)

A dynamics is a pure function of a key, a :class:`PositionState` (x, l(x), g(x)), the log
density and its gradient, and the network's parameters (a pytree built from the settings, the
step size and the :class:`~spiking_mcmc.metric.Metric` by ``build``). ``shared_key``, when not
None, is a key that every chain receives alike, for the draws that do not depend on the state
(a jittered step, an integration time): chains that share it stay in lock-step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from spiking_mcmc.settings import Settings


class PositionState(NamedTuple):
    """A point x of the unconstrained space with l(x) = log density and g(x) = its gradient."""

    position: jax.Array
    log_density: jax.Array
    grad_log_density: jax.Array


class TransitionInfo(NamedTuple):
    """What one transition reports; a dynamics' info starts with these fields."""

    accept_prob: jax.Array  # min(1, Metropolis-Hastings ratio); 1 where there is no MH step
    is_accepted: jax.Array
    diverging: jax.Array  # the proposal's density or gradient was not finite
    num_spikes: jax.Array  # spikes emitted by the whole population in this transition
    num_grad_evals: jax.Array
    num_steps: jax.Array  # integration steps (1 for one window of the Poisson network)
    biological_time_ms: jax.Array  # duration of this transition in the network's time
    spike_counts: jax.Array  # (2, P): ON (row 0) and OFF (row 1) spikes of the P neuron pairs
    proposal_moved: jax.Array  # the proposal differs from the state (False: a null move)


class TunerPhase(NamedTuple):
    """Where warmup is, for a dynamics' tuner (booleans, traced)."""

    t: jax.Array  # the warmup transition
    learn: jax.Array  # take a learning step
    restart: jax.Array  # start learning again from the initial value
    final: jax.Array  # the last warmup transition: fix the final value


@dataclasses.dataclass(frozen=True)
class Tuner:
    """Warmup of a dynamics' own parameters (e.g. the trajectory length) over a batch of chains.

    init(positions (C, d), settings) -> state, or None when the settings tune nothing
    update(state, phase, positions (C, d), infos (C, ...), settings) -> state
    apply(params, state) -> params
    ``phase`` (:class:`TunerPhase`) says whether to learn now, to start again (the metric has
    settled into a new window), or to fix the final value (the last warmup transition).
    With per-chain warmup the batch is one chain (C = 1) under ``vmap``; with cross-chain
    warmup it is every chain, and the update pools their signals.
    """

    init: Callable
    update: Callable
    apply: Callable


@dataclasses.dataclass(frozen=True)
class Dynamics:
    """The protocol a network dynamics meets (the registry checks it when it registers).

    name: what ``SpikingKernel(dynamics=...)`` calls it.
    settings: a frozen dataclass of its settings, validated when constructed.
    build(settings, metric, step_size) -> params: the network (decoders, rates, ...) as a pytree.
    transition(key, PositionState, logdensity_and_grad, params, shared_key) -> (state, info).
    info: the NamedTuple type of its info; its fields begin with :class:`TransitionInfo`'s.
    target_accept_prob: what step-size adaptation aims at (ignored when ``exact`` is False).
    exact: whether a Metropolis step makes the chain exact.
    tuner: optional warmup of the dynamics' own parameters.
    network: optional params -> :class:`~spiking_mcmc.network.Network` (decoders and rates).
    """

    name: str
    settings: type
    build: Callable
    transition: Callable
    info: type
    target_accept_prob: float
    exact: bool = True
    tuner: Tuner | None = None
    network: Callable[[Any], Any] | None = None


class InexactChainWarning(UserWarning):
    """A dynamics without a Metropolis step: its draws are biased."""


def still_transition(key, state: PositionState, logdensity_and_grad, params, shared_key=None):
    """A network with no neurons (a model with nothing to sample): the state stays."""
    zero = jnp.zeros((), jnp.int32)
    dtype = jnp.result_type(state.log_density)
    info = TransitionInfo(
        accept_prob=jnp.ones((), dtype),
        is_accepted=jnp.ones((), bool),
        diverging=jnp.zeros((), bool),
        num_spikes=zero,
        num_grad_evals=zero,
        num_steps=zero,
        biological_time_ms=jnp.zeros((), dtype),
        spike_counts=jnp.zeros((2, 0), jnp.int32),
        proposal_moved=jnp.zeros((), bool),
    )
    return state, info


def is_finite_state(log_density, grad_log_density):
    """True where l(x) and every component of g(x) are finite (NaN and +-inf are not)."""
    return jnp.isfinite(log_density) & jnp.all(jnp.isfinite(grad_log_density))


def metropolis_hastings(key, log_accept_ratio, finite):
    """Accept with probability min(1, exp(log_accept_ratio)); a non-finite proposal never."""
    log_accept_ratio = jnp.where(finite & ~jnp.isnan(log_accept_ratio), log_accept_ratio, -jnp.inf)
    accept_prob = jnp.exp(jnp.minimum(log_accept_ratio, 0.0))
    log_uniform = jnp.log(jax.random.uniform(key, dtype=jnp.result_type(accept_prob)))
    return accept_prob, log_uniform < log_accept_ratio


def select_state(accept, proposal: PositionState, current: PositionState) -> PositionState:
    """``proposal`` where ``accept`` else ``current`` (leaf by leaf)."""
    return jax.tree.map(lambda new, old: jnp.where(accept, new, old), proposal, current)


def draw_keys(key, shared_key, num):
    """``num`` keys for the state-independent draws: from ``shared_key`` when chains share
    them, else from the chain's own ``key``."""
    return jax.random.split(key if shared_key is None else shared_key, num)


@dataclasses.dataclass(frozen=True)
class StillSettings(Settings):
    """A network with no neurons has no settings."""


# the dynamics of a model whose unconstrained space has no dimension (only observed or
# deterministic sites, or a Dirichlet of one category): nothing moves, as for NUTS
STILL = Dynamics(
    name="still",
    settings=StillSettings,
    build=lambda settings, metric, step_size: None,
    transition=still_transition,
    info=TransitionInfo,
    target_accept_prob=0.5,
)
