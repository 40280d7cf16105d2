"""Spike recording on request: run a dynamics for N windows and keep every window's spikes.

    (x_t, counts_t) = transition(key_t, x_{t-1}),  t = 1..N     (lax.scan over ``transition``)
    integrate-and-fire networks: every threshold crossing at its time within its kick
    Poisson network: given n spikes of a neuron in a window [t0, t0 + T), their times are
    n i.i.d. U(t0, t0 + T)   (a Poisson process with a rate constant over the window)

The sampler itself never stores spikes (a transition reports its counts and forgets them).
:func:`record` re-runs the same pure ``transition`` of any dynamics from a
:class:`~spiking_mcmc.dynamics.base.PositionState` and returns the per-window ("window": one
transition) ON/OFF counts (N, 2, P), the accepted flags and the decoded positions, with neuron
index j for ON_j and P + j for OFF_j.

Spike times. A dynamics with a ``record_transition`` (the Hamiltonian, cortical and LIF
networks) is run a second time with the same keys by that variant, which logs every spike
(:mod:`spiking_mcmc.dynamics.spike_log`): for the integrate-and-fire kicks the time where the
membrane's linear ramp within the kick meets a threshold, for the LIF network the middle of the
dt step it fired in; the decoded state after every integration step comes with them
(``trajectory_ms``, ``trajectory_positions``). The first pass's counts size the log; the
recording is the second pass (the same chain, up to floating-point rounding, which can differ
between the two compiled programs: a log that drops a spike is doubled and the pass rerun).
For the Poisson network the membrane potential is fixed within a window (set by the
gradient at the window's start), so uniform times (:func:`spike_times`) are exact draws of the
spike times given the counts. :meth:`Recording.spikes` gives whichever applies.
:func:`record_chains` records C chains at once (vectorised), :func:`positions_on_grid` reads
their decoded states on a time grid.

Memory: spike times take 12 bytes a spike (float64 time + int32 neuron); the functions refuse,
with a ValueError that says how many spikes the recording would hold, recordings above
``max_spikes`` (default 5 million).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from spiking_mcmc.dynamics import spike_log as spike_logs
from spiking_mcmc.dynamics.base import PositionState
from spiking_mcmc.neural.trains import (  # noqa: F401 - part of this module's interface
    MAX_SPIKES,
    _too_many,
    positions_on_grid,
    spike_times,
)


class Recording(NamedTuple):
    """N windows of a network: what each window emitted and where the chain was after it.

    spike_counts: (N, 2, P) ON (row 0) and OFF (row 1) spike counts of each window.
    is_accepted: (N,) whether the window's proposal was accepted (always True without MH).
    accept_prob: (N,) acceptance probability of each window.
    positions: (N, d) decoded state after each window (the chain's draws).
    start_positions: (N, d) decoded state at the start of each window.
    window_ms: (N,) biological duration of each window.
    final_state: the PositionState after the last window (continue from it).
    times_ms, neurons: every spike's time and neuron, sorted by time (None for a dynamics
        without ``record_transition``: the Poisson network, see :meth:`spikes`).
    trajectory_ms, trajectory_positions: the decoded state after every integration step
        within the windows, rejected ones included (None without ``record_transition``).
    """

    spike_counts: np.ndarray
    is_accepted: np.ndarray
    accept_prob: np.ndarray
    positions: np.ndarray
    start_positions: np.ndarray
    window_ms: np.ndarray
    final_state: PositionState
    times_ms: np.ndarray | None = None
    neurons: np.ndarray | None = None
    trajectory_ms: np.ndarray | None = None
    trajectory_positions: np.ndarray | None = None

    def spikes(self, seed=0):
        """(times_ms, neurons): the logged times, or uniform within windows (:func:`spike_times`)
        when the dynamics logs none."""
        if self.times_ms is not None:
            return self.times_ms, self.neurons
        return spike_times(self.spike_counts, self.window_ms, seed=seed)

    @property
    def num_windows(self) -> int:
        return self.spike_counts.shape[0]

    @property
    def num_pairs(self) -> int:
        return self.spike_counts.shape[-1]

    @property
    def num_spikes(self) -> int:
        return int(np.sum(self.spike_counts))

    @property
    def window_starts_ms(self) -> np.ndarray:
        """Start time of each window in biological ms (the first window starts at 0)."""
        return np.concatenate([[0.0], np.cumsum(self.window_ms)[:-1]])

    @property
    def duration_ms(self) -> float:
        return float(np.sum(self.window_ms))


def start_state(logdensity_and_grad, position) -> PositionState:
    """The PositionState at ``position``: (x, l(x), g(x))."""
    position = jnp.asarray(position)
    log_density, grad = logdensity_and_grad(position)
    return PositionState(position, log_density, grad)


def expected_num_spikes(params, num_windows: int):
    """Spikes expected in ``num_windows`` windows at zero membrane potential, or None when the
    dynamics' parameters do not say (only the Poisson network's do: 2 P a per window)."""
    expected_spikes = getattr(params, "expected_spikes", None)
    if expected_spikes is None:
        return None
    num_pairs = params.metric.dim if params.frame is None else params.frame.shape[1]
    return float(2 * num_pairs * expected_spikes * num_windows)


@partial(jax.jit, static_argnames=("logdensity_and_grad", "transition", "num_windows"))
def _scan(key, state, params, logdensity_and_grad, transition, num_windows):
    def step(carry, key_t):
        new, info = transition(key_t, carry, logdensity_and_grad, params)
        out = (
            info.spike_counts,
            info.is_accepted,
            info.accept_prob,
            new.position,
            carry.position,
            info.biological_time_ms,
            info.num_steps,
        )
        return new, out

    return lax.scan(step, state, jax.random.split(key, num_windows))


@partial(
    jax.jit,
    static_argnames=(
        "logdensity_and_grad",
        "record_transition",
        "num_windows",
        "capacity",
        "max_per_kick",
        "max_steps",
    ),
)
def _scan_logged(
    key,
    state,
    params,
    logdensity_and_grad,
    record_transition,
    num_windows,
    capacity,
    max_per_kick,
    max_steps,
):
    """:func:`_scan` by ``record_transition``: the same outputs and each window's spike log."""
    dim = state.position.shape[-1]

    def step(carry, key_t):
        log = spike_logs.empty(capacity, max_per_kick, max_steps, dim, carry.position.dtype)
        new, info, log = record_transition(key_t, carry, logdensity_and_grad, params, log)
        out = (
            info.spike_counts,
            info.is_accepted,
            info.accept_prob,
            new.position,
            carry.position,
            info.biological_time_ms,
            info.num_steps,
        )
        logs = (log.times, log.neurons, log.dropped, log.positions, log.num_steps)
        return new, (out, logs)

    final, (out, logs) = lax.scan(step, state, jax.random.split(key, num_windows))
    return final, out, logs


def _logged_pass(run, size):
    """Run ``run(**size)`` (a logged scan), doubling the log's room until nothing is dropped
    (a second pass can round differently from the first, and so fire a little more)."""
    while True:
        final, out, logs = run(**size)
        dropped = int(np.sum(np.asarray(logs[2])))
        steps_over = int(np.max(np.asarray(logs[4]), initial=0)) > size["max_steps"]
        if dropped == 0 and not steps_over:
            return final, out, logs
        size = {key: 2 * value for key, value in size.items()}


def _logged_times(logs, window_ms, num_steps):
    """Spike times (ms, sorted), neurons, and the decoded state after every step, from the
    windows' logs (times in steps from each window's start)."""
    times, neurons, _, positions, logged_steps = (np.asarray(a) for a in logs)
    starts = np.concatenate([[0.0], np.cumsum(window_ms)[:-1]])
    ms_per_step = np.asarray(window_ms, float) / np.maximum(np.asarray(num_steps), 1)
    valid = neurons >= 0
    window = np.nonzero(valid)[0]
    spike_ms = starts[window] + times[valid].astype(float) * ms_per_step[window]
    order = np.argsort(spike_ms, kind="stable")
    step_index = np.arange(positions.shape[1])
    used = step_index[None, :] < logged_steps[:, None]
    window_of_step = np.nonzero(used)[0]
    step_ms = starts[window_of_step] + (np.nonzero(used)[1] + 1.0) * ms_per_step[window_of_step]
    return (
        spike_ms[order],
        neurons[valid][order].astype(np.int32),
        step_ms,
        positions[used],
    )


def _recording(out, final, logs=None) -> Recording:
    """A Recording from one chain's scan outputs (and its logs)."""
    counts, accepted, accept_prob, positions, starts, window_ms, num_steps = (
        np.asarray(o) for o in out
    )
    rec = Recording(counts, accepted, accept_prob, positions, starts, window_ms, final)
    if logs is None:
        return rec
    times, neurons, step_ms, step_positions = _logged_times(logs, window_ms, num_steps)
    if times.size != int(np.sum(counts)):
        raise RuntimeError(f"logged {times.size} spikes where the counts say {np.sum(counts)}")
    return rec._replace(
        times_ms=times, neurons=neurons, trajectory_ms=step_ms, trajectory_positions=step_positions
    )


def record(
    key,
    state: PositionState,
    logdensity_and_grad,
    params,
    num_windows: int,
    transition=None,
    max_spikes: int = MAX_SPIKES,
    record_transition=None,
) -> Recording:
    """Run ``num_windows`` transitions from ``state`` and keep every window's spikes.

    :param key: jax PRNG key.
    :param state: where the chain starts (:func:`start_state` makes one from a position).
    :param logdensity_and_grad: x -> (log p(x), grad log p(x)), e.g. ``jax.value_and_grad``.
        Pass the same function object on each call to reuse the compiled scan.
    :param params: the dynamics' params (e.g. ``poisson.build(settings, metric, h)``).
    :param transition: the dynamics' ``transition`` (default: the Poisson network's).
    :param max_spikes: refuse (ValueError) a recording expected to hold more spikes.
    :param record_transition: the dynamics' ``record_transition``, to log every spike's time
        (a second pass over the same keys; None: counts only).
    """
    if transition is None:
        from spiking_mcmc.dynamics import poisson

        transition = poisson.transition
    if not isinstance(num_windows, int | np.integer) or num_windows < 1:
        raise ValueError(f"num_windows must be a positive integer, got {num_windows!r}")
    expected = expected_num_spikes(params, int(num_windows))
    if expected is not None and expected > max_spikes:
        raise _too_many(int(expected), max_spikes, f"recording {num_windows:,} windows")
    final, out = _scan(key, state, params, logdensity_and_grad, transition, int(num_windows))
    counts, num_steps = np.asarray(out[0]), np.asarray(out[-1])
    total = int(np.sum(counts))
    if total > max_spikes:
        raise _too_many(total, max_spikes, f"recording {num_windows:,} windows")
    if record_transition is None:
        return _recording(out, final)

    def logged(**size):
        return _scan_logged(
            key,
            state,
            params,
            logdensity_and_grad,
            record_transition,
            int(num_windows),
            **size,
        )

    final, out, logs = _logged_pass(logged, log_size(counts, num_steps))
    return _recording(out, final, logs)


def log_size(spike_counts, num_steps) -> dict:
    """The spike log that holds every window of a first pass: spikes per window, crossings of
    one neuron in one kick (at most its count in the window), integration steps per window."""
    counts = np.asarray(spike_counts)
    per_window = counts.reshape(counts.shape[0], -1).sum(axis=1)
    return {
        "capacity": max(int(per_window.max(initial=0)), 1),
        "max_per_kick": max(int(counts.max(initial=0)), 1),
        "max_steps": max(int(np.max(num_steps, initial=0)), 1),
    }


def record_chains(
    keys,
    states: PositionState,
    logdensity_and_grad,
    params,
    num_windows: int,
    transition,
    record_transition=None,
    max_spikes: int = MAX_SPIKES,
) -> list[Recording]:
    """:func:`record` for C chains at once (``keys`` (C,), ``states`` stacked on a leading
    axis), vectorised; one Recording per chain. ``max_spikes`` bounds all chains together."""
    if not isinstance(num_windows, int | np.integer) or num_windows < 1:
        raise ValueError(f"num_windows must be a positive integer, got {num_windows!r}")
    num_windows = int(num_windows)

    def counts_pass(key, state):
        return _scan(key, state, params, logdensity_and_grad, transition, num_windows)

    finals, out = jax.vmap(counts_pass)(keys, states)
    counts, num_steps = np.asarray(out[0]), np.asarray(out[-1])
    total = int(np.sum(counts))
    if total > max_spikes:
        raise _too_many(total, max_spikes, f"recording {len(keys)} chains")
    logs = None
    if record_transition is not None:

        def logged(**size):
            def one(key, state):
                return _scan_logged(
                    key,
                    state,
                    params,
                    logdensity_and_grad,
                    record_transition,
                    num_windows,
                    **size,
                )

            return jax.vmap(one)(keys, states)

        size = log_size(counts.reshape(-1, *counts.shape[2:]), num_steps)
        finals, out, logs = _logged_pass(logged, size)
        logs = [np.asarray(a) for a in logs]
    out = [np.asarray(o) for o in out]
    return [
        _recording(
            [o[c] for o in out],
            jax.tree.map(lambda a, c=c: a[c], finals),
            None if logs is None else [a[c] for a in logs],
        )
        for c in range(len(keys))
    ]


def record_kernel(kernel, state, num_windows: int, key=None, max_spikes: int = MAX_SPIKES):
    """Record the network a :class:`~spiking_mcmc.SpikingKernel` holds in ``state``.

    ``state`` is one chain's state after ``MCMC.run`` (``mcmc.last_state``; for several
    chains ``kernel.chain(mcmc.last_state, c)``): its position, the network warmup learned
    (step size, metric, tuning) and the model arguments of the last run.
    Returns :func:`record`'s Recording, with every spike's time when the dynamics logs them
    (``kernel.dynamics.record_transition``: the integrate-and-fire networks); positions are
    flat in the unconstrained space (``jax.flatten_util.ravel_pytree`` order).
    """
    from jax.flatten_util import ravel_pytree

    if jnp.ndim(state.i) != 0:
        raise ValueError(
            "record_kernel needs one chain's state; pick chain c with kernel.chain(state, c)"
        )
    logdensity_and_grad = kernel.logdensity_and_grad()
    start = PositionState(
        ravel_pytree(state.z)[0], -state.potential_energy, -ravel_pytree(state.z_grad)[0]
    )
    key = state.rng_key if key is None else key
    return record(
        key,
        start,
        logdensity_and_grad,
        kernel.network_params(state),
        num_windows,
        kernel.dynamics.transition,
        max_spikes,
        kernel.dynamics.record_transition,
    )
