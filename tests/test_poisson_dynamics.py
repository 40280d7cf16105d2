"""The Poisson network's acceptance rule against a brute-force Skellam computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

from spiking_mcmc import network as net
from spiking_mcmc.dynamics import poisson
from spiking_mcmc.dynamics.base import PositionState
from spiking_mcmc.metric import from_factor


def skellam_log_pmf(k, mu_on, mu_off, n_max=1000):
    """log P(n_on - n_off = k) by direct convolution of the two Poisson pmfs (in log space)."""
    n_off = np.arange(n_max)
    log_terms = stats.poisson.logpmf(k + n_off, mu_on) + stats.poisson.logpmf(n_off, mu_off)
    return float(logsumexp(log_terms))


def brute_force_log_alpha(log_density, x, k, decoders, a, max_u):
    """log [p(x') q(-k | x') / (p(x) q(k | x))] from the pmfs themselves."""
    grad = jax.grad(log_density)
    x_new = x + decoders @ k

    def log_q(point, counts):
        u = np.asarray(net.membrane_potential(decoders, grad(point), max_u))
        return sum(
            skellam_log_pmf(kj, a * np.exp(uj), a * np.exp(-uj))
            for kj, uj in zip(counts, u, strict=True)
        )

    return float(log_density(x_new) - log_density(x) + log_q(x_new, -k) - log_q(x, k))


def gaussian_log_density(precision):
    return lambda x: -0.5 * x @ precision @ x


def quartic_log_density(scales):
    return lambda x: -jnp.sum(jnp.log(jnp.cosh(x / scales))) - 0.1 * jnp.sum(x**4) + x[0] * x[-1]


@settings(max_examples=25, deadline=None)
@given(
    dim=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    a=st.floats(0.05, 3.0),
    step=st.floats(0.05, 2.0),
    kind=st.sampled_from(["gaussian", "quartic"]),
    max_u=st.sampled_from([0.5, 20.0]),
)
def test_log_accept_ratio_matches_brute_force(dim, seed, a, step, kind, max_u):
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        if kind == "gaussian":
            root = rng.normal(size=(dim, dim))
            log_density = gaussian_log_density(jnp.asarray(root @ root.T + 0.5 * np.eye(dim)))
        else:
            log_density = quartic_log_density(jnp.asarray(np.exp(rng.uniform(-1, 1, dim))))
        decoders = jnp.asarray(step * rng.normal(size=(dim, dim + rng.integers(0, 3))))
        x = jnp.asarray(rng.normal(size=dim))
        k = jnp.asarray(rng.integers(-3, 4, size=decoders.shape[1]))
        state = PositionState(x, log_density(x), jax.grad(log_density)(x))
        x_new = x + decoders @ k
        proposal = PositionState(x_new, log_density(x_new), jax.grad(log_density)(x_new))
        for point in (state, proposal):  # the convolution needs rates well below n_max
            u = net.membrane_potential(decoders, point.grad_log_density, max_u)
            assume(float(a * jnp.exp(jnp.max(jnp.abs(u)))) < 300.0)
        u = net.membrane_potential(decoders, state.grad_log_density, max_u)
        u_new = net.membrane_potential(decoders, proposal.grad_log_density, max_u)
        fast = poisson.log_accept_ratio(state, proposal, k, u, u_new, a)
        slow = brute_force_log_alpha(log_density, x, k, decoders, a, max_u)
        assert np.isfinite(slow)
        np.testing.assert_allclose(float(fast), slow, rtol=1e-7, atol=1e-7)


def test_brute_force_detects_a_wrong_rule():
    """Dropping the cosh term (the broken rule of the exactness test) is caught here too."""
    with jax.enable_x64(True):
        log_density = gaussian_log_density(jnp.eye(2) * 3.0)
        decoders, a, x, k = jnp.eye(2) * 0.7, 0.5, jnp.array([0.3, -1.2]), jnp.array([2, -1])
        slow = brute_force_log_alpha(log_density, x, k, decoders, a, 20.0)
        g, g_new = jax.grad(log_density)(x), jax.grad(log_density)(x + decoders @ k)
        u, u_new = 0.5 * g @ decoders, 0.5 * g_new @ decoders
        wrong = log_density(x + decoders @ k) - log_density(x) - jnp.sum(k * (u + u_new))
        assert abs(float(wrong) - slow) > 1e-3


def run_transitions(log_density, x0, params, n, seed=0):
    logdensity_and_grad = jax.value_and_grad(log_density)
    state = PositionState(x0, *logdensity_and_grad(x0))

    def step(state, key):
        return poisson.transition(key, state, logdensity_and_grad, params)

    return jax.lax.scan(step, state, jax.random.split(jax.random.PRNGKey(seed), n))


def make_params(dim, step_size=0.5, **options):
    return poisson.build(poisson.PoissonSettings(**options), from_factor(jnp.ones(dim)), step_size)


def test_non_finite_proposal_is_rejected_and_counted(precision):
    """A density that is NaN for x_0 > 1 and -inf for x_0 < -1: the chain stays finite."""

    def log_density(x):
        base = -0.5 * jnp.sum(x**2)
        return jnp.where(x[0] > 1.0, jnp.nan, jnp.where(x[0] < -1.0, -jnp.inf, base))

    state, info = run_transitions(log_density, jnp.zeros(3), make_params(3, 2.0), 2000)
    assert np.all(np.isfinite(np.asarray(state.position)))
    assert np.asarray(info.diverging).sum() > 50
    assert np.all(np.asarray(info.accept_prob)[np.asarray(info.diverging)] == 0.0)
    assert np.all(np.asarray(info.is_accepted)[np.asarray(info.diverging)] == False)  # noqa: E712


def test_steep_gradients_do_not_overflow(precision):
    """Gradients of size 1e4 saturate the membrane; float32 cosh(20) is still finite."""

    def log_density(x):
        return -1e4 * jnp.sum(jnp.abs(x - 3.0))

    state, info = run_transitions(log_density, jnp.zeros(4), make_params(4, 1.0), 300)
    assert np.all(np.isfinite(np.asarray(info.accept_prob)))
    assert np.all(np.isfinite(np.asarray(state.position)))
    assert not np.asarray(info.diverging).any()


@pytest.mark.parametrize("jitter", [0.0, 0.2])
def test_distinct_positions(jitter):
    """Without jitter the chain lives on the lattice x0 + D Z^P; with it, it does not."""
    params = make_params(1, jitter=jitter)
    log_density = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    logdensity_and_grad = jax.value_and_grad(log_density)

    def step(state, key):
        state, _ = poisson.transition(key, state, logdensity_and_grad, params)
        return state, state.position[0]

    start = PositionState(jnp.zeros(1), *logdensity_and_grad(jnp.zeros(1)))
    _, xs = jax.lax.scan(step, start, jax.random.split(jax.random.PRNGKey(2), 5000))
    distinct = len(np.unique(np.round(np.asarray(xs), 6)))
    if jitter == 0.0:
        assert distinct < 30
    else:
        assert distinct > 1000
