"""Spike times of the integrate-and-fire networks (interpolated threshold crossings) and of the
LIF network, the recorder's two passes, and the population summaries."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spiking_mcmc import neural
from spiking_mcmc.dynamics import registry, spike_log
from spiking_mcmc.metric import Metric
from spiking_mcmc.neural import recording, summary


def linear_potential(slope):
    """l(x) = slope . x: a constant force, so every membrane rises linearly in time."""
    slope = jnp.asarray(slope, jnp.float32)
    return jax.value_and_grad(lambda x: slope @ x)


def record_network(name, num_windows=6, dim=2, slope=(0.8, -1.3), step=0.2, **options):
    dynamics = registry.get(name)
    params = dynamics.build(dynamics.settings(**options), Metric(jnp.ones(dim)), step)
    logdensity_and_grad = linear_potential(slope[:dim])
    state = recording.start_state(logdensity_and_grad, jnp.zeros(dim))
    return recording.record(
        jax.random.PRNGKey(0),
        state,
        logdensity_and_grad,
        params,
        num_windows,
        dynamics.transition,
        record_transition=dynamics.record_transition,
    )


def intervals_within_windows(rec, neuron):
    """Inter-spike intervals of ``neuron`` between spikes of the same window."""
    edges = np.concatenate([[0.0], np.cumsum(rec.window_ms)])
    times = rec.times_ms[rec.neurons == neuron]
    window = np.searchsorted(edges, times, side="right")
    same = window[1:] == window[:-1]
    return np.diff(times)[same]


@pytest.mark.parametrize("name, size", [("hamiltonian", 1), ("cortical", 3)])
def test_crossings_of_a_linear_ramp_are_evenly_spaced(name, size):
    """Constant force a: a membrane rises by a eps per step and fires every K q / (a eps) =
    K spike_quantum / a steps (q = spike_quantum eps): the interpolated crossing times must be
    spaced exactly so, whatever the step's jitter; the force's sign picks ON or OFF."""
    options = {"adapt_trajectory_length": False, "trajectory_length": 3.0, "spike_quantum": 0.5}
    if name == "cortical":
        options["population_size"] = size
    rec = record_network(name, **options)
    slope = np.array([0.8, -1.3])
    num_pairs = rec.num_pairs
    for pair in range(num_pairs):
        direction = pair // size
        on = slope[direction] > 0
        neuron = pair if on else num_pairs + pair
        silent = num_pairs + pair if on else pair
        assert not np.any(rec.neurons == silent)
        gaps = intervals_within_windows(rec, neuron)
        assert gaps.size > 5
        expected = size * 0.5 / abs(slope[direction])  # steps of 1 ms
        np.testing.assert_allclose(gaps, expected, rtol=1e-4)


@pytest.mark.parametrize("name", ["hamiltonian", "cortical", "lif"])
def test_logged_times_agree_with_the_counts(name):
    """Binning the logged times by window gives the counts of the first pass; times lie in
    their windows; the second pass ran the same chain."""
    options = {"population_size": 4} if name == "cortical" else {}
    dynamics = registry.get(name)
    params = dynamics.build(dynamics.settings(**options), Metric(jnp.ones(3)), 0.3)
    logdensity_and_grad = jax.value_and_grad(lambda x: -0.5 * x @ x)
    state = recording.start_state(logdensity_and_grad, jnp.ones(3))
    rec = recording.record(
        jax.random.PRNGKey(1),
        state,
        logdensity_and_grad,
        params,
        40,
        dynamics.transition,
        record_transition=dynamics.record_transition,
    )
    assert rec.times_ms.size == rec.num_spikes > 0
    assert np.all(np.diff(rec.times_ms) >= 0)
    edges = np.concatenate([[0.0], np.cumsum(rec.window_ms)])
    window = np.searchsorted(edges, rec.times_ms, side="right") - 1
    again = np.zeros((rec.num_windows, 2 * rec.num_pairs), int)
    np.add.at(again, (window, rec.neurons), 1)
    np.testing.assert_array_equal(again.reshape(rec.spike_counts.shape), rec.spike_counts)
    # the decoded state after the last step of a window is the proposal; accepted: the draw
    ends = np.searchsorted(rec.trajectory_ms, edges[1:] + 1e-6, side="right") - 1
    last = rec.trajectory_positions[ends]
    accepted = rec.is_accepted
    np.testing.assert_allclose(last[accepted], rec.positions[accepted], atol=1e-5)
    np.testing.assert_array_equal(rec.spikes()[0], rec.times_ms)


def test_recording_does_not_change_the_transition():
    """record_transition returns the transition's state and info (the same draws)."""
    dynamics = registry.get("cortical")
    params = dynamics.build(dynamics.settings(population_size=2), Metric(jnp.ones(2)), 0.3)
    logdensity_and_grad = jax.value_and_grad(lambda x: -0.5 * x @ x)
    state = recording.start_state(logdensity_and_grad, jnp.array([0.5, -1.0]))
    key = jax.random.PRNGKey(3)
    new, info = dynamics.transition(key, state, logdensity_and_grad, params)
    log = spike_log.empty(64, 4, 64, 2, jnp.float32)
    new2, info2, log = dynamics.record_transition(key, state, logdensity_and_grad, params, log)
    for a, b in zip(jax.tree.leaves((new, info)), jax.tree.leaves((new2, info2)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(log.num_spikes) == int(info.num_spikes)
    assert int(log.num_steps) == int(info.num_steps)


def test_record_chains_is_record_per_chain():
    dynamics = registry.get("hamiltonian")
    params = dynamics.build(dynamics.settings(), Metric(jnp.ones(2)), 0.3)
    logdensity_and_grad = jax.value_and_grad(lambda x: -0.5 * x @ x)
    starts = jnp.array([[0.0, 0.0], [1.0, -1.0]])
    states = jax.vmap(lambda x: recording.start_state(logdensity_and_grad, x))(starts)
    keys = jax.random.split(jax.random.PRNGKey(4), 2)
    both = recording.record_chains(
        keys,
        states,
        logdensity_and_grad,
        params,
        15,
        dynamics.transition,
        dynamics.record_transition,
    )
    one = recording.record(
        keys[1],
        recording.start_state(logdensity_and_grad, starts[1]),
        logdensity_and_grad,
        params,
        15,
        dynamics.transition,
        record_transition=dynamics.record_transition,
    )
    np.testing.assert_array_equal(both[1].spike_counts, one.spike_counts)
    np.testing.assert_allclose(both[1].times_ms, one.times_ms, rtol=1e-6)
    np.testing.assert_allclose(both[1].positions, one.positions, rtol=1e-6)
    grid, states_on_grid = recording.positions_on_grid(both, 1.0)
    assert states_on_grid.shape == (grid.size, 2, 2)
    np.testing.assert_allclose(states_on_grid[0, 1], starts[1])


def test_lif_spikes_fall_in_the_middle_of_their_dt_step():
    rec = record_network("lif", num_windows=3, slope=(2.0, -2.0), dt_ms=0.5)
    assert rec.times_ms.size > 0
    steps = rec.times_ms / 0.5 - 0.5
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)


# -- summaries --------------------------------------------------------------------------------
def test_isi_cv_pools_intervals_within_each_train():
    """Two chains of a clock of period 10 ms, offset: within-train intervals are all 10 ms
    (CV 0); merging the trains would make them irregular."""
    times = np.concatenate([np.arange(0.0, 500.0, 10.0), np.arange(3.0, 500.0, 10.0)])
    neurons = np.zeros(times.size, int)
    trains = np.repeat([0, 1], times.size // 2)
    np.testing.assert_allclose(neural.isi_cv(times, neurons, 1, trains=trains), 0.0, atol=1e-9)
    assert neural.isi_cv(times, neurons, 1)[0] > 0.3


def test_binned_counts():
    counts = neural.binned_counts([0.5, 9.99, 10.0, 25.0, 31.0], [0, 0, 1, 1, 0], 2, 10.0, 30.0)
    np.testing.assert_array_equal(counts, [[2, 0], [0, 1], [0, 1]])


def test_correlation_summary_of_independent_and_shared_trains():
    rng = np.random.default_rng(0)
    num_bins = 4000
    populations = summary.population_labels(4, population_size=2)  # 8 neurons, 2 populations
    np.testing.assert_array_equal(populations, [0, 0, 1, 1, 0, 0, 1, 1])
    independent = rng.poisson(0.3, size=(num_bins, 8))
    result = summary.correlation_summary(independent, populations)
    assert result["all"] < 2 * result["floor"]
    assert result["within_pairs"] == 12 and result["across_pairs"] == 16
    shared = independent + rng.poisson(0.3, size=(num_bins, 2))[:, populations]
    result = summary.correlation_summary(shared, populations)
    assert 0.45 < result["within"] < 0.55  # a population's neurons share half their variance
    assert result["across"] < 2 * result["floor"]


def test_spikes_per_dimension_per_effective_sample():
    assert summary.spikes_per_dimension_per_effective_sample(1000, 10, 50) == 2.0


def test_network_summary_of_poisson_trains():
    """Independent 20 Hz Poisson trains in 4 chains: rate 20 Hz, ISI CV 1, Fano 1, |r| at the
    independent-neuron floor in every bin width."""
    rng = np.random.default_rng(1)
    num_neurons, duration = 8, 20_000.0
    recordings = []
    for _ in range(4):
        counts = rng.poisson(20.0 * duration / 1000.0, size=num_neurons)
        neurons = np.repeat(np.arange(num_neurons), counts)
        times = rng.uniform(0.0, duration, neurons.size)
        order = np.argsort(times)
        windows = 20
        recordings.append(
            recording.Recording(
                np.zeros((windows, 2, num_neurons // 2), int),
                np.ones(windows, bool),
                np.ones(windows),
                np.zeros((windows, 1)),
                np.zeros((windows, 1)),
                np.full(windows, duration / windows),
                None,
                times_ms=times[order],
                neurons=neurons[order],
            )
        )
    result = summary.network_summary(recordings, summary.population_labels(4, 2))
    assert abs(result["mean_rate_hz"] - 20.0) < 0.5
    assert abs(result["isi_cv"] - 1.0) < 0.05 and abs(result["fano"] - 1.0) < 0.05
    for correlation in (result["correlation"], *result["correlation_other_bins"].values()):
        assert correlation["all"] < 2.0 * correlation["floor"]
