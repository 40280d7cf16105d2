"""One time step of all discrete units: one at a time in a random order (exact), or all at once
from the same membrane potentials (the synchronous rule: NOT exact, a negative control).

    sequential:   sigma ~ uniform permutation;  for i = 1..m: unit sigma(i) steps given the
                  current values of all others (its potentials see every earlier update)
    synchronous:  every unit's potentials from the values at the start; all step together

Why one at a time. Each unit's step T_j (:mod:`spiking_mcmc.discrete.neuron`) leaves the joint
target pi(v, c | x) = p(v | x) prod_j q(c_j | v_j) invariant *given the other units' values*:
its potential is the conditional log-odds at those values. A composition of invariant kernels
is invariant, so the sweep T_sigma(m) ... T_sigma(1) is, and so is its mixture over
permutations drawn independently of the state. This is Buesing et al.'s (2011) discrete-time
construction, in which neurons update in turn; in their continuous-time network two spikes
never coincide, which is the same requirement.

Why not all at once. If every unit steps from the same potentials, a unit's step ignores
its neighbours' simultaneous changes: for two coupled units the chain's stationary law is no
longer p (synchronous Gibbs sampling of an Ising model is the textbook case: it samples a
different distribution, and on a bipartite coupling it can alternate between two phases).
The rule is kept as the deliberately broken update of the exactness check
(``DiscreteSettings(update="synchronous")`` warns with
:class:`~spiking_mcmc.dynamics.base.InexactChainWarning`). It is exact only when the units are
conditionally independent given x (e.g. a mixture's assignments).

Costs: a sweep evaluates the log density K_j - 1 times for every free unit j (m sequential
steps of one vmapped evaluation over its other values; l at the current values is carried
through the sweep): m + 1 evaluations for m binary units (one for l at the start). The
synchronous rule evaluates all K_j values of every unit in one vmapped batch.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from spiking_mcmc.discrete import neuron


class SweepResult(NamedTuple):
    """The units after one sweep and what it did."""

    values: jax.Array  # (m,) value indices
    clocks: jax.Array  # (m,) refractory steps left
    fired: jax.Array  # (m,) bool: the unit fired a spike in this sweep
    log_density: jax.Array  # l(x, v) at the new values
    num_evals: jax.Array  # log density evaluations of this sweep


def sequential(
    key, values, clocks, log_density, log_density_fn, num_values, binary, refractory_steps
):
    """Units step one at a time in a uniformly random order (exact). ``log_density`` is l at
    the current values; it is carried through the sweep, so a unit evaluates only its K - 1
    other values."""
    num_units = values.shape[0]
    max_values = int(num_values.max())
    key_order, key_steps = jax.random.split(key)
    order = jax.random.permutation(key_order, num_units)
    num_values, binary = jnp.asarray(num_values), jnp.asarray(binary)

    def body(i, carry):
        values, clocks, fired, current, num_evals = carry
        unit = order[i]
        value, clock, spike, current, evals = neuron.free_or_refractory(
            jax.random.fold_in(key_steps, i),
            values,
            clocks[unit],
            current,
            unit,
            log_density_fn,
            num_values[unit],
            max_values,
            binary[unit],
            refractory_steps,
        )
        return (
            values.at[unit].set(value),
            clocks.at[unit].set(clock),
            fired.at[unit].set(spike),
            current,
            num_evals + evals,
        )

    start = (values, clocks, jnp.zeros(values.shape, bool), log_density, jnp.zeros((), jnp.int32))
    return SweepResult(*lax.fori_loop(0, num_units, body, start))


def synchronous(
    key, values, clocks, log_density, log_density_fn, num_values, binary, refractory_steps
):
    """Every unit steps at once from the potentials at the sweep's start (NOT exact)."""
    num_units = values.shape[0]
    max_values = int(num_values.max())
    num_values, binary = jnp.asarray(num_values), jnp.asarray(binary)
    units = jnp.arange(num_units)
    potentials = jax.vmap(
        lambda unit, k: neuron.membrane_potentials(log_density_fn, values, unit, k, max_values)
    )(units, num_values)
    keys = jax.random.split(key, num_units)
    new_values, new_clocks, fired = jax.vmap(neuron.step, in_axes=(0, 0, 0, 0, 0, None))(
        keys, values, clocks, potentials, binary, refractory_steps
    )
    num_evals = jnp.sum(jnp.where(clocks >= 2, 0, num_values)).astype(jnp.int32)
    new_log_density = log_density_fn(new_values)
    return SweepResult(new_values, new_clocks, fired, new_log_density, num_evals + 1)


RULES = {"sequential": sequential, "synchronous": synchronous}
EXACT = {"sequential": True, "synchronous": False}
