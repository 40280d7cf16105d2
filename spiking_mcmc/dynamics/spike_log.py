"""Spike times of one transition, logged on request (the recording variant of a transition).

    crossing m of a kick:  f_m = (sign(s) (m + 1/2) theta - v) / delta,   m = 0 .. |s| - 1
    its time:              t = t_kick + f_m * (duration of the kick)     (in integration steps)

Within a (half) kick an integrate-and-fire membrane is driven linearly, c(f) = v + f delta for
f in [0, 1], and with reset by subtraction it crosses the thresholds +-theta/2 wherever the
unreset ramp passes a level +-(m + 1/2) theta: the crossing of level m is where the ramp meets
it. A kick that fires s spikes (floor(c(1)/theta + 1/2) = s, negative: OFF) therefore fired at
the |s| times f_m above, the ON neuron for s > 0 and the OFF neuron for s < 0.

A :class:`SpikeLog` is a fixed-size buffer (jax needs static shapes): ``capacity`` spikes per
transition and ``max_per_kick`` crossings per neuron and kick (the shape of ``levels``), and
the decoded state after each of at most ``max_steps`` integration steps. A recorder first runs
the transitions without a log (their counts give the bounds), then again with a log of that
size and the same keys; ``dropped`` counts the spikes a log had no room for, so a log too small
(the second pass's floating-point rounding can differ from the first's) says so. Nothing here
runs in the sampler's hot path: a transition called without a log (the default) carries none.
Times are in integration steps from the transition's start (a leapfrog step, or one dt of the
LIF network); the recorder turns them into milliseconds with the transition's
``biological_time_ms / num_steps``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class SpikeLog(NamedTuple):
    """Spikes of one transition: times in steps from its start, neuron j for ON_j and P + j
    for OFF_j, and the decoded state after each step (rows past ``num_steps`` are unused)."""

    times: jax.Array  # (capacity,) in integration steps from the transition's start
    neurons: jax.Array  # (capacity,) int32; -1 where unused
    num_spikes: jax.Array  # () int32: spikes fired
    dropped: jax.Array  # () int32: spikes fired but not in the buffer (no room)
    levels: jax.Array  # (max_per_kick,) 0, 1, ...: which crossings of a kick are logged
    positions: jax.Array  # (max_steps, d) decoded state after each step (step i ends at i + 1)
    num_steps: jax.Array  # () int32: steps logged so far


def empty(capacity: int, max_per_kick: int, max_steps: int, dim: int, dtype) -> SpikeLog:
    """A log with room for ``capacity`` spikes and ``max_steps`` decoded states of dimension d."""
    return SpikeLog(
        jnp.zeros((capacity,), dtype),
        jnp.full((capacity,), -1, jnp.int32),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), jnp.int32),
        jnp.arange(max(int(max_per_kick), 1), dtype=jnp.int32),
        jnp.zeros((max(int(max_steps), 1), dim), dtype),
        jnp.zeros((), jnp.int32),
    )


def _write(log: SpikeLog, times, neurons, fired) -> SpikeLog:
    """Append the entries of ``times`` / ``neurons`` where ``fired`` (any shape, row-major)."""
    fired = fired.reshape(-1)
    slots = log.num_spikes + jnp.cumsum(fired) - 1
    capacity = log.times.shape[0]
    room = slots < capacity
    slots = jnp.where(fired & room, slots, capacity)  # out of range: dropped
    return log._replace(
        dropped=log.dropped + jnp.sum(fired & ~room, dtype=jnp.int32),
        times=log.times.at[slots].set(times.reshape(-1).astype(log.times.dtype), mode="drop"),
        neurons=log.neurons.at[slots].set(neurons.reshape(-1).astype(jnp.int32), mode="drop"),
        num_spikes=log.num_spikes + jnp.sum(fired, dtype=jnp.int32),
    )


def log_kick(log: SpikeLog, membrane, increment, counts, threshold, start, duration):
    """Log the crossings of one kick of a population of P = membrane.size pairs.

    :param membrane: v before the kick (any shape; flattened row-major: pair index).
    :param increment: delta, the drive the kick adds (same shape).
    :param counts: s, the spikes the kick fired (floats; negative: OFF).
    :param threshold: theta, the distance between successive crossing levels (q for the
        Hamiltonian network, K q for a population of K).
    :param start, duration: when the kick starts and how long it lasts (in steps).
    """
    v = membrane.reshape(-1)
    delta = increment.reshape(-1)
    s = counts.reshape(-1)
    num_pairs = v.shape[0]
    sign = jnp.sign(s)
    levels = log.levels.astype(v.dtype)[:, None]  # (M, 1)
    safe = jnp.where(delta == 0, 1.0, delta)
    fraction = jnp.clip((sign * (levels + 0.5) * threshold - v) / safe, 0.0, 1.0)  # (M, P)
    fired = log.levels[:, None] < jnp.abs(s).astype(jnp.int32)
    neurons = jnp.arange(num_pairs, dtype=jnp.int32) + jnp.where(sign < 0, num_pairs, 0)
    neurons = jnp.broadcast_to(neurons, fraction.shape)
    extra = jnp.sum(jnp.maximum(jnp.abs(s).astype(jnp.int32) - log.levels.shape[0], 0))
    log = _write(log, start + duration * fraction, neurons, fired)
    return log._replace(num_spikes=log.num_spikes + extra, dropped=log.dropped + extra)


def log_spikes(log: SpikeLog, on, off, time) -> SpikeLog:
    """Log at most one spike per neuron at ``time`` (boolean ``on`` / ``off`` of P pairs)."""
    num_pairs = on.shape[0]
    fired = jnp.concatenate([on, off])
    times = jnp.full(fired.shape, time)
    return _write(log, times, jnp.arange(2 * num_pairs, dtype=jnp.int32), fired)


def log_step(log: SpikeLog, position) -> SpikeLog:
    """Keep the decoded state at the end of a step (dropped past ``max_steps``)."""
    i = log.num_steps
    return log._replace(
        positions=log.positions.at[i].set(position.astype(log.positions.dtype), mode="drop"),
        num_steps=i + 1,
    )
