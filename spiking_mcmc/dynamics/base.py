"""What every dynamics shares: the position state and the per-transition information."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class PositionState(NamedTuple):
    """A point x of the unconstrained space with l(x) = log density and g(x) = its gradient."""

    position: jax.Array
    log_density: jax.Array
    grad_log_density: jax.Array


class TransitionInfo(NamedTuple):
    """What one transition reports (every dynamics fills these fields)."""

    accept_prob: jax.Array  # min(1, Metropolis-Hastings ratio); 1 where there is no MH step
    is_accepted: jax.Array
    diverging: jax.Array  # the proposal's density or gradient was not finite
    num_spikes: jax.Array  # spikes emitted by the whole population in this transition
    num_grad_evals: jax.Array
    num_steps: jax.Array  # integration steps (1 for one window of the Poisson network)
    biological_time_ms: jax.Array  # duration of this transition in the network's time
    spike_counts: jax.Array  # (2, P) spike counts of the ON and OFF neurons in this transition


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
