"""The neural lens on the discrete units: their spike trains, rates, ISIs and correlations.

    neuron n of unit j: the unit's only neuron when K_j = 2 (value 1), else neuron k (value k)
    spikes (N, M): neuron n fired in draw t   (from the per-draw fields discrete.fired/values)
    spike time:    t * step_ms + U(0, step_ms)   (the unit's slot in the sweep's random order)
    predicted rate of a neuron = P(its value) / (tau * step_ms)   (each spike holds it tau steps)

Ask for the fields per draw, then use the statistics of :mod:`spiking_mcmc.neural` (they take
(N, M) count matrices)::

    mcmc.run(key, *data, extra_fields=("discrete.fired", "discrete.values"))
    rec = discrete.neural.from_fields(mcmc.get_extra_fields(group_by_chain=True), kernel)
    neural.firing_rates_hz(rec.spikes, rec.step_ms); neural.count_correlation(rec.spikes)
    times, neurons = rec.spike_times();  neural.isi_cv(times, neurons, rec.num_neurons)

Why the rate is the probability: a neuron's spike starts a refractory period of tau steps in
which the unit holds the neuron's value, and the periods of one neuron do not overlap, so the
fraction of steps with that value, P(value), is tau times the spikes per step. With tau = 1 a
binary unit's spike train *is* its state (s_t = 1 exactly in the steps where it fired), so
spike-count correlations at lag 0 are the posterior correlations of the units.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from spiking_mcmc.discrete.layout import Layout


def neuron_offsets(layout: Layout) -> np.ndarray:
    """(m,) index of each unit's first neuron."""
    per_unit = layout.neurons_per_unit
    return np.concatenate([[0], np.cumsum(per_unit)[:-1]]).astype(int)


def neuron_names(layout: Layout) -> list:
    """``site[i]`` for a binary unit's neuron, ``site[i]=k`` for neuron k of a group."""
    names = []
    for name, k in zip(layout.unit_names, layout.num_values, strict=True):
        names += [name] if k == 2 else [f"{name}={value}" for value in range(k)]
    return names


def neuron_spikes(fired, values, layout: Layout) -> np.ndarray:
    """(N, m) fired flags and value indices after each draw -> (N, M) spikes of the neurons
    (a spike sets its unit's value to its neuron's, so the new value names the neuron)."""
    fired, values = np.asarray(fired, bool), np.asarray(values, int)
    binary = layout.num_values == 2
    neuron = neuron_offsets(layout)[None, :] + np.where(binary[None, :], 0, values)
    spikes = np.zeros((fired.shape[0], layout.num_neurons), np.int32)
    rows, units = np.nonzero(fired)
    spikes[rows, neuron[rows, units]] = 1
    return spikes


def predicted_rates_hz(probabilities, refractory_steps: int, step_ms: float):
    """Rate of a neuron whose value has posterior probability ``probabilities``."""
    return np.asarray(probabilities) / (refractory_steps * step_ms / 1000.0)


class DiscreteRecording(NamedTuple):
    """One chain's discrete units over N draws (one step of every unit per draw)."""

    spikes: np.ndarray  # (N, M) neuron spikes per draw
    values: np.ndarray  # (N, m) value index of each unit after each draw
    step_ms: float
    refractory_steps: int
    names: list  # (M,) neuron names

    @property
    def num_neurons(self) -> int:
        return self.spikes.shape[1]

    @property
    def duration_ms(self) -> float:
        return self.spikes.shape[0] * self.step_ms

    def spike_times(self, seed=0):
        """(times_ms, neurons) sorted by time: draw t's spikes at t * step_ms + U(0, step_ms)
        (a unit's slot in a uniformly random update order is uniform over the step)."""
        rows, neurons = np.nonzero(self.spikes)
        times = (rows + np.random.default_rng(seed).random(rows.size)) * self.step_ms
        order = np.argsort(times, kind="stable")
        return times[order], neurons[order].astype(np.int32)


def from_fields(fields: dict, kernel, chain: int = 0) -> DiscreteRecording:
    """The recording of chain ``chain`` from ``mcmc.get_extra_fields(group_by_chain=True)``
    (run with ``extra_fields=("discrete.fired", "discrete.values")``) of ``kernel``."""
    missing = [f for f in ("discrete.fired", "discrete.values") if f not in fields]
    if missing:
        raise ValueError(
            f"the fields lack {missing}: run MCMC with "
            "extra_fields=('discrete.fired', 'discrete.values')"
        )
    fired = np.asarray(fields["discrete.fired"])
    values = np.asarray(fields["discrete.values"])
    if fired.ndim == 3:
        fired, values = fired[chain], values[chain]
    layout, settings = kernel.discrete_layout, kernel.discrete_settings
    return DiscreteRecording(
        neuron_spikes(fired, values, layout),
        values,
        settings.step_ms,
        settings.refractory_steps,
        neuron_names(layout),
    )
