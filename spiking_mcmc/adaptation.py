"""Warmup is plasticity: NumPyro's dual averaging and Welford covariance set the synapses.

    log h <- dual averaging toward the target acceptance rate  (jump size / step size)
    Sigma <- Welford covariance of the chain in doubling windows;  D = sqrt(h / 2a) chol(Sigma)

A covariance update is a Hebbian rule on the decoded state; after warmup the decoders hold the
posterior's geometry. The schedule and estimators are NumPyro's own ``warmup_adapter``; this
module only supplies the initial step-size search for a spiking transition.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from numpyro.infer.hmc_util import warmup_adapter

__all__ = ["covariance_sqrt", "find_reasonable_step_size", "make_warmup_adapter"]


def covariance_sqrt(mass_matrix_sqrt_inv):
    """L with L L^T = Sigma, from NumPyro's ``mass_matrix_sqrt_inv`` (vector when diagonal)."""
    if jnp.ndim(mass_matrix_sqrt_inv) == 1:
        return mass_matrix_sqrt_inv
    return jnp.swapaxes(mass_matrix_sqrt_inv, -1, -2)


def _sqrt_of_covariance(inverse_mass_matrix):
    if jnp.ndim(inverse_mass_matrix) == 1:
        return jnp.sqrt(inverse_mass_matrix)
    return jnp.linalg.cholesky(inverse_mass_matrix)


def find_reasonable_step_size(
    transition: Callable,
    make_params: Callable,
    logdensity_and_grad: Callable,
    target_accept_prob: float,
    max_doublings: int = 60,
):
    """A function (h, Sigma, state, key) -> h that halves or doubles h until the acceptance
    probability of one transition crosses the target (Hoffman & Gelman's heuristic).
    """

    def find(step_size, inverse_mass_matrix, state, rng_key):
        cov_sqrt = _sqrt_of_covariance(inverse_mass_matrix)
        dtype = jnp.result_type(step_size)
        finfo = jnp.finfo(dtype)

        def accept_prob(h, key):
            _, info = transition(key, state, logdensity_and_grad, make_params(h, cov_sqrt))
            return info.accept_prob

        key0, rng_key = jax.random.split(rng_key)
        step_size = jnp.asarray(step_size, dtype)
        direction = jnp.where(accept_prob(step_size, key0) > target_accept_prob, 1.0, -1.0)

        def keep_going(carry):
            h, _, count, key, crossed = carry
            in_range = (h > finfo.tiny) & (h < finfo.max / 4)
            return ~crossed & in_range & (count < max_doublings)

        def body(carry):
            h, _, count, key, _ = carry
            key, key_t = jax.random.split(key)
            new_h = h * (2.0**direction)
            prob = accept_prob(new_h, key_t)
            crossed = jnp.where(direction > 0, prob < target_accept_prob, prob > target_accept_prob)
            # going up, stop at the last h that still met the target
            h = jnp.where((direction > 0) & crossed, h, new_h)
            return h.astype(dtype), prob, count + 1, key, crossed

        init = (step_size, jnp.zeros((), dtype), 0, rng_key, jnp.array(False))
        return lax.while_loop(keep_going, body, init)[0]

    return find


def make_warmup_adapter(
    num_warmup: int,
    transition: Callable,
    make_params: Callable,
    logdensity_and_grad: Callable,
    target_accept_prob: float,
    adapt_step_size: bool = True,
    adapt_mass_matrix: bool = True,
    dense_mass: bool = False,
    find_heuristic_step_size: bool = True,
):
    """NumPyro's ``warmup_adapter`` with a step-size search that uses the spiking transition."""
    finder = None
    if find_heuristic_step_size and adapt_step_size:
        finder = find_reasonable_step_size(
            transition, make_params, logdensity_and_grad, target_accept_prob
        )
    return warmup_adapter(
        num_warmup,
        find_reasonable_step_size=finder,
        adapt_step_size=adapt_step_size,
        adapt_mass_matrix=adapt_mass_matrix,
        dense_mass=dense_mass,
        target_accept_prob=target_accept_prob,
    )
