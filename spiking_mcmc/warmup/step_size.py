"""The step size, tuned toward a target acceptance rate by dual averaging over a batch of chains.

    log h <- dual averaging (Nesterov; Hoffman & Gelman 2014) of  target - A,
    A = C / sum_c 1 / max(alpha_c, 1e-3)      (harmonic mean over the C chains)

The harmonic mean is dominated by the worst chains: one stuck out in a tail (alpha ~ 0) pulls
the shared step size down until it moves, where an arithmetic mean over many chains would not
notice it (ChEES-HMC's choice). With one chain it is that chain's acceptance probability.
``find_reasonable`` is Hoffman and Gelman's heuristic: halve or double h until the acceptance
of one transition crosses the target.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from numpyro.infer.hmc_util import dual_averaging

MIN_ACCEPT_PROB = 1e-3  # a chain that accepts nothing counts as this in the harmonic mean

dual_averaging_init, dual_averaging_update = dual_averaging()


def harmonic_mean_acceptance(accept_probs, mask=None):
    """C / sum_c 1 / max(alpha_c, 1e-3) over the chains in ``mask`` (all by default); a NaN
    or infinite alpha counts as 0."""
    finite = jnp.where(jnp.isfinite(accept_probs), accept_probs, 0.0)
    inverse = 1.0 / jnp.maximum(finite, MIN_ACCEPT_PROB)
    if mask is None:
        return 1.0 / jnp.mean(inverse)
    return jnp.sum(mask) / jnp.maximum(jnp.sum(jnp.where(mask, inverse, 0.0)), 1e-30)


def restart(step_size):
    """Dual averaging restarted around 10 h (log 10 + log h stays finite for a huge h)."""
    return dual_averaging_init(jnp.log(10.0) + jnp.log(step_size))


def update(state, accept_probs, target, final: bool, moved=None):
    """One dual-averaging step; returns (step size, state). ``final``: the averaged step.
    ``moved`` (C,): only proposals that move count (a null move, such as a Poisson window
    whose spikes cancel, is accepted whatever the step size); none moving: no step."""
    signal = harmonic_mean_acceptance(accept_probs, moved)
    stepped = dual_averaging_update(target - signal, state)
    if moved is not None:
        any_moved = jnp.any(moved)
        stepped = jax.tree.map(lambda a, b: jnp.where(any_moved, a, b), stepped, state)
    state = stepped
    log_step_size, log_step_size_avg, *_ = state
    step_size = jnp.exp(jnp.where(final, log_step_size_avg, log_step_size))
    finfo = jnp.finfo(jnp.result_type(step_size))
    return jnp.clip(step_size, finfo.tiny, finfo.max), state


def find_reasonable(accept_prob, step_size, key, target, max_doublings: int = 60):
    """Halve or double h until ``accept_prob(h, key)`` crosses ``target``."""
    dtype = jnp.result_type(step_size)
    finfo = jnp.finfo(dtype)
    key0, key = jax.random.split(key)
    step_size = jnp.asarray(step_size, dtype)
    direction = jnp.where(accept_prob(step_size, key0) > target, 1.0, -1.0)

    def keep_going(carry):
        h, count, _, crossed = carry
        return ~crossed & (h > finfo.tiny) & (h < finfo.max / 4) & (count < max_doublings)

    def body(carry):
        h, count, key, _ = carry
        key, key_t = jax.random.split(key)
        new_h = (h * (2.0**direction)).astype(dtype)
        prob = accept_prob(new_h, key_t)
        crossed = jnp.where(direction > 0, prob < target, prob > target)
        # going up, stop at the last h that still met the target
        return jnp.where((direction > 0) & crossed, h, new_h), count + 1, key, crossed

    return lax.while_loop(keep_going, body, (step_size, 0, key, jnp.array(False)))[0]
