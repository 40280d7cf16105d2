"""Cortical network (population-coded integrate-and-fire Hamiltonian dynamics): reversibility,
volume, the conserved energy, the membrane law, exactness (and a broken variant that fails)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
from targets import Y, always_accept, correlated_gaussian, gaussian_reference, tiny_model

import models
from spiking_mcmc import SpikingKernel
from spiking_mcmc.dynamics import cortical, registry
from spiking_mcmc.dynamics import hamiltonian as ham
from spiking_mcmc.dynamics.base import PositionState, TransitionInfo
from spiking_mcmc.metric import Metric, from_covariance


def banana_logdensity(x):
    """A non-Gaussian target with a dense Hessian."""
    return (
        -0.5 * jnp.sum(x**2)
        - 0.1 * jnp.sum(x**4)
        + 0.3 * jnp.sum(jnp.sin(x[:-1] * x[1:]))
        - 0.5 * (x[0] + 0.5 * x[-1] ** 2) ** 2
    )


def random_problem(seed, dim=4, size=3, quantum=0.3, dense=True):
    """(x, p, u) with u in [-Kq/2, Kq/2)^(d K), a metric L, eps = 0.2 and q (float64)."""
    rng = np.random.default_rng(seed)
    if dense:
        lower = np.tril(rng.normal(size=(dim, dim)) * 0.3, -1) + np.diag(rng.uniform(0.5, 1.5, dim))
        metric = Metric(jnp.asarray(np.sqrt(np.diag(lower @ lower.T))), jnp.asarray(lower))
    else:
        metric = Metric(jnp.asarray(rng.uniform(0.5, 1.5, dim)))
    x = jnp.asarray(rng.normal(size=dim))
    p = jnp.asarray(rng.normal(size=dim))
    u = jnp.asarray(rng.uniform(-0.5 * size * quantum, 0.5 * size * quantum, (dim, size)))
    return x, p, u, metric, 0.2, quantum


def start(logdensity, x, p, u):
    value, grad = jax.value_and_grad(logdensity)(x)
    return cortical.start_trajectory(PositionState(x, value, grad), p, u)


def there_and_back(logdensity, x, p, u, metric, step, quantum, num_steps):
    """num_steps forward, flip (p, u), num_steps forward with ties broken the other way."""
    grad_fn = jax.value_and_grad(logdensity)
    out = cortical.integrate(start(logdensity, x, p, u), grad_fn, metric, step, quantum, num_steps)
    back = cortical.start_trajectory(
        PositionState(out.position, out.log_density, out.grad_log_density),
        -out.momentum,
        -out.membranes,
    )
    back = cortical.integrate(back, grad_fn, metric, step, quantum, num_steps, flipped=True)
    return out, back


# -- the integrator (float64) -----------------------------------------------------------------
@pytest.mark.parametrize("size, quantum", [(1, 0.05), (3, 0.3), (8, 0.1), (16, 1.0)])
@pytest.mark.parametrize("dense", [True, False])
def test_population_leapfrog_is_reversible(size, quantum, dense):
    """L steps, flip (p, u) -> (-p, -u), L steps: back at the start within 1e-10."""
    with jax.enable_x64(True):
        for seed in range(3):
            x, p, u, metric, step, q = random_problem(seed, 4, size, quantum, dense)
            out, back = there_and_back(banana_logdensity, x, p, u, metric, step, q, 25)
            assert int(out.on_spikes.sum() + out.off_spikes.sum()) > 0
            assert float(jnp.max(jnp.abs(out.position - x))) > 0.1
            np.testing.assert_allclose(back.position, x, rtol=0, atol=1e-10)
            np.testing.assert_allclose(-back.momentum, p, rtol=0, atol=1e-10)
            np.testing.assert_allclose(-back.membranes, u, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_population_leapfrog_preserves_volume(seed):
    """Central-difference Jacobian of (x, p, u) -> L steps (d = 3, K = 2: 12 coordinates):
    determinant 1, and equal to the autodiff one (no rounding boundary crossed)."""
    with jax.enable_x64(True):
        dim, size, num_steps = 3, 2, 6
        x, p, u, metric, step, q = random_problem(10 + seed, dim, size, 0.1)
        grad_fn = jax.value_and_grad(banana_logdensity)

        @jax.jit
        def leapfrog_map(z):
            membranes = z[2 * dim :].reshape(dim, size)
            out = cortical.integrate(
                start(banana_logdensity, z[:dim], z[dim : 2 * dim], membranes),
                grad_fn,
                metric,
                step,
                q,
                num_steps,
            )
            return jnp.concatenate([out.position, out.momentum, out.membranes.ravel()])

        z = jnp.concatenate([x, p, u.ravel()])
        assert int(jnp.sum(jnp.abs(leapfrog_map(z)[dim : 2 * dim] - p)) / q) > 0  # it spiked
        h = 1e-6
        columns = [
            (leapfrog_map(z + h * e) - leapfrog_map(z - h * e)) / (2 * h) for e in np.eye(z.size)
        ]
        numeric = np.stack(columns, axis=1)
        np.testing.assert_allclose(numeric, jax.jacfwd(leapfrog_map)(z), atol=1e-6)
        assert abs(np.linalg.det(numeric) - 1.0) < 1e-6


def test_spikes_carry_momentum_and_membranes_stay_in_range():
    """p changes by q (ON - OFF) exactly; w = p + u_bar changes as HMC momentum; each membrane
    stays in [-Kq/2, Kq/2)."""
    with jax.enable_x64(True):
        size = 5
        x, p, u, metric, step, q = random_problem(3, 4, size, 0.2)
        grad_fn = jax.value_and_grad(banana_logdensity)
        traj = start(banana_logdensity, x, p, u)
        force_sum = jnp.zeros_like(x)
        for _ in range(20):
            before = metric.whiten_gradient(traj.grad_log_density)
            traj = cortical.leapfrog_step(traj, grad_fn, metric, step, q)
            after = metric.whiten_gradient(traj.grad_log_density)
            force_sum = force_sum + 0.5 * step * (before + after)
            half = 0.5 * size * q
            assert bool(jnp.all((traj.membranes >= -half) & (traj.membranes < half)))
        net = (traj.on_spikes - traj.off_spikes).sum(axis=1).astype(x.dtype)
        assert int(jnp.abs(traj.on_spikes - traj.off_spikes).sum()) > 0
        np.testing.assert_allclose(traj.momentum - p, q * net, atol=1e-12)
        w0 = cortical.true_momentum(p, u)
        w1 = cortical.true_momentum(traj.momentum, traj.membranes)
        np.testing.assert_allclose(w1 - w0, force_sum, rtol=0, atol=1e-12)


def test_one_neuron_per_direction_is_the_hamiltonian_network():
    """K = 1: the same trajectory as the integrate-and-fire Hamiltonian network's integrator."""
    with jax.enable_x64(True):
        x, p, u, metric, step, q = random_problem(4, 4, 1, 0.1)
        grad_fn = jax.value_and_grad(banana_logdensity)
        ours = cortical.integrate(start(banana_logdensity, x, p, u), grad_fn, metric, step, q, 30)
        value, grad = grad_fn(x)
        theirs = ham.integrate(
            ham.start_trajectory(PositionState(x, value, grad), p, u[:, 0]),
            grad_fn,
            metric,
            step,
            q,
            30,
        )
        np.testing.assert_allclose(ours.position, theirs.position, atol=1e-12)
        np.testing.assert_allclose(ours.membranes[:, 0], theirs.membrane, atol=1e-12)
        np.testing.assert_array_equal(ours.on_spikes[:, 0], theirs.on_spikes)


def test_the_spiking_dynamics_conserves_its_energy():
    """Fixed quantum q, shrinking step (the continuous-time limit): the conserved energy's
    error vanishes, while the membrane energy's stays of the size of the membranes' energy
    (d = 8, K = 16, four random starts)."""
    with jax.enable_x64(True):
        dim, size, quantum = 8, 16, 0.1

        def logdensity(y):
            return -0.5 * jnp.sum(y * y)

        grad_fn = jax.value_and_grad(logdensity)
        metric = Metric(jnp.ones(dim))
        errors = {(name, step): [] for name in cortical.ENERGIES for step in (0.1, 0.001)}
        for seed in range(4):
            rng = np.random.default_rng(seed)
            x = jnp.asarray(rng.normal(size=dim))
            p = jnp.asarray(rng.normal(size=dim))
            half = 0.5 * size * quantum
            u = jnp.asarray(rng.uniform(-half, half, (dim, size)))
            for step in (0.1, 0.001):
                out = cortical.integrate(
                    start(logdensity, x, p, u), grad_fn, metric, step, quantum, int(1.5 / step)
                )
                assert int(out.on_spikes.sum() + out.off_spikes.sum()) > 50
                for name, tilt in cortical.ENERGIES.items():
                    h0 = cortical.energy(logdensity(x), p, u, tilt)
                    h1 = cortical.energy(out.log_density, out.momentum, out.membranes, tilt)
                    errors[name, step].append(abs(float(h1 - h0)))
        mean = {key: np.mean(value) for key, value in errors.items()}
        assert mean["conserved", 0.001] < 0.1 * mean["conserved", 0.1], mean
        assert mean["conserved", 0.001] < 0.01 * mean["membrane", 0.001], mean
        assert mean["membrane", 0.001] > 0.05, mean


@pytest.mark.parametrize("curvature, half_width", [(0.0, 1.0), (0.25, 2.0), (1.0, 3.0)])
def test_membranes_are_drawn_from_their_law(curvature, half_width):
    """u ~ exp(c u^2 / 2) on [-a, a): Kolmogorov-Smirnov against the CDF by quadrature."""
    draws = np.asarray(
        cortical.draw_membranes(
            jax.random.PRNGKey(0), (20_000,), half_width, curvature, jnp.float32
        ),
        float,
    )
    assert np.all((draws >= -half_width) & (draws < half_width))
    norm = integrate.quad(lambda v: np.exp(0.5 * curvature * v * v), -half_width, half_width)[0]

    def cdf(values):
        return (
            np.array(
                [
                    integrate.quad(lambda v: np.exp(0.5 * curvature * v * v), -half_width, t)[0]
                    for t in np.atleast_1d(values)
                ]
            )
            / norm
        )

    grid = np.linspace(-half_width, half_width, 201)
    table = cdf(grid)
    p_value = stats.kstest(draws, lambda t: np.interp(t, grid, table)).pvalue
    assert p_value > 1e-3


# -- the transition ---------------------------------------------------------------------------
def test_transition_fields_are_consistent():
    settings = cortical.CorticalSettings(population_size=4)
    params = cortical.build(settings, Metric(jnp.ones(3)), 0.3)
    grad_fn = jax.value_and_grad(banana_logdensity)
    x = jnp.array([0.3, -0.2, 0.5])
    value, grad = grad_fn(x)
    state = PositionState(x, value, grad)
    keys = jax.random.split(jax.random.PRNGKey(0), 50)
    new, info = jax.jit(jax.vmap(lambda k: cortical.transition(k, state, grad_fn, params)))(keys)
    assert cortical.DYNAMICS.info._fields[: len(TransitionInfo._fields)] == TransitionInfo._fields
    assert info.spike_counts.shape == (50, 2, 12)
    np.testing.assert_array_equal(info.spike_counts.sum(axis=(1, 2)), info.num_spikes)
    np.testing.assert_allclose(info.biological_time_ms, info.num_steps * settings.step_ms)
    assert 0.5 < float(info.accept_prob.mean()) <= 1.0
    moved = np.any(np.asarray(new.position) != np.asarray(x), axis=1)
    np.testing.assert_array_equal(moved, np.asarray(info.is_accepted))
    network = cortical.network(params)
    assert network.decoders.shape == (3, 12) and network.base_rate_hz == 0.0


def test_per_neuron_rate_falls_with_population_size():
    """The population fires about as often whatever K; each neuron about K times less."""

    def logdensity(y):
        return -0.5 * jnp.sum(y * y)

    grad_fn = jax.value_and_grad(logdensity)
    rates = {}
    for size in (4, 32):
        params = cortical.build(
            cortical.CorticalSettings(population_size=size, spike_quantum=2.5),
            Metric(jnp.ones(4)),
            0.1,
        )
        xs = jax.random.normal(jax.random.PRNGKey(1), (100, 4))
        keys = jax.random.split(jax.random.PRNGKey(2), 100)

        def one(k, y, params=params):
            value, grad = grad_fn(y)
            return cortical.transition(k, PositionState(y, value, grad), grad_fn, params)[1]

        info = jax.jit(jax.vmap(one))(keys, xs)
        per_ms = float(info.num_spikes.sum() / info.biological_time_ms.sum())
        rates[size] = 1000.0 * per_ms / (2 * 4 * size)
    assert 0.7 < rates[32] * 32 / (rates[4] * 4) < 1.4  # the population's rate
    assert 5.0 < rates[4] / rates[32] < 12.0  # each neuron's


# -- exactness (statistical) ------------------------------------------------------------------
def run_chains(dim=5, num_chains=64, num_transitions=400, seed=0, **options):
    """Chains of the cortical network on a correlated Gaussian, started at exact draws, with
    a diagonal metric (the dynamics is not whitened) and a step whose acceptance is about 0.7
    (the Metropolis step matters). Returns (draws {name: (chain, draw)}, reference, accept)."""
    mean, cov = correlated_gaussian(dim=dim)
    precision = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    center = jnp.asarray(mean, jnp.float32)
    grad_fn = jax.value_and_grad(lambda y: -0.5 * (y - center) @ precision @ (y - center))
    settings = cortical.CorticalSettings(
        population_size=options.pop("population_size", 8), spike_quantum=2.0, **options
    )
    params = cortical.build(settings, from_covariance(np.diag(cov).astype(np.float32)), 0.5)
    key_start, key_run = jax.random.split(jax.random.PRNGKey(seed))
    starts = (
        center
        + jax.random.normal(key_start, (num_chains, dim))
        @ jnp.asarray(np.linalg.cholesky(cov), jnp.float32).T
    )

    def chain(key, x):
        value, grad = grad_fn(x)

        def step(state, k):
            new, info = cortical.transition(k, state, grad_fn, params)
            return new, (new.position, info.accept_prob)

        keys = jax.random.split(key, num_transitions)
        return jax.lax.scan(step, PositionState(x, value, grad), keys)[1]

    positions, accept = jax.jit(jax.vmap(chain))(jax.random.split(key_run, num_chains), starts)
    positions = np.asarray(positions, float)
    draws = {f"x[{i + 1}]": positions[..., i] for i in range(dim)}
    return draws, gaussian_reference(mean, cov), float(np.mean(accept))


def test_exact_on_correlated_gaussian():
    """Every mean within 4 MCSE of the truth, every sd within 10%."""
    draws, reference, accept = run_chains()
    result = models.compare(draws, reference)
    assert 0.4 < accept < 0.9, accept
    assert result.passed, result.table()
    assert min(p.ess_bulk for p in result.params) > 2000  # the sd check has power


def test_without_metropolis_step_the_check_fails(monkeypatch):
    monkeypatch.setattr(cortical, "metropolis_hastings", always_accept)
    draws, reference, _ = run_chains()
    result = models.compare(draws, reference)
    assert not result.passed, result.table()


def test_with_the_wrong_membrane_law_the_check_fails(monkeypatch):
    """Refreshing the membranes uniformly while the MH step uses the conserved energy (whose
    membrane law is tilted) breaks detailed balance: the check must fail."""
    draw = cortical.draw_membranes
    monkeypatch.setattr(
        cortical,
        "draw_membranes",
        lambda key, shape, half_width, curvature, dtype: draw(key, shape, half_width, 0.0, dtype),
    )
    draws, reference, _ = run_chains(population_size=16)
    result = models.compare(draws, reference)
    assert not result.passed, result.table()


@pytest.mark.slow
def test_eight_schools_noncentered_matches_reference():
    """With warmup (step size, dense metric, trajectory length) on a posteriordb posterior."""
    from numpyro.infer import MCMC

    posterior = models.load("eight_schools-eight_schools_noncentered")
    kernel = SpikingKernel(posterior.model, dynamics="cortical", dense_mass=True)
    mcmc = MCMC(
        kernel,
        num_warmup=1000,
        num_samples=2000,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0), *posterior.args, **posterior.kwargs)
    draws = posterior.stan_draws(mcmc.get_samples(group_by_chain=True))
    result = models.compare(draws, posterior.reference)
    assert result.passed, result.table()


# -- the user's view --------------------------------------------------------------------------
def test_registered_and_runs_in_a_kernel():
    from numpyro.infer import MCMC

    assert registry.get("cortical") is cortical.DYNAMICS
    kernel = SpikingKernel(tiny_model, dynamics="cortical", population_size=4)
    mcmc = MCMC(kernel, num_warmup=100, num_samples=100, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), y=Y)
    fields = mcmc.get_extra_fields()
    assert int(fields["num_spikes"].min()) >= 0
    assert np.isfinite(np.asarray(mcmc.get_samples()["mu"])).all()
    network, _ = kernel.get_network(mcmc.last_state, hessian=False)
    assert network.decoders.shape == (2, 8)


@pytest.mark.parametrize(
    "option, value",
    [
        ("population_size", 0),
        ("population_size", 2.5),
        ("spike_quantum", 0.0),
        ("energy", "plain"),
        ("step_jitter", 1.0),
        ("step_ms", 0.0),
    ],
)
def test_bad_settings_name_the_setting(option, value):
    with pytest.raises(ValueError, match=option):
        SpikingKernel(tiny_model, dynamics="cortical", **{option: value})
