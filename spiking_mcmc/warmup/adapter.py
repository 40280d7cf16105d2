"""Warmup is plasticity: one (init, update) that tunes the network over a batch of chains.

    h     <- dual averaging toward the target acceptance     (the jump / step size)
    Sigma <- Fisher estimate from positions and gradients   (the decoders; fisher.py)
    the dynamics' own tuner (e.g. the trajectory length) on its own signal

The schedule (schedule.py) collects every moving warmup draw into two running estimates and
re-learns the metric from the recent one or two windows: short windows early, so that the
first far-out draws are soon forgotten, growing windows later, and a final phase where only
the step size adapts. Dual averaging runs across the metric's updates; it restarts once when
the first learned metric replaces the initial one, and once when the final phase begins.
``estimator="positions"`` learns from positions alone (a Welford covariance, as NUTS), for
comparison.

Every function works on a batch of C chains. Per-chain warmup (NumPyro's NUTS's) is the
batch update with C = 1 mapped over the chains (``jax.vmap``): each chain has its own state.
Cross-chain warmup is one update with every chain in the batch: the state has no chain axis,
the step size follows the harmonic mean acceptance and the metric the pooled within-chain
estimates, so each warmup transition gives C draws to the estimates.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from spiking_mcmc import mass
from spiking_mcmc import metric as metrics
from spiking_mcmc.dynamics.base import TunerPhase
from spiking_mcmc.mass import MassLayout
from spiking_mcmc.metric import Metric
from spiking_mcmc.warmup import fisher, welford
from spiking_mcmc.warmup import schedule as schedules
from spiking_mcmc.warmup import step_size as step_sizes

ESTIMATORS = ("fisher", "positions")


@dataclasses.dataclass(frozen=True)
class WarmupOptions:
    """What warmup adapts, and how."""

    num_warmup: int
    target_accept_prob: float
    adapt_step_size: bool = True
    adapt_mass_matrix: bool = True
    dense_mass: bool = False
    find_heuristic_step_size: bool = False
    regularize: bool = True
    pooled: bool = False  # cross-chain: one state for every chain
    layout: MassLayout | None = None  # blocks of sites (dense_mass as a list); None: one block
    estimator: str = "fisher"  # the metric from positions and gradients, or "positions" only

    def covariance_mask(self):
        """The entries of the covariance a block structure keeps, or None (all)."""
        if self.layout is None or not self.dense_mass:
            return None
        return jnp.asarray(self.layout.mask())


class WarmupState(NamedTuple):
    """The network's tunable parameters and the statistics that tune them.

    ``inverse_mass_matrix``, ``mass_matrix_sqrt`` and ``mass_matrix_sqrt_inv`` read as NumPyro's
    ``HMCAdaptState`` fields do (the mass matrix M = Sigma^-1): for a model, dicts by blocks of
    site names, as NUTS gives them; for a potential function, arrays.
    """

    step_size: jax.Array
    metric: Metric
    dual_averaging: Any
    positions: tuple  # (foreground, background) Welford sums of the positions
    grads: tuple  # (foreground, background) Welford sums of the gradients
    metric_updates: jax.Array  # how many times the metric was re-learned
    initial_step_size: jax.Array  # where the step size starts again when a chain is restarted
    tuning: Any = None  # the dynamics' tuner state, or None
    layout: MassLayout | None = None  # static: the blocks of sites

    def _blocks(self):
        """The covariance (dict by site blocks for a model), chains mapped when stacked."""

        def blocks(metric):
            covariance = metric.covariance()
            return covariance if self.layout is None else self.layout.split(covariance)

        return _per_chain(blocks, jnp.ndim(self.step_size))(self.metric)

    @property
    def inverse_mass_matrix(self):
        return self._blocks()

    @property
    def mass_matrix_sqrt(self):
        sqrt = _per_chain(lambda b: mass.numpyro_sqrt(b)[0], jnp.ndim(self.step_size))
        return jax.tree.map(sqrt, self._blocks())

    @property
    def mass_matrix_sqrt_inv(self):
        sqrt_inv = _per_chain(lambda b: mass.numpyro_sqrt(b)[1], jnp.ndim(self.step_size))
        return jax.tree.map(sqrt_inv, self._blocks())


def _per_chain(fn, num_chain_axes: int):
    """``fn`` mapped over the leading chain axes of a stacked (per-chain) state."""
    for _ in range(num_chain_axes):
        fn = jax.vmap(fn)
    return fn


def initial_metric(dim: int, dense: bool, inverse_mass_matrix, dtype, layout=None):
    """The user's covariance (``inverse_mass_matrix``: vector, matrix, or NumPyro's dict by
    blocks of sites) as a Metric, or None when there is none (warmup then starts from the
    first gradients, or from the identity)."""
    if inverse_mass_matrix is None:
        return None
    if isinstance(inverse_mass_matrix, dict):
        if layout is None:
            raise ValueError(
                "an inverse_mass_matrix dict by sites needs a model (not a potential_fn)"
            )
        covariance = layout.join(inverse_mass_matrix, dtype)
    else:
        covariance = jnp.asarray(inverse_mass_matrix, dtype)
    if covariance.shape[-1] != dim:
        raise ValueError(
            f"inverse_mass_matrix has shape {covariance.shape}; the model has {dim} unconstrained "
            "dimensions"
        )
    if dense and covariance.ndim == 1:
        covariance = jnp.diag(covariance)
    return metrics.from_covariance(covariance)


def restart(state: WarmupState, mask, pooled: bool) -> WarmupState:
    """The warmup state of chains restarted from their own best state (``mask`` (C,)): the
    step size back to its initial value, dual averaging and the metric's sums started again
    (the metric itself is kept). A pooled state restarts when any masked chain does."""
    if pooled:
        mask = jnp.any(mask)

    def one(chain_state: WarmupState, restart_it) -> WarmupState:
        fresh = chain_state._replace(
            step_size=chain_state.initial_step_size,
            dual_averaging=step_sizes.restart(chain_state.initial_step_size),
            positions=jax.tree.map(jnp.zeros_like, chain_state.positions),
            grads=jax.tree.map(jnp.zeros_like, chain_state.grads),
        )
        return jax.tree.map(lambda a, b: jnp.where(restart_it, a, b), fresh, chain_state)

    return one(state, mask) if pooled else jax.vmap(one)(state, mask)


def expand(tree):
    """A batch of one: add a leading axis of length 1 to every leaf."""
    return jax.tree.map(lambda x: x[None], tree)


def build(options: WarmupOptions, tuner=None, settings=None):
    """(init, update) over a batch of chains; per-chain or pooled as ``options.pooled`` says.

    init(states, step_size, metric, key, probe) -> WarmupState
    update(state, t, states, infos (C, ...), key, probe) -> WarmupState
    ``states`` is the batch's :class:`~spiking_mcmc.dynamics.base.PositionState` (C, d);
    ``metric`` the user's initial metric or None (then it is learned from the first gradients,
    or is the identity); ``probe(step_size, metric, key, states) -> (C,) acceptance
    probabilities`` runs one transition of the batch (for the heuristic step-size search), or
    is None. Per-chain, ``key`` is one key per chain.
    """
    if options.estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {options.estimator!r}")
    plan = schedules.build(options.num_warmup)
    collect, switch, update_at = (jnp.asarray(a) for a in plan[:3])
    fisher_metric = options.estimator == "fisher"

    def search(step_size, metric, key, probe, states):
        if probe is None or not (options.find_heuristic_step_size and options.adapt_step_size):
            return step_size

        def accept_prob(h, k):
            return step_sizes.harmonic_mean_acceptance(probe(h, metric, k, states))

        return step_sizes.find_reasonable(accept_prob, step_size, key, options.target_accept_prob)

    def estimate(positions_fg, grads_fg, previous):
        mask = options.covariance_mask()
        if fisher_metric:
            return fisher.estimate(positions_fg, grads_fg, options.dense_mass, mask, previous)
        covariance = welford.covariance(positions_fg, options.regularize)
        return metrics.from_covariance(covariance if mask is None else covariance * mask)

    def init_batch(states, step_size, metric, key, probe) -> WarmupState:
        positions = states.position
        num_chains, dim = positions.shape
        dtype = positions.dtype
        if metric is None:
            metric = metrics.identity(dim, options.dense_mass, dtype)
            if fisher_metric and options.adapt_mass_matrix and options.num_warmup > 0:
                metric = fisher.from_gradient(states.grad_log_density, options.dense_mass)
        step_size = search(jnp.asarray(step_size, dtype), metric, key, probe, states)
        sums = welford.init(num_chains, dim, options.dense_mass, dtype)
        return WarmupState(
            step_size=step_size,
            metric=metric,
            dual_averaging=step_sizes.restart(step_size),
            positions=(sums, sums),
            grads=(sums, sums),
            metric_updates=jnp.zeros((), jnp.int32),
            initial_step_size=step_size,
            tuning=None if tuner is None else tuner.init(positions, settings),
            layout=options.layout,
        )

    def update_batch(state: WarmupState, t, states, infos, key, probe) -> WarmupState:
        step_size, dual_state = state.step_size, state.dual_averaging
        relearned = jnp.zeros((), bool)
        if options.adapt_mass_matrix:
            moved = infos.is_accepted & jnp.all(jnp.isfinite(states.grad_log_density), axis=-1)
            keep = moved & collect[t]
            (x_fg, x_bg), (g_fg, g_bg) = state.positions, state.grads
            x_fg, x_bg = (welford.update(w, states.position, keep) for w in (x_fg, x_bg))
            g_fg, g_bg = (welford.update(w, states.grad_log_density, keep) for w in (g_fg, g_bg))
            relearned = update_at[t] & fisher.has_signal(x_fg)
            # the schedule, not the data, decides when to compute (an unbatched condition:
            # under per-chain vmap a batched one would compute the estimate every time)
            learned = lax.cond(update_at[t], lambda: estimate(x_fg, g_fg, state.metric), lambda: state.metric)
            metric = jax.tree.map(lambda a, b: jnp.where(relearned, a, b), learned, state.metric)
            empty = welford.reset(x_bg)
            pick = lambda a, b: jax.tree.map(lambda u, v: jnp.where(switch[t], u, v), a, b)  # noqa: E731
            positions = (pick(x_bg, x_fg), pick(empty, x_bg))
            grads = (pick(g_bg, g_fg), pick(empty, g_bg))
            state = state._replace(
                metric=metric,
                positions=positions,
                grads=grads,
                metric_updates=state.metric_updates + relearned.astype(jnp.int32),
            )
        if options.adapt_step_size:
            first_metric = relearned & (state.metric_updates == 1)
            restart = first_metric | (t == plan.final_start)
            dual_state = lax.cond(
                restart,
                lambda: step_sizes.restart(search(step_size, state.metric, key, probe, states)),
                lambda: dual_state,
            )
            step_size, dual_state = step_sizes.update(
                dual_state,
                infos.accept_prob,
                options.target_accept_prob,
                t == options.num_warmup - 1,
                infos.proposal_moved,
            )
            state = state._replace(step_size=step_size, dual_averaging=dual_state)
        if state.tuning is not None:
            main = (t >= plan.early_end) & (t < plan.final_start)
            phase = TunerPhase(
                t=t,
                learn=main,
                restart=main & (switch[t] | (t == plan.early_end)),
                final=t == options.num_warmup - 1,
            )
            tuning = tuner.update(state.tuning, phase, states.position, infos, settings)
            state = state._replace(tuning=tuning)
        return state

    if options.pooled:
        return init_batch, update_batch

    def init(states, step_size, metric, keys, probe):
        def one(chain, key):
            return init_batch(expand(chain), step_size, metric, key, probe)

        return jax.vmap(one)(states, keys)

    def update(state, t, states, infos, keys, probe):
        def one(chain_state, chain, info, key):
            return update_batch(chain_state, t, expand(chain), expand(info), key, probe)

        return jax.vmap(one)(state, states, infos, keys)

    return init, update
