"""Many chains: cross-chain adaptation, chain batches, chain methods, sharding over devices."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from targets import (
    Y,
    always_accept,
    correlated_gaussian,
    gaussian_model,
    gaussian_reference,
    run_chains,
    run_split_and_whole,
    tiny_model,
)

import models
from spiking_mcmc import SpikingKernel
from spiking_mcmc.dynamics import hamiltonian as ham
from spiking_mcmc.warmup import step_size, welford

run = run_chains


# -- the pooled statistics --------------------------------------------------------------------
@pytest.mark.parametrize("dense", [False, True])
def test_pooled_welford_is_the_within_chain_covariance(dense):
    """M2 / (C (n - 1)) equals the mean of the chains' own sample covariances, whatever the
    spread between the chains' means."""
    rng = np.random.default_rng(0)
    num_chains, num_draws, dim = 6, 40, 3
    offsets = 10.0 * rng.normal(size=(num_chains, 1, dim))  # chains far apart
    draws = offsets + rng.normal(size=(num_chains, num_draws, dim))
    state = welford.init(num_chains, dim, dense, jnp.float32)
    for t in range(num_draws):
        state = welford.update(state, jnp.asarray(draws[:, t], jnp.float32))
    within = np.mean([np.cov(chain.T) for chain in draws], axis=0)
    covariance = welford.covariance(state)
    pooled_n = num_chains * (num_draws - 1) + 1
    expected = pooled_n / (pooled_n + 5) * within + 1e-3 * 5 / (pooled_n + 5) * np.eye(dim)
    expected = expected if dense else np.diag(expected)
    np.testing.assert_allclose(covariance, expected, rtol=1e-4, atol=1e-5)


def test_one_stuck_chain_pulls_the_pooled_acceptance_down():
    accept = jnp.full(64, 0.8).at[7].set(0.0)
    assert float(jnp.mean(accept)) > 0.78
    assert float(step_size.harmonic_mean_acceptance(accept)) < 0.1
    assert float(step_size.harmonic_mean_acceptance(jnp.full(8, 0.6))) == pytest.approx(0.6)


# -- chain methods and batches ----------------------------------------------------------------
@pytest.mark.parametrize("dynamics", ["hamiltonian", "poisson"])
def test_same_per_chain_keys_give_the_same_draws_in_every_chain_method(dynamics):
    """Without warmup (which amplifies float rounding chaotically) sequential, parallel,
    vectorised and batched-vectorised chains make the same draws from the same keys."""
    draws = {}
    for method, batch in [
        ("sequential", None),
        ("parallel", None),
        ("vectorized", None),
        ("vectorized", 2),
    ]:
        kernel = SpikingKernel(tiny_model, dynamics=dynamics, step_size=0.3, chain_batch_size=batch)
        mcmc = run(kernel, num_warmup=0, num_samples=200, num_chains=3, method=method, y=Y)
        draws[(method, batch)] = np.asarray(mcmc.get_samples(group_by_chain=True)["mu"])
    reference = draws[("sequential", None)]
    assert np.std(reference[:, 1:] != reference[:, :-1]) > 0  # the chains moved
    for key, value in draws.items():
        np.testing.assert_allclose(value, reference, atol=1e-5, err_msg=str(key))


def test_chain_batches_give_the_draws_of_all_chains_at_once(precision):
    def draws(batch):
        kernel = SpikingKernel(tiny_model, adaptation="cross_chain", chain_batch_size=batch)
        # data in the precision's dtype: jax's caches do not tell f32 from f64 numpy inputs
        return run(kernel, 50, 50, num_chains=6, y=jnp.asarray(Y)).get_samples()["mu"]

    np.testing.assert_allclose(draws(4), draws(None), atol=1e-4)


def test_cross_chain_shares_one_network_and_steps_in_lock_step(precision):
    kernel = SpikingKernel(tiny_model, adaptation="cross_chain")
    mcmc = run(kernel, num_warmup=150, num_samples=100, num_chains=8, y=jnp.asarray(Y))
    state = mcmc.last_state
    assert jnp.ndim(state.adapt_state.step_size) == 0  # one step size for all chains
    assert jnp.ndim(state.adapt_state.tuning.log_length) == 0  # one trajectory length
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
    assert np.all(steps == steps[:1])  # every chain made the same number of leapfrog steps
    assert steps.std() > 0  # ... which is jittered from draw to draw
    one = kernel.chain(state, 3)
    np.testing.assert_array_equal(one.z["mu"], state.z["mu"][3])
    network, _ = kernel.get_network(one, hessian=False)
    assert network.decoders.shape == (2, 2)


def standard_normal():
    import numpyro
    import numpyro.distributions as dist

    numpyro.sample("x", dist.Normal(0.0, 1.0))


@pytest.mark.parametrize("trajectory_length", [2.0, 3.0])
def test_shared_draws_are_independent_of_the_first_chains_own(trajectory_length):
    """One chain under cross-chain warmup, fixed settings, N(0, 1): the shared draws (step
    jitter, duration) must not be chain 0's own momentum draws. When they were (a shared key
    equal to chain 0's fold_in(key, 1)), long durations came with large momenta and 20,000
    draws had mean -0.28 (batch-means z = -111, T = 2) and E[x^2] - 1 = -0.64 (z = -89, T = 3).
    Both must be within 4 batch-means standard errors (50 batches) of 0 and 1."""
    kernel = SpikingKernel(
        standard_normal,
        adaptation="cross_chain",
        step_size=0.25,
        adapt_step_size=False,
        trajectory_length=trajectory_length,
        adapt_trajectory_length=False,
        adapt_mass_matrix=False,
    )
    mcmc = run(kernel, 0, 20_000, 1, init_params={"x": jnp.asarray(0.3)})
    x = np.asarray(mcmc.get_samples()["x"], np.float64)
    for statistic in (x, x**2 - 1.0):
        batches = statistic.reshape(50, -1).mean(axis=1)
        z = statistic.mean() / (batches.std(ddof=1) / np.sqrt(50))
        assert abs(z) < 4.0, (trajectory_length, statistic.mean(), z)


def test_cross_chain_run_resumes_from_its_pickled_last_state():
    """The shared adaptation (no chain axis) survives pickling and MCMC's post_warmup_state."""
    joined, whole, state = run_split_and_whole(
        lambda: SpikingKernel(tiny_model, adaptation="cross_chain")
    )
    assert jnp.ndim(state.adapt_state.step_size) == 0
    np.testing.assert_allclose(joined, whole, rtol=1e-6)


def test_cross_chain_outside_vectorized_chains_warns():
    kernel = SpikingKernel(tiny_model, adaptation="cross_chain")
    with pytest.warns(UserWarning, match="cross_chain"):
        kernel.init(jax.random.PRNGKey(0), 10, model_args=(), model_kwargs={"y": Y})


@pytest.mark.parametrize(
    "options, match",
    [
        ({"adaptation": "pooled"}, "adaptation must be one of"),
        ({"chain_batch_size": 0}, "chain_batch_size"),
        ({"chain_devices": []}, "chain_devices is empty"),
    ],
)
def test_bad_many_chain_settings_are_named(options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        SpikingKernel(tiny_model, **options)


def test_chains_that_do_not_split_over_the_devices_are_refused():
    kernel = SpikingKernel(tiny_model, chain_devices=jax.devices() * 2)
    with pytest.raises(ValueError, match="multiple of the number of chain_devices"):
        kernel.init(jax.random.split(jax.random.PRNGKey(0), 3), 10, None, (), {"y": Y})


# -- exactness --------------------------------------------------------------------------------
def gaussian_check(dynamics, adaptation, num_chains, num_warmup, num_samples, method="vectorized"):
    mean, cov = correlated_gaussian()
    kernel = SpikingKernel(
        gaussian_model(mean, cov), dynamics=dynamics, dense_mass=True, adaptation=adaptation
    )
    mcmc = run(kernel, num_warmup, num_samples, num_chains, method=method)
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    draws = {f"x[{i + 1}]": x[..., i] for i in range(x.shape[-1])}
    return models.compare(draws, gaussian_reference(mean, cov), sd_z_max=4.0)


CASES = {  # (dynamics, adaptation, chains, warmup, draws, chain method)
    "hamiltonian-sequential": ("hamiltonian", "per_chain", 4, 500, 1000, "sequential"),
    "hamiltonian-vectorized": ("hamiltonian", "per_chain", 4, 500, 1000, "vectorized"),
    "hamiltonian-cross-chain": ("hamiltonian", "cross_chain", 64, 200, 100, "vectorized"),
    "poisson-cross-chain": ("poisson", "cross_chain", 64, 1000, 500, "vectorized"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_chain_method_is_exact(case):
    """Each way of running chains passes the same check (means within 4 MCSE of the truth, sds
    within 10%, R-hat <= 1.01): statistically they are the same sampler."""
    result = gaussian_check(*CASES[case])
    assert result.passed, result.table()
    assert min(p.ess_bulk for p in result.params) > 1000  # the sd check has power


@pytest.mark.slow
def test_cross_chain_without_metropolis_step_fails_the_check(monkeypatch):
    monkeypatch.setattr(ham, "metropolis_hastings", always_accept)
    result = gaussian_check(*CASES["hamiltonian-cross-chain"])
    assert not result.passed, result.table()


SHARDED_RUN = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    from numpyro.infer import MCMC
    from targets import correlated_gaussian, gaussian_model, gaussian_reference
    from spiking_mcmc import SpikingKernel
    import models

    mean, cov = correlated_gaussian()
    kernel = SpikingKernel(gaussian_model(mean, cov), dense_mass=True,
                           adaptation="cross_chain", chain_devices=jax.devices())
    mcmc = MCMC(kernel, num_warmup=200, num_samples=100, num_chains=64,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0))
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    result = models.compare({f"x[{i + 1}]": x[..., i] for i in range(x.shape[-1])},
                            gaussian_reference(mean, cov))
    sharding = mcmc.last_state.z["x"].sharding
    print(json.dumps({"devices": len(jax.devices()),
                      "chain_devices": len(sharding.device_set),
                      "spec": str(sharding.spec),
                      "passed": bool(result.passed),
                      "min_ess": min(p.ess_bulk for p in result.params),
                      "table": result.table()}))
    """
)


@pytest.mark.slow
def test_chains_sharded_over_four_host_devices_are_exact():
    """64 chains on 4 CPU devices (XLA's host platform device count): the chain axis is split
    over the devices, the shared adaptation is an all-reduce, and the draws pass the check."""
    import json

    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    out = subprocess.run(
        [sys.executable, "-c", SHARDED_RUN], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4 and report["chain_devices"] == 4, report
    assert "chains" in report["spec"], report
    assert report["passed"], report["table"]
    assert report["min_ess"] > 1000


def test_chain_batch_size_bounds_the_working_memory_of_a_transition():
    """1024 chains of a 2000-point logistic regression: XLA's temporary buffers for one
    transition shrink by the batch's share when 16 chains advance at a time."""
    import numpyro
    import numpyro.distributions as dist

    data = np.random.default_rng(0).normal(size=(2000, 5))
    labels = (data[:, 0] > 0).astype(np.float32)

    def logistic(data, labels):
        beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([5]))
        numpyro.sample("labels", dist.Bernoulli(logits=data @ beta), obs=labels)

    def temp_bytes(batch):
        kernel = SpikingKernel(logistic, adaptation="cross_chain", chain_batch_size=batch)
        keys = jax.random.split(jax.random.PRNGKey(0), 1024)
        state = kernel.init(keys, 100, None, (data, labels), {})
        step = jax.jit(lambda s: kernel.sample(s, (data, labels), {}))
        return step.lower(state).compile().memory_analysis().temp_size_in_bytes

    whole, batched = temp_bytes(None), temp_bytes(16)
    assert whole > 1024 * 2000 * 4  # at least one float per chain and data point
    assert batched < whole / 16
