"""Exact, fast Poisson spike counts for few expected spikes per window.

    n ~ Poisson(lam):  n = min{k : u <= F(k)},  F(k) = sum_{i<=k} e^-lam lam^i / i!,  u ~ U(0, 1)

Sequential inversion costs one multiply-add per neuron per spike of the busiest neuron, with
no rejection loop, so a window with about one spike per neuron is cheap and vectorises over
neurons and chains. Rates above ``large_rate`` (rare: a saturated membrane) are drawn by
jax.random.poisson instead, inside a loop that runs only when such a rate is present.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

LARGE_RATE = 20.0


def _inversion(uniform, rate):
    """Smallest k with uniform <= F(k); stops where F stops growing in floating point."""
    probability = jnp.exp(-rate)

    def searching(carry):
        count, probability, cdf, active = carry
        return jnp.any(active)

    def step(carry):
        count, probability, cdf, active = carry
        next_count = count + 1
        next_probability = probability * rate / next_count.astype(rate.dtype)
        next_cdf = cdf + next_probability
        grows = next_cdf > cdf
        moved = active & grows
        count = jnp.where(moved, next_count, count)
        probability = jnp.where(moved, next_probability, probability)
        cdf = jnp.where(moved, next_cdf, cdf)
        return count, probability, cdf, moved & (uniform > cdf)

    count = jnp.zeros(rate.shape, dtype=jnp.int32)
    carry = (count, probability, probability, uniform > probability)
    return lax.while_loop(searching, step, carry)[0]


def _run_if(predicate, fn, default):
    """``fn()`` if ``predicate`` else ``default``; under vmap, runs only if some chain needs it."""

    def body(carry):
        return jnp.zeros_like(carry[0]), fn()

    return lax.while_loop(lambda carry: carry[0], body, (predicate, default))[1]


def poisson_counts(key, rate, large_rate=LARGE_RATE):
    """Independent Poisson(rate) counts (int32), exact; ``rate`` of any shape, >= 0."""
    key_uniform, key_large = jax.random.split(key)
    uniform = jax.random.uniform(key_uniform, rate.shape, dtype=rate.dtype)
    large = rate > large_rate
    counts = _inversion(uniform, jnp.where(large, 0.0, rate))
    large_counts = _run_if(
        jnp.any(large),
        lambda: jax.random.poisson(key_large, jnp.where(large, rate, 0.0), dtype=jnp.int32),
        jnp.zeros_like(counts),
    )
    return jnp.where(large, large_counts, counts)
