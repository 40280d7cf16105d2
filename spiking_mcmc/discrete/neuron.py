"""One discrete unit's time step: a refractory neuron, or a winner-take-all group of K neurons.

    membrane potentials  u_k = l(x, s_j = k, s_rest)   (k < K_j; l at the current value is known,
                         the K_j - 1 others are one vmapped evaluation: one for a binary unit)
    binary unit (K = 2): one neuron; free, it fires with  P = sigmoid(u_1 - u_0 - log tau)
    K-valued unit:       K neurons, neuron k codes value k; free, neuron k fires with softmax(u)_k
    a spike sets the unit's value to the neuron's value for tau steps (its refractory period)

This is the neural sampling of Buesing, Bill, Nessler & Maass (2011, PLoS Comput Biol 7:
e1002211) in discrete time: a binary variable s_j is a neuron that is "on" (s_j = 1) while it is
refractory after a spike; its membrane potential is the log-odds of s_j = 1 given everything
else (the "neural computability condition"), u = log p(s_j = 1, rest) - log p(s_j = 0, rest),
which jax evaluates from the model's log density. A variable with K >= 3 values is a
winner-take-all group (lateral inhibition normalises the K potentials, as in Nessler, Pfeiffer,
Buesing & Maass 2013): exactly one neuron fires when the group is free, and its value holds for
the refractory period.

State. Each unit has a value v in {0..K-1} and a refractory clock c (Buesing's zeta): the steps
of the refractory period left. A binary unit is silent (v = 0, c = 0) or on (v = 1, c in
1..tau); a winner-take-all group always has a winner (c in 1..tau). A unit is *free* when
c <= 1: a neuron may fire. A refractory unit (c >= 2) counts down (c <- c - 1) and keeps v.

Exactness of one step (given x and the other units, which it does not change). The target on
(v, c) is

    pi(v, c) = p(v | rest) q(c | v),   q(c | v) = [c = 0] (binary, v = 0),  1/tau on 1..tau (else)

Binary unit, p_0 = p(s = 0 | rest), p_1 = p(s = 1 | rest). The free states (0, 0) and (1, 1)
hold mass Z = p_0 + p_1/tau; both go to (1, tau) with probability f = sigmoid(u_1 - u_0 - log
tau) = (p_1/tau) / Z and to (0, 0) with 1 - f. So after the step (1, tau) has mass Z f = p_1/tau
and (0, 0) has Z (1 - f) = p_0, while (1, c) for c < tau receives the mass p_1/tau of (1, c + 1).
pi is invariant. K-valued unit: the free states (k, 1) hold Z = sum_k p_k / tau = 1/tau and go
to (k', tau) with probability softmax(u)_k' = p_k'; so (k', tau) receives p_k'/tau, and the
countdown moves (k, c + 1) to (k, c). pi is invariant. Summing over c gives p(v | rest): the
clocks are an auxiliary variable whose marginal is the posterior's conditional, as in
Buesing's theorem. With tau = 1 every unit is free at every step and the step is a heat-bath
(Gibbs) update: P(v = k) = p(k | rest). A larger tau holds a value longer (biologically longer
refractory periods) at the same stationary distribution; a winner-take-all group is then free
once every tau steps, a periodic but still invariant chain (ergodic averages converge).

Impossible values (l = -inf or NaN) get zero probability; the current value always has a finite
density, so some neuron can always fire.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def membrane_potentials(log_density_fn, values, unit, num_values, max_values):
    """u_k = l(s_unit = k, rest) for k = 0..max_values-1; -inf where k >= K (no such value) or
    where the density is not a number. One vmapped evaluation per value."""
    ks = jnp.arange(max_values)
    candidates = jnp.minimum(ks, num_values - 1)
    log_density = jax.vmap(lambda k: log_density_fn(values.at[unit].set(k)))(candidates)
    return jnp.where((ks < num_values) & ~jnp.isnan(log_density), log_density, -jnp.inf)


def membrane_potentials_from(current, log_density_fn, values, unit, num_values, max_values):
    """:func:`membrane_potentials` when l at the current values is known (``current``): only
    the K - 1 other values are evaluated (one evaluation for a binary unit)."""
    value = values[unit]
    i = jnp.arange(max_values - 1)
    others = (value + 1 + i) % num_values
    log_density = jax.vmap(lambda k: log_density_fn(values.at[unit].set(k)))(others)
    log_density = jnp.where(jnp.isnan(log_density), -jnp.inf, log_density)
    index = jnp.where(i < num_values - 1, others, max_values)  # padding: dropped
    potentials = jnp.full((max_values,), -jnp.inf, log_density.dtype).at[value].set(current)
    return potentials.at[index].set(log_density, mode="drop")


def firing_logits(potentials, binary, log_tau):
    """Logits of the outcome of a free unit's step: outcome k sets the value to k.

    Binary: (u_0, u_1 - log tau) (staying silent, or a spike that holds 1 for tau steps).
    Winner-take-all: u_k (exactly one neuron fires).
    """
    offset = jnp.where(binary & (jnp.arange(potentials.shape[-1]) == 1), log_tau, 0.0)
    return potentials - offset


def step(key, value, clock, potentials, binary, refractory_steps):
    """One time step of one unit: (value, clock, fired).

    Refractory (clock >= 2): count down, keep the value, no spike. Free: draw the outcome k
    from :func:`firing_logits`; a spike (any outcome of a winner-take-all group, outcome 1 of a
    binary neuron) sets the clock to tau, silence (outcome 0 of a binary neuron) to 0.
    """
    tau = refractory_steps
    log_tau = jnp.log(jnp.asarray(tau, potentials.dtype))
    outcome = jax.random.categorical(key, firing_logits(potentials, binary, log_tau))
    fired = ~binary | (outcome == 1)
    refractory = clock >= 2
    new_value = jnp.where(refractory, value, outcome).astype(value.dtype)
    new_clock = jnp.where(refractory, clock - 1, jnp.where(fired, tau, 0)).astype(clock.dtype)
    return new_value, new_clock, ~refractory & fired


def free_or_refractory(
    key, values, clock, current, unit, log_density_fn, num_values, max_values, binary, tau
):
    """Step unit ``unit`` of ``values`` whose log density is ``current``: (value, clock,
    fired, log density at the new values, evaluations made). The density is evaluated only
    when the unit is free (a ``lax.cond``, left out when tau = 1: every unit is always free;
    under ``vmap`` both branches run, with the same result)."""
    value = values[unit]

    def free(_):
        u = membrane_potentials_from(current, log_density_fn, values, unit, num_values, max_values)
        new_value, new_clock, fired = step(key, value, clock, u, binary, tau)
        return new_value, new_clock, fired, u[new_value], num_values - 1

    def refractory(_):
        no = jnp.zeros_like(num_values)
        return value, (clock - 1).astype(clock.dtype), jnp.asarray(False), current, no

    if tau == 1:
        return free(None)
    return lax.cond(clock >= 2, refractory, free, None)


def initial_clocks(key, values, binary, refractory_steps):
    """Clocks drawn from q(c | v): 0 for a silent binary unit, uniform on 1..tau otherwise."""
    clocks = jax.random.randint(key, values.shape, 1, refractory_steps + 1)
    return jnp.where(binary & (values == 0), 0, clocks).astype(jnp.int32)
