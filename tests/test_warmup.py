"""Warmup: the Fisher metric, the schedule, the step-size signal, the trajectory length."""

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from spiking_mcmc import SpikingKernel
from spiking_mcmc.warmup import fisher, schedule, step_size, welford


def gaussian_draws(dim, num_draws, condition, seed=0):
    """Exact draws x ~ N(mu, S) and their gradients g = -S^-1 (x - mu), S badly scaled."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    scales = np.exp(rng.uniform(-4.0, 4.0, dim))
    cov = (rotation * np.logspace(0, np.log10(condition), dim)) @ rotation.T
    cov = cov * np.outer(scales, scales)
    x = rng.multivariate_normal(np.zeros(dim), cov, size=num_draws) + 3.0
    g = -np.linalg.solve(cov, (x - 3.0).T).T
    return x, g, cov


def sums(draws, dense=True):
    state = welford.init(1, draws.shape[1], dense, jnp.float64)
    for row in draws:
        state = welford.update(state, jnp.asarray(row[None]))
    return state


def whitened_spread(metric_covariance, cov):
    """The eigenvalues of L^-1 S L^-T (all 1 for a perfect metric L L^T)."""
    factor = np.linalg.cholesky(np.asarray(metric_covariance))
    return np.linalg.eigvalsh(np.linalg.solve(factor, np.linalg.solve(factor, cov).T))


def test_fisher_metric_learns_a_gaussian_from_few_draws():
    """For a Gaussian, d + 1 draws and their gradients determine the covariance (the errors of
    the two signals cancel in their geometric mean; only Stan's regulariser is left): from 20
    draws of a 6-d Gaussian of condition number 10^4 the whitened covariance is within 2% of
    I, where the positions' own covariance is off by a factor 3."""
    with jax.enable_x64(True):
        x, g, cov = gaussian_draws(dim=6, num_draws=20, condition=1e4)
        fisher_cov = fisher.estimate(sums(x), sums(g), dense=True).covariance()
        positions_cov = welford.covariance(sums(x), regularize=False)
        np.testing.assert_allclose(whitened_spread(fisher_cov, cov), 1.0, rtol=0.02)
        spread = whitened_spread(positions_cov, cov)
        assert spread.max() / spread.min() > 3.0


def test_fisher_diagonal_is_the_variance_ratio():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        sd = np.exp(rng.uniform(-3, 3, 4))
        x = rng.normal(size=(5000, 4)) * sd
        g = -x / sd**2
        variances = fisher.estimate(sums(x, False), sums(g, False), dense=False).scale ** 2
        np.testing.assert_allclose(variances, sd**2, rtol=1e-6)


def test_geometric_mean_solves_g_b_g_equals_a():
    rng = np.random.default_rng(2)
    a, b = (m @ m.T + np.eye(5) for m in rng.normal(size=(2, 5, 5)))
    with jax.enable_x64(True):
        g = np.asarray(fisher.geometric_mean(jnp.asarray(a), jnp.asarray(b)))
    np.testing.assert_allclose(g @ b @ g, a, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(g, g.T, atol=1e-10)


def test_schedule_windows_grow_and_leave_a_final_phase():
    plan = schedule.build(1000)
    switches = np.nonzero(plan.switch)[0]
    assert plan.final_start == 850 and plan.early_end == 300
    assert np.all(np.diff(switches[switches < 300]) == 10)  # early windows of 10
    late = np.diff(switches[switches >= 299])
    assert np.all(late[1:] > late[:-1])  # growing windows
    assert not plan.collect[850:].any() and not plan.update[850:].any()
    assert plan.update[switches].all()


def test_dual_averaging_ignores_proposals_that_do_not_move():
    """A chain whose proposal did not move (a Poisson window whose spikes cancel) does not
    count, whatever its acceptance; with no moving proposal the step size does not change."""
    state = step_size.restart(1.0)
    moved = jnp.array([True, False])
    one, _ = step_size.update(state, jnp.array([0.3, 1.0]), 0.8, False, moved)
    other, _ = step_size.update(state, jnp.array([0.3, 0.0]), 0.8, False, moved)
    assert float(one) == float(other)
    still = jnp.array([False, False])
    _, unchanged = step_size.update(state, jnp.array([1.0, 1.0]), 0.8, False, still)
    for a, b in zip(jax.tree.leaves(unchanged), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)


def normal_1d():
    numpyro.sample("x", dist.Normal(0.0, 1.0))


@pytest.mark.slow
def test_poisson_network_is_exact_in_one_dimension_at_its_default_warmup():
    """In 1-d about half of the Poisson windows cancel (ON = OFF spikes) and are accepted
    without moving; a step size tuned on them grows until most windows that do move are
    rejected (one chain sat still on every draw). Tuned on the moving windows, every chain
    moves and the draws pass the check: mean within 4 MCSE, sd within 10%."""
    mcmc = MCMC(
        SpikingKernel(normal_1d, dynamics="poisson"),
        num_warmup=1000,
        num_samples=4000,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0))
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    moved = np.mean(np.diff(x, axis=1) != 0, axis=1)
    assert np.all(moved > 0.2), moved
    assert abs(x.mean()) <= 4 * float(az.mcse(x, method="mean"))
    assert abs(x.std() - 1.0) <= 0.1


def correlated_gaussian_model(cov):
    def model():
        numpyro.sample("x", dist.MultivariateNormal(jnp.zeros(len(cov)), jnp.asarray(cov)))

    return model


@pytest.mark.slow
def test_trajectory_length_settles_with_a_fixed_good_metric():
    """Given the true covariance and no metric adaptation, the learned length stays at the
    order of the whitened Gaussian's half period (pi/2), not at the 1000 cap."""
    cov = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.3], [0.0, 0.3, 2.0]]) * 25.0
    kernel = SpikingKernel(
        correlated_gaussian_model(cov),
        inverse_mass_matrix=cov,
        dense_mass=True,
        adapt_mass_matrix=False,
        init_strategy=numpyro.infer.init_to_value(values={"x": jnp.array([30.0, -30.0, 40.0])}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mcmc = MCMC(
            kernel,
            num_warmup=1000,
            num_samples=10,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(jax.random.PRNGKey(0))
    lengths = np.exp(np.asarray(mcmc.last_state.adapt_state.tuning.log_length))
    assert np.all((lengths > 0.3) & (lengths < 4.0)), lengths
