"""Discrete latent sites sampled by spiking units (issue 16): exactness, NumPyro and ArviZ
plumbing, the neural lens, and bad input.

The quick exactness check: a 6-unit Boltzmann machine (64 states, enumerated), 4 chains of
2000 draws, fixed seed. Every marginal P(s_i = 1) and co-activation P(s_i = s_j = 1) must be
within 4 Monte-Carlo standard errors (ArviZ's MCSE, from the draws' autocorrelation) of the
exact answer; the synchronous rule (every unit steps at once: not exact) fails the same check
by far (max |z| about 20 at this size).
"""

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC
from scipy.stats import binom, norm

import models
from models.posteriors import boltzmann
from spiking_mcmc import SpikingKernel
from spiking_mcmc.discrete import layout as layouts
from spiking_mcmc.discrete import neural as discrete_neural
from spiking_mcmc.discrete import neuron
from spiking_mcmc.discrete.settings import DiscreteSettings
from spiking_mcmc.dynamics.base import InexactChainWarning
from spiking_mcmc.validation import ModelError

NUM_UNITS, COUPLING = 6, 1.0


def run(model, *args, num_samples=2000, num_warmup=0, seed=0, chains=4, **kernel_options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactChainWarning)
        kernel = SpikingKernel(model, **kernel_options)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.PRNGKey(seed),
        *args,
        extra_fields=("discrete.fired", "discrete.values", "discrete.num_spikes"),
    )
    return mcmc, kernel


def small_boltzmann():
    model, args, _ = boltzmann.make(NUM_UNITS, COUPLING)
    reference = boltzmann.reference(NUM_UNITS, COUPLING)
    return models.Posterior("bm6", "", model, args, {}, reference)


def boltzmann_check(**discrete):
    posterior = small_boltzmann()
    mcmc, kernel = run(posterior.model, *posterior.args, discrete=discrete)
    draws = posterior.stan_draws(mcmc.get_samples(group_by_chain=True))
    return models.compare(draws, posterior.reference, sd_tol=np.inf), mcmc, kernel


# -- the construction -------------------------------------------------------------------------
def transition_matrix(potentials, binary, tau):
    """The exact kernel of one unit's step on the states (v, c) (by enumeration)."""
    k = potentials.shape[0]
    states = [(v, c) for v in range(k) for c in range(tau + 1)]
    index = {s: i for i, s in enumerate(states)}
    logits = np.asarray(neuron.firing_logits(jnp.asarray(potentials), binary, np.log(tau)))
    outcome = np.exp(logits - logits.max())
    outcome /= outcome.sum()
    matrix = np.zeros((len(states), len(states)))
    for (v, c), i in index.items():
        if c >= 2:
            matrix[i, index[(v, c - 1)]] = 1.0
            continue
        for new, prob in enumerate(outcome):
            fired = (not binary) or new == 1
            matrix[i, index[(new, tau if fired else 0)]] += prob
    return states, matrix


def stationary(states, p, binary, tau):
    """pi(v, c) = p(v) q(c | v)."""
    pi = np.zeros(len(states))
    for i, (v, c) in enumerate(states):
        if binary and v == 0:
            pi[i] = p[v] * (c == 0)
        else:
            pi[i] = p[v] / tau * (1 <= c <= tau)
    return pi


@pytest.mark.parametrize("tau", [1, 3])
@pytest.mark.parametrize("num_values", [2, 4])
def test_one_unit_step_keeps_the_target_invariant(num_values, tau):
    potentials = np.array([0.3, -1.2, 0.8, 2.0])[:num_values]  # l(s = k, rest)
    p = np.exp(potentials - potentials.max())
    p /= p.sum()
    binary = num_values == 2
    states, matrix = transition_matrix(potentials, binary, tau)
    pi = stationary(states, p, binary, tau)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(pi @ matrix, pi, atol=1e-6)


def test_potentials_from_the_current_density_match_a_full_evaluation():
    weights = jnp.array([[0.0, 1.0, -0.5], [1.0, 0.0, 0.7], [-0.5, 0.7, 0.0]])

    def log_density(values):  # three units with 2, 3 and 4 values
        x = values.astype(jnp.float32)
        return 0.5 * x @ weights @ x + jnp.sin(x).sum()

    values = jnp.array([1, 2, 0])
    for unit, k in enumerate([2, 3, 4]):
        full = neuron.membrane_potentials(log_density, values, unit, k, 4)
        fast = neuron.membrane_potentials_from(log_density(values), log_density, values, unit, k, 4)
        np.testing.assert_allclose(full, fast, rtol=1e-6)


# -- exactness ------------------------------------------------------------------------------
def test_boltzmann_machine_is_exact_and_the_synchronous_rule_fails_the_same_check():
    exact, _, _ = boltzmann_check()
    broken, _, _ = boltzmann_check(update="synchronous")
    assert exact.passed, exact.table()
    assert not broken.passed and broken.max_abs_z > 8.0, broken.table()


def test_refractory_period_keeps_the_chain_exact_and_rates_follow_probabilities():
    result, mcmc, kernel = boltzmann_check(refractory_steps=4, step_ms=2.0)
    assert result.passed, result.table()
    rec = discrete_neural.from_fields(mcmc.get_extra_fields(group_by_chain=True), kernel)
    rates = rec.spikes.mean(axis=0) / (rec.step_ms / 1000.0)
    marginals = [p.mean for p in result.params[:NUM_UNITS]]  # s[1..6] come first
    predicted = discrete_neural.predicted_rates_hz(marginals, 4, 2.0)
    np.testing.assert_allclose(rates, predicted, rtol=0.15)
    # a spike holds the value 4 steps: no neuron fires twice within 4 steps
    times, neurons = rec.spike_times()
    for n in range(rec.num_neurons):
        assert np.all(np.diff(np.sort(times[neurons == n])) > 3 * rec.step_ms)


def mixed_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
    c = numpyro.sample("c", dist.Categorical(jnp.ones(3) / 3))
    numpyro.deterministic("shift", mu + c)
    numpyro.sample("y", dist.Normal(mu + c, 1.0), obs=y)


def mixed_reference(y):
    """mu ~ N(0, 9), c uniform on {0, 1, 2}: p(c | y) ∝ N(y; c, sqrt 10), and
    mu | c, y ~ N(0.9 (y - c), 0.9)."""
    c = np.arange(3)
    pc = norm.pdf(y, c, np.sqrt(10.0))
    pc /= pc.sum()
    means = 0.9 * (y - c)
    mean = pc @ means
    sd = np.sqrt(0.9 + pc @ means**2 - mean**2)
    ref = {"mu": {"mean": mean, "sd": sd}}
    for k in range(3):
        ref[f"c_is_{k}"] = {"mean": pc[k], "sd": np.sqrt(pc[k] * (1 - pc[k]))}
    return ref


def test_continuous_and_discrete_sites_together_are_exact_and_spikes_cover_both():
    y = 2.5
    mcmc, kernel = run(mixed_model, jnp.array(y), num_warmup=500, num_samples=2000)
    samples = mcmc.get_samples(group_by_chain=True)
    draws = {"mu": samples["mu"]}
    for k in range(3):
        draws[f"c_is_{k}"] = (samples["c"] == k).astype(float)
    result = models.compare(draws, mixed_reference(y))
    assert result.passed, result.table()
    np.testing.assert_allclose(samples["shift"], samples["mu"] + samples["c"], rtol=1e-5)
    idata = az.from_numpyro(mcmc)
    assert {"mu", "c", "shift"} <= set(idata.posterior.data_vars)
    assert idata.posterior["c"].shape == (4, 2000)
    # per-draw spikes: the whole network's, and the units' own
    fields = mcmc.get_extra_fields(group_by_chain=True)
    total, discrete = np.asarray(fields["num_spikes"]), np.asarray(fields["discrete.num_spikes"])
    assert np.all(total >= discrete) and np.any(total > discrete)
    assert np.all(discrete == 1)  # a free winner-take-all group fires one spike per step
    rec = discrete_neural.from_fields(fields, kernel)
    assert rec.spikes.shape == (2000, 3) and rec.names == ["c=0", "c=1", "c=2"]
    np.testing.assert_array_equal(rec.spikes.argmax(axis=1), samples["c"][0])
    # the continuous network given the chain's units: W from the Hessian of -l(x | v)
    _, weights = kernel.get_network(kernel.chain(mcmc.last_state, 0))
    assert weights.shape == (1, 1) and float(weights[0, 0]) < 0
    with pytest.raises(ValueError, match="discrete sites"):
        kernel.logdensity_and_grad()(jnp.zeros(1))


def binomial_and_categories():
    n = numpyro.sample("n", dist.Binomial(4, 0.3))  # a winner-take-all group of 5 neurons
    numpyro.sample("y", dist.Normal(n, 1.0), obs=2.0)
    with numpyro.plate("items", 3):
        c = numpyro.sample("c", dist.Categorical(jnp.array([0.2, 0.5, 0.3])))
        numpyro.sample("obs", dist.Normal(c, 0.8), obs=jnp.array([0.0, 1.2, 2.1]))


def test_binomial_and_categorical_sites_in_a_plate_are_exact():
    mcmc, kernel = run(binomial_and_categories, num_samples=2000)
    samples = mcmc.get_samples(group_by_chain=True)
    assert kernel.discrete_layout.num_units == 4
    assert list(kernel.discrete_layout.num_values) == [5, 3, 3, 3]
    pn = binom.pmf(np.arange(5), 4, 0.3) * norm.pdf(2.0, np.arange(5), 1.0)
    pn /= pn.sum()
    reference = {"n": {"mean": pn @ np.arange(5), "sd": 1.0}}
    draws = {"n": samples["n"]}
    for i, obs in enumerate([0.0, 1.2, 2.1]):
        pc = np.array([0.2, 0.5, 0.3]) * norm.pdf(obs, np.arange(3), 0.8)
        pc /= pc.sum()
        reference[f"c{i}"] = {"mean": pc @ np.arange(3), "sd": 1.0}
        draws[f"c{i}"] = samples["c"][..., i]
    result = models.compare(draws, reference, sd_tol=np.inf)
    assert result.passed, result.table()


# -- NumPyro, ArviZ and the neural lens -------------------------------------------------------
def test_discrete_only_model_through_mcmc_and_arviz_in_chain_batches():
    posterior = small_boltzmann()
    mcmc, kernel = run(
        posterior.model, *posterior.args, num_samples=200, num_warmup=50, chain_batch_size=2
    )
    idata = az.from_numpyro(mcmc)
    assert {"s", "pairs"} <= set(idata.posterior.data_vars)
    fields = mcmc.get_extra_fields(group_by_chain=True)
    stats = idata.sample_stats
    assert float(stats["acceptance_rate"].min()) == 1.0  # no Metropolis step: nothing rejected
    np.testing.assert_array_equal(stats["num_spikes"], fields["discrete.num_spikes"])
    assert int(stats["num_grad_evals"].max()) == 0
    assert not bool(np.any(fields["frozen"]))  # the units move, though x has no dimension
    # tau = 1: a binary unit's spike train is its state
    rec = discrete_neural.from_fields(fields, kernel, chain=1)
    np.testing.assert_array_equal(rec.spikes, np.asarray(mcmc.get_samples(True)["s"][1]))
    assert rec.names[:2] == ["s[0]", "s[1]"]


def test_cross_chain_adaptation_resume_and_initial_values():
    mcmc, _ = run(
        mixed_model,
        jnp.array(1.0),
        num_warmup=50,
        num_samples=20,
        adaptation="cross_chain",
        find_heuristic_step_size=True,
    )
    mcmc.post_warmup_state = mcmc.last_state
    mcmc.run(mcmc.post_warmup_state.rng_key, jnp.array(1.0))
    assert mcmc.get_samples()["c"].shape == (80,)
    kernel = SpikingKernel(mixed_model)
    state = kernel.init(
        jax.random.PRNGKey(0), 0, {"c": jnp.array(2), "mu": jnp.array(0.5)}, (jnp.array(1.0),)
    )
    assert int(state.z["c"]) == 2 and float(state.z["mu"]) == 0.5


def test_layout_round_trip():
    def model():
        numpyro.sample("b", dist.Bernoulli(0.3).expand([2, 3]).to_event(1))
        numpyro.sample("u", dist.DiscreteUniform(3, 6))
        numpyro.sample("h", dist.Categorical(jnp.ones(3) / 3).expand([2]))

    trace = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace()
    layout = layouts.from_trace(trace, ["b", "u", "h"])
    assert layout.num_units == 9 and list(layout.num_values) == [2] * 6 + [4, 3, 3]
    values = {name: trace[name]["value"] for name in layout.names}
    decoded = layout.decode(layout.encode(values))
    for name in layout.names:
        np.testing.assert_array_equal(decoded[name], values[name])
    assert int(layout.decode(jnp.array([0] * 6 + [2, 1, 0]))["u"]) == 5
    assert layout.num_neurons == 6 + 4 + 3 + 3
    assert layout.unit_names[0] == "b[0, 0]" and layout.unit_names[-1] == "h[1]"


# -- bad input --------------------------------------------------------------------------------
def test_bad_discrete_input_is_named():
    def binomials():
        numpyro.sample("n", dist.Binomial(jnp.array([2, 3]), 0.5))

    with pytest.raises(ModelError, match="'n'.*same support"):
        MCMC(SpikingKernel(binomials), num_warmup=1, num_samples=1, progress_bar=False).run(
            jax.random.PRNGKey(0)
        )
    with pytest.raises(ValueError, match="refractory_steps"):
        SpikingKernel(mixed_model, discrete={"refractory_steps": 0})
    with pytest.raises(TypeError, match="refractory"):
        SpikingKernel(mixed_model, discrete={"refractory": 2})
    with pytest.warns(InexactChainWarning, match="NOT exact"):
        SpikingKernel(mixed_model, discrete=DiscreteSettings(update="synchronous"))
