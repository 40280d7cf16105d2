"""Chains that stop moving: seen, healed in warmup, named after it, flagged while sampling.

    still_c <- 0 if chain c moved, else still_c + 1        (a frozen chain: still_c >= 50)
    tiny_c  <- tiny_c + 1 while the step size is below 1e-4 (whitened units), else 0
    out_c   <- out_c + 1 while l(x_c) < max_c' l(x_c') - max(20, 10 sqrt(d)), else 0
    restart in warmup: still_c or tiny_c >= 25, out_c >= 50, or out_c >= 1 at warmup's end

A chain can stop moving while reporting acceptance: a step size collapsed below the floating-
point resolution of its position "accepts" proposals that round back to the same point, and a
Poisson window whose ON and OFF spikes cancel is accepted without a move. A step size can also
collapse without the chain quite standing still: where the log density is computed too
coarsely (in float32 a sum of terms near 1e7 is resolved in steps of 8 nats), every move
across a step of the density is rejected and dual averaging shrinks the step until the chain
crawls. A chain can also sit far out in a tail, or in a worse local mode, adapted to it,
while the others sample the posterior. In warmup such a chain is restarted (the sampler's
``heal``): from a healthy chain's position and network when chains run vectorised, else from
its own best earlier state (the highest log density it reached) with the step size reset.
A chain still frozen when warmup ends is named in a warning; while sampling, ``frozen`` marks
its draws (ArviZ ``sample_stats``).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from spiking_mcmc.dynamics.base import PositionState

HEAL_AFTER = 25  # transitions without a move (or with a collapsed step) before a restart
TINY_STEP = 1e-4  # a whitened step size below this has collapsed
FROZEN = 50  # transitions without a move that mark a chain frozen
OUTSIDE_FOR = 50  # transitions far below the best chain before a warmup chain is restarted


class FrozenChainWarning(UserWarning):
    """A chain ended warmup without moving: its draws are not from the posterior."""


class Health(NamedTuple):
    still: jax.Array  # (C,) transitions since the chain last moved
    tiny: jax.Array  # (C,) transitions with a collapsed step size
    outside: jax.Array  # (C,) transitions the chain has been far below the best chain
    best: PositionState  # (C, ...) the highest log density each chain reached
    chain_id: jax.Array  # (C,) the chains' numbers, for messages


def init(states: PositionState, chain_ids) -> Health:
    zeros = jnp.zeros(states.position.shape[0], jnp.int32)
    return Health(zeros, zeros, zeros, states, jnp.asarray(chain_ids, jnp.int32))


def gap(dim: int) -> float:
    """How far below the best chain's log density a chain is "far out": 14 standard deviations
    of the log density of a d-dimensional Gaussian's typical set (sd sqrt(d / 2)), at least 20."""
    return max(20.0, 10.0 * float(np.sqrt(dim)))


def observe(health: Health, before: PositionState, after: PositionState, step_size) -> Health:
    """Count transitions without a move, with a collapsed step size (``step_size``: (C,) or
    shared; None when it is not adapted) and far out; keep each chain's best state."""
    moved = jnp.any(after.position != before.position, axis=-1)
    still = jnp.where(moved, 0, health.still + 1)
    tiny = jnp.zeros_like(still)
    if step_size is not None:
        collapsed = jnp.broadcast_to(step_size < TINY_STEP, still.shape)
        tiny = jnp.where(collapsed, health.tiny + 1, 0)
    num_chains, dim = after.position.shape
    far = jnp.zeros(num_chains, bool)
    if num_chains >= 2:  # against the best chain: half the chains in a worse mode are seen
        finite = jnp.where(jnp.isfinite(after.log_density), after.log_density, -jnp.inf)
        far = finite < jnp.max(finite) - gap(dim)
    outside = jnp.where(far, health.outside + 1, 0)
    better = after.log_density > health.best.log_density
    best = jax.tree.map(
        lambda new, old: jnp.where(better.reshape(better.shape + (1,) * (new.ndim - 1)), new, old),
        after,
        health.best,
    )
    return health._replace(still=still, tiny=tiny, outside=outside, best=best)


def needs_healing(health: Health, final=False):
    """(C,) the chains warmup should restart. At its ``final`` chance, a chain far below the
    best one now is restarted without waiting OUTSIDE_FOR transitions: no chain should begin
    sampling in a mode that another has left behind (lotka_volterra at seed 2: all four chains
    sat 40 nats below the mode until one found it ~50 transitions before warmup ended)."""
    stuck = (health.still >= HEAL_AFTER) | (health.tiny >= HEAL_AFTER)
    far = jnp.where(final, health.outside > 0, health.outside >= OUTSIDE_FOR)
    return stuck | far


def donors(health: Health, states: PositionState, sick):
    """For each chain, the chain to copy: itself when healthy, else the healthiest chain (the
    highest log density among those that do not need healing)."""
    score = jnp.where(sick | ~jnp.isfinite(states.log_density), -jnp.inf, states.log_density)
    best = jnp.argmax(score)
    return jnp.where(sick & jnp.isfinite(score[best]), best, jnp.arange(sick.shape[0]))


def take(tree, index):
    """Every leaf's rows ``index`` (a gather along the chain axis)."""
    return jax.tree.map(lambda x: x[index], tree)


def stuck(health: Health):
    """(C,) the chains that stand still or crawl with a collapsed step size."""
    return (health.still >= HEAL_AFTER) | (health.tiny >= HEAL_AFTER)


def warn_frozen(chain_ids, frozen, offset=None):
    """Host callback: name the chains that end warmup frozen (``offset()``: the number of the
    batch's first chain, when chains are run one after another)."""
    first = 0 if offset is None else offset()
    pairs = zip(np.asarray(chain_ids), np.asarray(frozen), strict=True)
    names = [first + int(c) for c, f in pairs if f]
    if names:
        warnings.warn(
            f"chain(s) {names} ended warmup frozen: no move, or a step size collapsed below "
            f"{TINY_STEP:g}, for {HEAL_AFTER}+ transitions (a log density too coarse in float32, "
            "a chain stuck where the density is flat or walled). Their draws are not from the "
            "posterior (sample_stats 'frozen' marks them). Try float64 "
            "(jax.config.update('jax_enable_x64', True)), more warmup, another init_strategy, "
            "or adaptation='cross_chain' with vectorised chains.",
            FrozenChainWarning,
            stacklevel=2,
        )
