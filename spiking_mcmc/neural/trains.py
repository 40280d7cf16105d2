"""Spike trains and decoded paths from a recording, in biological time.

    Poisson network: given n spikes of a neuron in a window [t0, t0 + T), their times are
    n i.i.d. U(t0, t0 + T)   (a Poisson process with a rate constant over the window)
    decoded path on a grid: at time t, the position after the last window that ended by t

Neuron index j is ON_j and P + j is OFF_j. Spike times take 12 bytes a spike (float64 time and
int32 neuron): recordings above ``max_spikes`` (default 5 million) are refused with a
ValueError that says how many spikes they would hold.
"""

from __future__ import annotations

import numpy as np

MAX_SPIKES = 5_000_000


def _too_many(num_spikes, max_spikes, what):
    return ValueError(
        f"{what} would hold {num_spikes:,} spikes, more than max_spikes={max_spikes:,} "
        f"(about {12 * num_spikes / 1e6:,.0f} MB of spike times). Record fewer windows, fewer "
        "neuron pairs or a lower base rate / shorter window, or raise max_spikes."
    )


def positions_on_grid(recordings, grid_ms: float, duration_ms: float | None = None):
    """The chains' decoded states on a time grid: at time t the position after the last
    window that ended by t (the start before any). Returns (times (T,), positions (T, C, d));
    the grid runs from 0 to the shortest recording's duration (or ``duration_ms``)."""
    duration = min(r.duration_ms for r in recordings) if duration_ms is None else duration_ms
    grid = np.arange(0.0, float(duration) + 1e-9, float(grid_ms))
    states = []
    for rec in recordings:
        ends = np.cumsum(rec.window_ms)
        index = np.searchsorted(ends, grid + 1e-9, side="right")
        path = np.concatenate([rec.start_positions[:1], rec.positions])
        states.append(path[index])
    return grid, np.stack(states, axis=1)


def spike_times(
    spike_counts,
    window_ms,
    seed=0,
    max_spikes: int = MAX_SPIKES,
):
    """Spike times (ms) and neuron indices from per-window counts.

        neuron index: j for ON_j, P + j for OFF_j;  times of a window's n spikes ~ U(t0, t0 + T)

    :param spike_counts: (N, 2, P) counts (``Recording.spike_counts``).
    :param window_ms: window duration, a number or (N,) durations (``Recording.window_ms``).
    :param seed: numpy seed of the within-window times.
    :returns: ``(times_ms, neurons)``, float64 and int32 arrays sorted by time.
    """
    counts = np.asarray(spike_counts)
    if counts.ndim != 3 or counts.shape[1] != 2:
        raise ValueError(f"spike_counts must have shape (N, 2, P), got {counts.shape}")
    if np.any(counts < 0):
        raise ValueError("spike_counts must be non-negative")
    num_windows, _, num_pairs = counts.shape
    durations = np.broadcast_to(np.asarray(window_ms, dtype=float), (num_windows,))
    total = int(np.sum(counts, dtype=np.int64))
    if total > max_spikes:
        raise _too_many(total, max_spikes, f"{num_windows:,} windows of spike times")
    flat = counts.reshape(num_windows, 2 * num_pairs)
    window_index, neuron = np.nonzero(flat)
    repeats = flat[window_index, neuron]
    window_index = np.repeat(window_index, repeats)
    neurons = np.repeat(neuron, repeats).astype(np.int32)
    starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    rng = np.random.default_rng(seed)
    times = starts[window_index] + durations[window_index] * rng.random(total)
    order = np.argsort(times, kind="stable")
    return times[order], neurons[order]
