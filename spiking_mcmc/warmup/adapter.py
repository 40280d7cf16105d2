"""Warmup is plasticity: one (init, update) that tunes the network over a batch of chains.

    h     <- dual averaging toward the target acceptance     (the jump / step size)
    Sigma <- Welford covariance of the positions in doubling windows;  metric L L^T = Sigma
    the dynamics' own tuner (e.g. the trajectory length) on its own signal

The schedule is Stan's (NumPyro's ``build_adaptation_schedule``): a fast first window for the
step size, doubling slow windows that each end with a new metric (the decoders) and a restart
of dual averaging, and a final fast window. A covariance update is a Hebbian rule on the
decoded state; after warmup the decoders hold the posterior's geometry.

Every function works on a batch of C chains. Per-chain warmup (NumPyro's NUTS's) is the
batch update with C = 1 mapped over the chains (``jax.vmap``): each chain has its own state.
Cross-chain warmup is one update with every chain in the batch: the state has no chain axis,
the step size follows the harmonic mean acceptance and the metric the pooled within-chain
covariance, so each warmup transition gives C draws to the estimates.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from numpyro.infer.hmc_util import build_adaptation_schedule

from spiking_mcmc import mass
from spiking_mcmc import metric as metrics
from spiking_mcmc.mass import MassLayout
from spiking_mcmc.metric import Metric
from spiking_mcmc.warmup import step_size as step_sizes
from spiking_mcmc.warmup import welford


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
    welford: welford.WelfordState
    window: jax.Array
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


def initial_metric(dim: int, dense: bool, inverse_mass_matrix, dtype, layout=None) -> Metric:
    """The user's covariance (``inverse_mass_matrix``: vector, matrix, or NumPyro's dict by
    blocks of sites), else the identity."""
    if inverse_mass_matrix is None:
        return metrics.identity(dim, dense, dtype)
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


def expand(tree):
    """A batch of one: add a leading axis of length 1 to every leaf."""
    return jax.tree.map(lambda x: x[None], tree)


def build(options: WarmupOptions, tuner=None, settings=None):
    """(init, update) over a batch of chains; per-chain or pooled as ``options.pooled`` says.

    init(states, step_size, metric, key, probe) -> WarmupState
    update(state, t, states, infos (C, ...), key, probe) -> WarmupState
    ``states`` is the batch's :class:`~spiking_mcmc.dynamics.base.PositionState` (C, d);
    ``probe(step_size, metric, key, states) -> (C,) acceptance probabilities`` runs one
    transition of the batch (for the heuristic step-size search), or is None. Per-chain,
    ``key`` is one key per chain.
    """
    schedule = jnp.asarray(build_adaptation_schedule(max(options.num_warmup, 1)))
    num_windows = schedule.shape[0]

    def search(step_size, metric, key, probe, states):
        if probe is None or not (options.find_heuristic_step_size and options.adapt_step_size):
            return step_size

        def accept_prob(h, k):
            return step_sizes.harmonic_mean_acceptance(probe(h, metric, k, states))

        return step_sizes.find_reasonable(accept_prob, step_size, key, options.target_accept_prob)

    def init_batch(states, step_size, metric, key, probe) -> WarmupState:
        positions = states.position
        dtype = positions.dtype
        step_size = search(jnp.asarray(step_size, dtype), metric, key, probe, states)
        return WarmupState(
            step_size=step_size,
            metric=metric,
            dual_averaging=step_sizes.restart(step_size),
            welford=welford.init(positions.shape[0], positions.shape[1], options.dense_mass, dtype),
            window=jnp.zeros((), jnp.int32),
            tuning=None if tuner is None else tuner.init(positions, settings),
            layout=options.layout,
        )

    def end_window(state: WarmupState, key, probe, states) -> WarmupState:
        metric = state.metric
        window_sums = state.welford
        if options.adapt_mass_matrix:
            covariance = welford.covariance(state.welford, options.regularize)
            mask = options.covariance_mask()
            metric = metrics.from_covariance(covariance if mask is None else covariance * mask)
            window_sums = welford.reset(state.welford)
        step_size, dual_state = state.step_size, state.dual_averaging
        if options.adapt_step_size:
            step_size = search(step_size, metric, key, probe, states)
            dual_state = step_sizes.restart(step_size)
        return state._replace(
            step_size=step_size, metric=metric, dual_averaging=dual_state, welford=window_sums
        )

    def update_batch(state: WarmupState, t, states, infos, key, probe) -> WarmupState:
        positions = states.position
        step_size, dual_state = state.step_size, state.dual_averaging
        if options.adapt_step_size:
            step_size, dual_state = step_sizes.update(
                dual_state,
                infos.accept_prob,
                options.target_accept_prob,
                t == options.num_warmup - 1,
            )
        window = state.window
        is_middle_window = (0 < window) & (window < num_windows - 1)
        window_sums = state.welford
        if options.adapt_mass_matrix:
            window_sums = lax.cond(
                is_middle_window, lambda w: welford.update(w, positions), lambda w: w, window_sums
            )
        at_window_end = t == schedule[window, 1]
        state = state._replace(
            step_size=step_size,
            dual_averaging=dual_state,
            welford=window_sums,
            window=jnp.where(at_window_end, window + 1, window),
        )
        metric_changed = at_window_end & is_middle_window
        state = lax.cond(
            metric_changed, lambda s: end_window(s, key, probe, states), lambda s: s, state
        )
        if state.tuning is not None:
            tuning = tuner.update(
                state.tuning,
                t,
                options.num_warmup,
                positions,
                infos,
                metric_changed & options.adapt_mass_matrix,
                settings,
            )
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
