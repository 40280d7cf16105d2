"""SpikingKernel inside NumPyro's MCMC: exactness, ArviZ, chain methods, determinism, resume."""

import functools

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from targets import (
    Y,
    correlated_gaussian,
    gaussian_model,
    gaussian_reference,
    run_chains,
    run_split_and_whole,
    tiny_model,
)

import models
from spiking_mcmc import SpikingKernel
from spiking_mcmc import network as net
from spiking_mcmc.dynamics import poisson

PoissonKernel = functools.partial(SpikingKernel, dynamics="poisson")


def run(kernel, num_warmup=500, num_samples=500, num_chains=2, method="vectorized", seed=0, **kw):
    return run_chains(kernel, num_warmup, num_samples, num_chains, method, seed, **kw)


def gaussian_check(dense_mass, num_samples=5000):
    mean, cov = correlated_gaussian()
    kernel = PoissonKernel(gaussian_model(mean, cov), dense_mass=dense_mass)
    mcmc = run(kernel, num_warmup=1000, num_samples=num_samples, num_chains=4)
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    draws = {f"x[{i + 1}]": x[..., i] for i in range(x.shape[-1])}
    return models.compare(draws, gaussian_reference(mean, cov), sd_z_max=4.0), mcmc


@pytest.mark.slow
@pytest.mark.parametrize("dense_mass", [False, True])
def test_exact_on_correlated_gaussian(dense_mass, precision):
    """Every mean within 4 MCSE (ArviZ) of the truth, every sd within 10%."""
    result, mcmc = gaussian_check(dense_mass)
    assert result.passed, result.table()
    assert min(p.ess_bulk for p in result.params) > 400  # the sd check has power
    assert float(az.rhat(np.asarray(mcmc.get_samples(group_by_chain=True)["x"])).max()) < 1.01


@pytest.mark.slow
def test_broken_acceptance_rule_fails_the_check(monkeypatch):
    """The same check, with the cosh term of the acceptance rule dropped, must fail."""

    def without_cosh(state, proposal, net_counts, u, u_new, expected_spikes):
        k = net_counts.astype(u.dtype)
        return proposal.log_density - state.log_density - jnp.sum(k * (u + u_new))

    monkeypatch.setattr(poisson, "log_accept_ratio", without_cosh)
    result, _ = gaussian_check(dense_mass=True)
    assert not result.passed


@pytest.mark.slow
def test_eight_schools_noncentered_matches_reference():
    posterior = models.load("eight_schools-eight_schools_noncentered")
    mcmc = run(
        PoissonKernel(posterior.model, dense_mass=True),
        num_warmup=5000,
        num_samples=25000,
        num_chains=4,
        **{"J": posterior.args[0], "sigma": posterior.args[1], **posterior.kwargs},
    )
    samples = mcmc.get_samples(group_by_chain=True)
    result = models.compare(posterior.stan_draws(samples), posterior.reference)
    assert result.passed, result.table()


def test_arviz_sample_stats_have_spike_statistics():
    mcmc = run(PoissonKernel(tiny_model), y=Y)
    idata = az.from_numpyro(mcmc)
    stats = idata["sample_stats"]
    for name in ("num_spikes", "acceptance_rate", "num_grad_evals", "diverging", "lp"):
        assert name in stats, name
    assert "biological_time_ms" in stats
    assert stats["num_spikes"].shape == (2, 500)
    assert float(stats["biological_time_ms"].mean()) == pytest.approx(10.0)
    assert float(idata["posterior"]["sigma"].min()) > 0.0  # constrained site, transformed back
    assert 0.2 < float(stats["acceptance_rate"].mean()) < 0.95


@pytest.mark.parametrize("method", ["sequential", "parallel", "vectorized"])
def test_chain_methods_give_draws_of_the_right_shape(method):
    mcmc = run(PoissonKernel(tiny_model), num_warmup=100, num_samples=200, method=method, y=Y)
    samples = mcmc.get_samples(group_by_chain=True)
    assert samples["mu"].shape == (2, 200)
    assert np.all(np.isfinite(np.asarray(samples["mu"])))
    again = run(PoissonKernel(tiny_model), num_warmup=100, num_samples=200, method=method, y=Y)
    np.testing.assert_array_equal(samples["mu"], again.get_samples(group_by_chain=True)["mu"])


def test_different_seeds_give_different_draws():
    a = run(PoissonKernel(tiny_model), num_warmup=50, num_samples=50, seed=0, y=Y)
    b = run(PoissonKernel(tiny_model), num_warmup=50, num_samples=50, seed=1, y=Y)
    assert not np.array_equal(a.get_samples()["mu"], b.get_samples()["mu"])


def test_potential_fn_with_init_params():
    def potential(params):
        return 0.5 * jnp.sum((params["a"] - 1.0) ** 2) + 0.5 * params["b"] ** 2 / 4.0

    init = {"a": jnp.zeros((2, 3)), "b": jnp.zeros(2)}  # two chains
    mcmc = run(PoissonKernel(potential_fn=potential), num_samples=2000, init_params=init)
    samples = mcmc.get_samples()
    assert samples["a"].shape == (4000, 3)
    assert abs(float(samples["a"].mean()) - 1.0) < 0.2
    assert abs(float(samples["b"].std()) - 2.0) < 0.4


def test_resume_from_last_state_gives_the_same_draws():
    """num_samples=400 in one run == 200 + 200 continued from mcmc.last_state (pickled)."""
    joined, whole, _ = run_split_and_whole(lambda: PoissonKernel(tiny_model))
    np.testing.assert_allclose(joined, whole, rtol=1e-6)


def test_network_is_inspectable_and_weights_match_the_gaussian_formula(tmp_path):
    """W = -1/2 D^T Lambda D for a Gaussian posterior; a saved network reloads identically."""
    mean, cov = correlated_gaussian(dim=3)
    kernel = PoissonKernel(gaussian_model(mean, cov), dense_mass=True)
    mcmc = run(kernel, num_warmup=300, num_samples=10, num_chains=1, method="sequential")
    state = mcmc.last_state
    network, weights = kernel.get_network(state)
    assert network.decoders.shape == (3, 3)
    assert network.base_rate_hz == 50.0 and network.window_ms == 10.0
    expected = -0.5 * network.decoders.T @ np.linalg.inv(cov) @ network.decoders
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)

    path = tmp_path / "net.npz"
    kernel.save_network(path, state)
    loaded, saved = net.load(path)
    np.testing.assert_allclose(loaded.decoders, network.decoders)
    resumed = SpikingKernel.from_saved(path, model=gaussian_model(mean, cov), dense_mass=True)
    a = run(resumed, num_warmup=0, num_samples=50, num_chains=1, method="sequential", seed=3)
    b = run(
        SpikingKernel.from_saved(path, model=gaussian_model(mean, cov), dense_mass=True),
        num_warmup=0,
        num_samples=50,
        num_chains=1,
        method="sequential",
        seed=3,
    )
    np.testing.assert_array_equal(a.get_samples()["x"], b.get_samples()["x"])
    assert float(a.last_state.adapt_state.step_size) == pytest.approx(float(saved["step_size"]))


def test_overcomplete_population_is_exact_and_has_more_neurons():
    mean, cov = correlated_gaussian(dim=3)
    kernel = PoissonKernel(gaussian_model(mean, cov), dense_mass=True, num_pairs=12)
    mcmc = run(kernel, num_warmup=1000, num_samples=4000, num_chains=2)
    network, _ = kernel.get_network(jax.tree.map(lambda x: x[0], mcmc.last_state), hessian=False)
    assert network.decoders.shape == (3, 12)
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    result = models.compare(
        {f"x[{i + 1}]": x[..., i] for i in range(3)}, gaussian_reference(mean, cov)
    )
    assert result.passed, result.table()


def test_arviz_imported_before_numpyro_still_converts_plate_models():
    """arviz_base's lazy numpyro import once broke az.from_numpyro on models with plates."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import arviz as az, jax\n"
        "from numpyro.infer import MCMC\n"
        "import models\n"
        "from spiking_mcmc import SpikingKernel\n"
        "p = models.load('eight_schools-eight_schools_noncentered')\n"
        "m = MCMC(SpikingKernel(p.model), num_warmup=5, num_samples=5, progress_bar=False)\n"
        "m.run(jax.random.PRNGKey(0), *p.args, **p.kwargs)\n"
        "print(az.from_numpyro(m)['posterior']['theta'].shape)\n"
    )
    root = str(Path(__file__).parents[1])  # the zoo (models/) is beside the package
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    assert "(1, 5, 8)" in out.stdout
