"""Integrate-and-fire Hamiltonian network: reversibility, volume, exactness, HMC limit, fields."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import HMC, MCMC
from numpyro.infer.hmc_util import IntegratorState, euclidean_kinetic_energy, velocity_verlet
from targets import (
    Y,
    always_accept,
    correlated_gaussian,
    gaussian_model,
    gaussian_reference,
    run_split_and_whole,
    tiny_model,
)

import models
from spiking_mcmc import SpikingKernel
from spiking_mcmc.dynamics import hamiltonian as ham
from spiking_mcmc.dynamics import registry
from spiking_mcmc.dynamics.base import PositionState, TransitionInfo
from spiking_mcmc.metric import Metric


def run(kernel, num_warmup=1000, num_samples=2000, num_chains=4, seed=0, **kw):
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), **kw)
    return mcmc


def site_draws(mcmc, site="x"):
    x = np.asarray(mcmc.get_samples(group_by_chain=True)[site])
    return {f"{site}[{i + 1}]": x[..., i] for i in range(x.shape[-1])}


# -- the integrator (float64) -----------------------------------------------------------------
def banana_logdensity(x):
    """A non-Gaussian target with a dense Hessian."""
    return (
        -0.5 * jnp.sum(x**2)
        - 0.1 * jnp.sum(x**4)
        + 0.3 * jnp.sum(jnp.sin(x[:-1] * x[1:]))
        - 0.5 * (x[0] + 0.5 * x[-1] ** 2) ** 2
    )


def random_problem(seed, dim=4, quantum_ratio=0.5, dense=True):
    """A random state (x, p, v), a metric L, step eps and quantum q (float64)."""
    rng = np.random.default_rng(seed)
    step = 0.2
    quantum = quantum_ratio * step
    if dense:
        lower = np.tril(rng.normal(size=(dim, dim)) * 0.3, -1) + np.diag(rng.uniform(0.5, 1.5, dim))
        factor = Metric(jnp.asarray(np.sqrt(np.diag(lower @ lower.T))), jnp.asarray(lower))
    else:
        factor = Metric(jnp.asarray(rng.uniform(0.5, 1.5, dim)))
    x = jnp.asarray(rng.normal(size=dim))
    p = jnp.asarray(rng.normal(size=dim))
    v = jnp.asarray(rng.uniform(-0.5 * quantum, 0.5 * quantum, size=dim))
    return x, p, v, factor, step, quantum


def start(logdensity, x, p, v):
    value, grad = jax.value_and_grad(logdensity)(x)
    return ham.start_trajectory(PositionState(x, value, grad), p, v)


def there_and_back(logdensity, x, p, v, factor, step, quantum, num_steps, back_flipped=True):
    """num_steps forward, flip (p, v), num_steps forward (ties broken the other way)."""
    grad_fn = jax.value_and_grad(logdensity)
    out = ham.integrate(start(logdensity, x, p, v), grad_fn, factor, step, quantum, num_steps)
    back = ham.start_trajectory(
        PositionState(out.position, out.log_density, out.grad_log_density),
        -out.momentum,
        -out.membrane,
    )
    back = ham.integrate(back, grad_fn, factor, step, quantum, num_steps, flipped=back_flipped)
    return out, back


@pytest.mark.parametrize("quantum_ratio", [0.01, 0.1, 0.5, 2.0, 10.0])
@pytest.mark.parametrize("dense", [True, False])
def test_leapfrog_with_spikes_is_reversible(quantum_ratio, dense):
    """L steps, flip (p, v) -> (-p, -v), L steps: back at the start within 1e-10."""
    with jax.enable_x64(True):
        for seed in range(4):
            x, p, v, factor, step, quantum = random_problem(seed, 4, quantum_ratio, dense)
            out, back = there_and_back(banana_logdensity, x, p, v, factor, step, quantum, 25)
            assert int(out.on_spikes.sum() + out.off_spikes.sum()) > 0
            assert float(jnp.max(jnp.abs(out.position - x))) > 0.1  # it went somewhere
            np.testing.assert_allclose(back.position, x, rtol=0, atol=1e-10)
            np.testing.assert_allclose(-back.momentum, p, rtol=0, atol=1e-10)
            np.testing.assert_allclose(-back.membrane, v, rtol=0, atol=1e-10)


def test_reversible_at_an_exact_rounding_tie():
    """Dyadic numbers make the drive land exactly on c/q = k + 1/2 (residual -q/2). The
    reversed pass must round those ties the other way (ceil(c/q - 1/2)); floor(c/q + 1/2) on
    both passes does not come back."""

    def gaussian(x):
        return -0.5 * jnp.sum(x**2)

    with jax.enable_x64(True):
        x = jnp.array([-1.5, 0.75])
        p = jnp.array([0.5, -0.25])
        v = jnp.array([0.0, -0.125])  # second membrane starts on the boundary -q/2
        factor = Metric(jnp.ones(2))
        step, quantum = 0.5, 0.25
        drive = v + 0.5 * step * jax.grad(gaussian)(x)
        assert float(drive[0] / quantum) == 1.5  # the first kick is an exact tie
        out, back = there_and_back(gaussian, x, p, v, factor, step, quantum, 3)
        assert np.any(np.asarray(out.membrane) == -0.5 * quantum)  # a tie left it on the edge
        np.testing.assert_array_equal(back.position, x)
        np.testing.assert_array_equal(-back.momentum, p)
        np.testing.assert_array_equal(-back.membrane, v)
        _, wrong = there_and_back(gaussian, x, p, v, factor, step, quantum, 3, back_flipped=False)
        came_back = [
            np.allclose(wrong.position, x, atol=1e-3),
            np.allclose(-wrong.momentum, p, atol=1e-3),
            np.allclose(-wrong.membrane, v, atol=1e-3),
        ]
        assert not all(came_back)


@pytest.mark.parametrize("seed", range(3))
def test_leapfrog_with_spikes_preserves_volume(seed):
    """Central-difference Jacobian of (x, p, v) -> L steps: determinant 1, and equal to the
    autodiff Jacobian (so no rounding boundary was crossed by the finite differences)."""
    with jax.enable_x64(True):
        dim, num_steps = 3, 6
        x, p, v, factor, step, quantum = random_problem(10 + seed, dim, 0.5, dense=True)
        grad_fn = jax.value_and_grad(banana_logdensity)

        def leapfrog_map(z):
            out = ham.integrate(
                start(banana_logdensity, z[:dim], z[dim : 2 * dim], z[2 * dim :]),
                grad_fn,
                factor,
                step,
                quantum,
                num_steps,
            )
            return jnp.concatenate([out.position, out.momentum, out.membrane])

        z = jnp.concatenate([x, p, v])
        assert int(jnp.sum(jnp.abs(leapfrog_map(z)[dim : 2 * dim] - p)) / quantum) > 0
        h = 1e-6
        columns = [
            (leapfrog_map(z + h * e) - leapfrog_map(z - h * e)) / (2 * h) for e in np.eye(3 * dim)
        ]
        numeric = np.stack(columns, axis=1)
        np.testing.assert_allclose(numeric, jax.jacfwd(leapfrog_map)(z), atol=1e-6)
        assert abs(np.linalg.det(numeric) - 1.0) < 1e-6


def test_spikes_carry_the_momentum_and_membranes_stay_in_range():
    """p changes by q (ON - OFF) exactly; p + v changes as HMC momentum; |v| <= q/2."""
    with jax.enable_x64(True):
        x, p, v, factor, step, quantum = random_problem(3, 5, 0.5)
        grad_fn = jax.value_and_grad(banana_logdensity)
        traj = start(banana_logdensity, x, p, v)
        force_sum = jnp.zeros_like(x)
        for _ in range(10):
            force_before = factor.whiten_gradient(traj.grad_log_density)
            traj = ham.leapfrog_step(traj, grad_fn, factor, step, quantum)
            force_after = factor.whiten_gradient(traj.grad_log_density)
            force_sum = force_sum + 0.5 * step * (force_before + force_after)
            assert bool(jnp.all((traj.membrane >= -quantum / 2) & (traj.membrane < quantum / 2)))
        net = (traj.on_spikes - traj.off_spikes).astype(x.dtype)
        np.testing.assert_allclose(traj.momentum - p, quantum * net, atol=1e-12)
        np.testing.assert_allclose(
            traj.momentum + traj.membrane - (p + v), force_sum, rtol=0, atol=1e-12
        )


def test_vanishing_quantum_is_the_leapfrog_of_numpyro_hmc():
    """q = 1e-9 eps: the spiking trajectory is NumPyro's velocity Verlet with M^-1 = L L^T."""
    with jax.enable_x64(True):
        x, p, v, factor, step, quantum = random_problem(5, 4, 1e-9)
        grad_fn = jax.value_and_grad(banana_logdensity)
        out = ham.integrate(start(banana_logdensity, x, p, v), grad_fn, factor, step, quantum, 30)

        def potential(z):
            return -banana_logdensity(z)

        lower = factor.matrix()
        covariance = lower @ lower.T
        init_fn, update_fn = velocity_verlet(
            potential, lambda inverse_mass, r: euclidean_kinetic_energy(inverse_mass, r)
        )
        # whitened momentum w = p + v is L^T r for NumPyro's momentum r (velocity M^-1 r = L w)
        r = jnp.linalg.solve(lower.T, p + v)
        state = init_fn(x, r)
        for _ in range(30):
            state = update_fn(step, covariance, state)
        assert isinstance(state, IntegratorState)
        np.testing.assert_allclose(out.position, state.z, atol=1e-7)
        np.testing.assert_allclose(out.momentum + out.membrane, lower.T @ state.r, atol=1e-7)


# -- the transition ---------------------------------------------------------------------------
def test_transition_fields_are_consistent():
    settings = ham.HamiltonianSettings()
    params = ham.build(settings, Metric(jnp.ones(3)), 0.3)
    grad_fn = jax.value_and_grad(banana_logdensity)
    x = jnp.array([0.3, -0.2, 0.5])
    value, grad = grad_fn(x)
    state = PositionState(x, value, grad)
    step = jax.jit(lambda k: ham.transition(k, state, grad_fn, params))
    keys = jax.random.split(jax.random.PRNGKey(0), 50)
    new, info = jax.vmap(step)(keys)
    assert ham.HamiltonianInfo._fields[: len(TransitionInfo._fields)] == TransitionInfo._fields
    assert info.spike_counts.shape == (50, 2, 3)
    np.testing.assert_array_equal(info.spike_counts.sum(axis=(1, 2)), info.num_spikes)
    np.testing.assert_array_equal(info.num_steps, info.num_grad_evals)
    # eps in [0.24, 0.36], time in [1, 2]: n = ceil(time / eps) in [3, 9]
    assert int(info.num_steps.min()) >= 3 and int(info.num_steps.max()) <= 9
    np.testing.assert_allclose(info.biological_time_ms, info.num_steps * settings.step_ms)
    assert 0.5 < float(info.accept_prob.mean()) <= 1.0
    assert not bool(info.diverging.any())
    moved = np.any(np.asarray(new.position) != np.asarray(x), axis=1)
    np.testing.assert_array_equal(moved, np.asarray(info.is_accepted))


def test_nonfinite_trajectory_is_rejected_and_diverging():
    def cliff(x):
        return jnp.where(x[0] > 0.5, jnp.nan, -0.5 * jnp.sum(x**2))

    params = ham.build(ham.HamiltonianSettings(), Metric(jnp.ones(2)), 0.5)
    grad_fn = jax.value_and_grad(cliff)
    x = jnp.array([0.4, 0.0])
    value, grad = grad_fn(x)
    state = PositionState(x, value, grad)
    keys = jax.random.split(jax.random.PRNGKey(1), 40)
    new, info = jax.vmap(lambda k: ham.transition(k, state, grad_fn, params))(keys)
    assert bool(info.diverging.any())
    assert not bool(info.is_accepted[info.diverging].any())
    assert bool(jnp.all(jnp.isfinite(new.log_density)))


# -- exactness (statistical) ------------------------------------------------------------------
def gaussian_check(dense_mass, num_samples=4000, **options):
    mean, cov = correlated_gaussian()
    kernel = SpikingKernel(
        gaussian_model(mean, cov), dynamics="hamiltonian", dense_mass=dense_mass, **options
    )
    mcmc = run(kernel, num_warmup=1000, num_samples=num_samples)
    return models.compare(site_draws(mcmc), gaussian_reference(mean, cov), sd_z_max=4.0), mcmc


@pytest.mark.slow
@pytest.mark.parametrize("dense_mass", [False, True])
def test_exact_on_correlated_gaussian(dense_mass):
    """Every mean within 4 MCSE of the truth, every sd within 10%, R-hat < 1.01."""
    result, mcmc = gaussian_check(dense_mass)
    assert result.passed, result.table()
    assert min(p.ess_bulk for p in result.params) > 1000  # the sd check has power
    assert float(az.rhat(np.asarray(mcmc.get_samples(group_by_chain=True)["x"])).max()) < 1.01
    extra = mcmc.get_extra_fields()
    assert int(extra["diverging"].sum()) == 0


@pytest.mark.slow
def test_without_metropolis_step_the_check_fails(monkeypatch):
    """The same check with every (finite) proposal accepted must fail."""

    monkeypatch.setattr(ham, "metropolis_hastings", always_accept)
    result, _ = gaussian_check(dense_mass=True)
    assert not result.passed, result.table()


@pytest.mark.slow
def test_eight_schools_noncentered_matches_reference():
    posterior = models.load("eight_schools-eight_schools_noncentered")
    mcmc = run(
        SpikingKernel(posterior.model, dynamics="hamiltonian", dense_mass=True),
        num_samples=5000,
        J=posterior.args[0],
        sigma=posterior.args[1],
        **posterior.kwargs,
    )
    result = models.compare(
        posterior.stan_draws(mcmc.get_samples(group_by_chain=True)), posterior.reference
    )
    assert result.passed, result.table()


@pytest.mark.slow
def test_vanishing_quantum_matches_numpyro_hmc():
    """spike_quantum = 1e-3: means and sds agree with NumPyro's HMC within Monte-Carlo error."""
    mean, cov = correlated_gaussian()
    model = gaussian_model(mean, cov)
    ours = run(
        SpikingKernel(model, dynamics="hamiltonian", dense_mass=True, spike_quantum=1e-3),
        num_samples=4000,
    )
    hmc = run(HMC(model, dense_mass=True, trajectory_length=1.5), num_samples=4000, seed=1)
    hmc_draws = site_draws(hmc)
    reference = {
        name: {
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)),
            "n_draws": float(az.ess(x, method="bulk")),
        }
        for name, x in hmc_draws.items()
    }
    result = models.compare(site_draws(ours), reference)
    assert result.passed, result.table()
    spikes = ours.get_extra_fields()["num_spikes"]
    steps = ours.get_extra_fields()["num_steps"]
    assert float(spikes.sum() / steps.sum()) > 1000  # q -> 0: many tiny spikes per step


# -- warmup -----------------------------------------------------------------------------------
def test_trajectory_length_follows_the_scale_of_the_posterior():
    """Without covariance adaptation, a target 6x wider than the metric needs ~6x longer
    trajectories; with it, the learned length is O(1) whitened units."""

    def wide(scale):
        def model():
            numpyro.sample("x", dist.Normal(0.0, scale).expand([10]).to_event(1))

        return model

    lengths = {}
    for scale, adapt in ((6.0, False), (6.0, True)):
        kernel = SpikingKernel(wide(scale), dynamics="hamiltonian", adapt_mass_matrix=adapt)
        mcmc = run(kernel, num_warmup=500, num_samples=10, num_chains=2)
        lengths[adapt] = np.exp(np.asarray(mcmc.last_state.adapt_state.tuning.log_length))
    assert np.all(lengths[False] > 3.0), lengths
    assert np.all((lengths[True] > 0.4) & (lengths[True] < 2.5)), lengths


def test_fixed_trajectory_length_has_no_tuning_state():
    mean, cov = correlated_gaussian(dim=2)
    kernel = SpikingKernel(
        gaussian_model(mean, cov),
        dynamics="hamiltonian",
        adapt_trajectory_length=False,
        trajectory_length=0.5,
    )
    mcmc = run(kernel, num_warmup=100, num_samples=100, num_chains=1)
    assert mcmc.last_state.adapt_state.tuning is None
    steps = np.asarray(mcmc.get_extra_fields()["num_steps"])
    eps = float(mcmc.last_state.adapt_state.step_size)
    assert steps.max() <= np.ceil(1.0 / (0.8 * eps))


# -- the user's view --------------------------------------------------------------------------
def test_registered():
    assert "hamiltonian" in registry.names()
    assert registry.get("hamiltonian") is ham.DYNAMICS


def test_arviz_sample_stats_have_spike_statistics():
    mcmc = run(
        SpikingKernel(tiny_model, dynamics="hamiltonian", step_ms=2.0),
        num_warmup=300,
        num_samples=300,
        num_chains=2,
        y=Y,
    )
    stats = az.from_numpyro(mcmc)["sample_stats"]
    for name in ("num_spikes", "n_steps", "acceptance_rate", "biological_time_ms", "diverging"):
        assert name in stats, name
    assert stats["num_spikes"].shape == (2, 300)
    assert int(stats["num_spikes"].min()) > 0
    np.testing.assert_allclose(stats["biological_time_ms"], 2.0 * stats["n_steps"])
    assert 0.5 < float(stats["acceptance_rate"].mean()) <= 1.0


@pytest.mark.parametrize(
    "option, value",
    [
        ("spike_quantum", 0.0),
        ("spike_quantum", -1.0),
        ("spike_quantum", float("nan")),
        ("trajectory_length", 0.0),
        ("step_jitter", 1.0),
        ("step_jitter", -0.1),
        ("max_steps", 0),
        ("max_steps", 2.5),
        ("step_ms", 0.0),
        ("energy", "kinetic"),
        ("adapt_trajectory_length", "yes"),
        ("trajectory_learning_rate", 0.0),
    ],
)
def test_bad_settings_name_the_setting(option, value):
    with pytest.raises(ValueError, match=option):
        SpikingKernel(tiny_model, dynamics="hamiltonian", **{option: value})


def test_unknown_option_is_refused():
    with pytest.raises(TypeError, match="spike_size"):
        SpikingKernel(tiny_model, dynamics="hamiltonian", spike_size=0.5)


def test_resume_from_last_state_gives_the_same_draws():
    """400 draws in one run == 200 + 200 continued from the pickled last state (which carries
    the learned trajectory length)."""

    def kernel():
        return SpikingKernel(tiny_model, dynamics="hamiltonian")

    joined, whole, state = run_split_and_whole(kernel)
    assert state.adapt_state.tuning is not None
    np.testing.assert_allclose(joined, whole, rtol=1e-6)


def test_runs_in_float64():
    mean, cov = correlated_gaussian(dim=3, seed=4)
    with jax.enable_x64(True):
        kernel = SpikingKernel(gaussian_model(mean, cov), dynamics="hamiltonian", dense_mass=True)
        mcmc = run(kernel, num_warmup=300, num_samples=300, num_chains=2)
        x = mcmc.get_samples()["x"]
        assert x.dtype == jnp.float64
        assert mcmc.last_state.adapt_state.tuning.log_length.dtype == jnp.float64
        assert bool(jnp.all(jnp.isfinite(x)))


def test_network_of_the_if_dynamics_is_inspectable(tmp_path):
    """get_network works for the IF network too; a saved network restarts a kernel."""
    from spiking_mcmc import SpikingKernel

    def model():
        numpyro.sample("x", dist.MultivariateNormal(0.0, jnp.array([[1.0, 0.5], [0.5, 2.0]])))

    kernel = SpikingKernel(model, dynamics="hamiltonian", dense_mass=True)
    mcmc = MCMC(kernel, num_warmup=200, num_samples=10, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0))
    network, weights = kernel.get_network(mcmc.last_state)
    assert network.decoders.shape == (2, 2) and network.base_rate_hz == 0.0
    precision = jnp.linalg.inv(jnp.array([[1.0, 0.5], [0.5, 2.0]]))
    expected = -0.5 * network.decoders.T @ precision @ network.decoders
    assert jnp.allclose(weights, expected, rtol=1e-4, atol=1e-6)
    kernel.save_network(tmp_path / "if.npz", mcmc.last_state)
    again = SpikingKernel.from_saved(tmp_path / "if.npz", model=model, dense_mass=True)
    assert again.dynamics_name == "hamiltonian"
