"""Cross-chain warmup: one step size and one covariance (one set of synapses) learned from all
chains at once, for the many-chain regime.

    log h <- dual averaging toward the target on the harmonic mean acceptance of the C chains
    Sigma <- within-chain covariance pooled over the C chains in NumPyro's windows

With C chains each warmup transition gives C draws to the covariance estimate and C acceptance
probabilities to the step size, so a warmup of a few hundred transitions learns what a single
chain needs thousands for, and every chain runs the same network (the same number of leapfrog
steps: vectorised chains step in lock-step, none waits for another). The schedule (Stan's
windows), the dual averaging and the regularised covariance are NumPyro's own; the Welford
sums are kept per chain and pooled (the within-chain covariance of R-hat: a pooled covariance
of all draws would also count the spread between chains that have not yet converged, and with
slow chains, the Poisson network's, it came out 3.5 times too wide in one direction of a 10-d
Gaussian after 1500 warmup transitions of 64 chains). The state is NumPyro's
``HMCAdaptState`` without a chain axis.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from numpyro.infer.hmc_util import (
    HMCAdaptState,
    build_adaptation_schedule,
    dual_averaging,
    welford_covariance,
)

__all__ = ["make_cross_chain_adapter", "pooled_covariance", "pooled_welford_update"]


def init_pooled_welford(num_chains, dim, dense, dtype):
    """(chain means (C, d), pooled M2, draws per chain n) = nothing seen yet."""
    m2 = jnp.zeros((dim, dim) if dense else (dim,), dtype)
    return jnp.zeros((num_chains, dim), dtype), m2, jnp.zeros((), jnp.int32)


def pooled_welford_update(samples, welford_state):
    """Add one draw of every chain (C, d) to the chains' own Welford sums, pooled.

    m_c <- m_c + (x_c - m_c) / n;   M2 <- M2 + sum_c (x_c - m_c,old)(x_c - m_c,new)^T
    so M2 / (C (n - 1)) is the within-chain covariance W (R-hat's W): chains that have not yet
    met do not inflate it, as the spread between their means would.
    """
    chain_means, m2, count = welford_state
    count = count + 1
    delta_before = samples - chain_means
    chain_means = chain_means + delta_before / count.astype(samples.dtype)
    delta_after = samples - chain_means
    if jnp.ndim(m2) == 1:
        m2 = m2 + jnp.sum(delta_before * delta_after, axis=0)
    else:
        m2 = m2 + delta_after.T @ delta_before
    return chain_means, m2, count


def pooled_covariance(welford_state, final):
    """NumPyro's regularised covariance (``final``) of the pooled within-chain sums, counted
    as C (n - 1) + 1 draws."""
    chain_means, m2, count = welford_state
    num_chains = chain_means.shape[0]
    return final((chain_means[0], m2, num_chains * (count - 1) + 1), regularize=True)


MIN_ACCEPT_PROB = 1e-3  # a chain that accepts nothing counts as this in the harmonic mean


def harmonic_mean_acceptance(accept_probs):
    """C / sum_c 1 / max(alpha_c, 1e-3): the chains' acceptance, dominated by the worst ones.

    A chain stuck out in a tail (alpha ~ 0) pulls the shared step size down until it moves,
    where an arithmetic mean over many chains would not notice it (ChEES-HMC's choice).
    """
    finite = jnp.where(jnp.isfinite(accept_probs), accept_probs, 0.0)
    return 1.0 / jnp.mean(1.0 / jnp.maximum(finite, MIN_ACCEPT_PROB))


def make_cross_chain_adapter(
    num_warmup: int,
    target_accept_prob: float,
    adapt_step_size: bool = True,
    adapt_mass_matrix: bool = True,
    dense_mass: bool = False,
):
    """(init, update) with init(HMCAdaptState of one chain, num_chains) -> shared state and
    update(t, accept_probs (C,), positions (C, d), state) -> state.

    The starting state is NumPyro's ``warmup_adapter`` init for one chain (its step size and
    covariance); the update follows NumPyro's ``warmup_adapter`` update step for step, with the
    chains' harmonic mean acceptance and their pooled within-chain covariance.
    """
    dual_averaging_init, dual_averaging_update = dual_averaging()
    _, _, welford_final = welford_covariance(diagonal=not dense_mass)
    schedule = jnp.asarray(build_adaptation_schedule(num_warmup))
    num_windows = schedule.shape[0]

    def end_window(state: HMCAdaptState) -> HMCAdaptState:
        step_size = state.step_size
        covariance, sqrt, sqrt_inv = (
            state.inverse_mass_matrix,
            state.mass_matrix_sqrt,
            state.mass_matrix_sqrt_inv,
        )
        welford_state = state.mm_state
        if adapt_mass_matrix:
            covariance, sqrt, sqrt_inv = pooled_covariance(state.mm_state, welford_final)
            chain_means, m2, _ = state.mm_state
            welford_state = init_pooled_welford(*chain_means.shape, dense_mass, m2.dtype)
        dual_state = state.ss_state
        if adapt_step_size:
            dual_state = dual_averaging_init(jnp.log(10.0) + jnp.log(step_size))
        return state._replace(
            inverse_mass_matrix=covariance,
            mass_matrix_sqrt=sqrt,
            mass_matrix_sqrt_inv=sqrt_inv,
            ss_state=dual_state,
            mm_state=welford_state,
        )

    def update(t, accept_probs, positions, state: HMCAdaptState) -> HMCAdaptState:
        step_size, dual_state = state.step_size, state.ss_state
        if adapt_step_size:
            pooled_accept = harmonic_mean_acceptance(accept_probs)
            dual_state = dual_averaging_update(target_accept_prob - pooled_accept, dual_state)
            log_step_size, log_step_size_avg, *_ = dual_state
            step_size = jnp.where(
                t == num_warmup - 1, jnp.exp(log_step_size_avg), jnp.exp(log_step_size)
            )
            finfo = jnp.finfo(jnp.result_type(step_size))
            step_size = jnp.clip(step_size, finfo.tiny, finfo.max)
        window = state.window_idx
        is_middle_window = (0 < window) & (window < num_windows - 1)
        welford_state = state.mm_state
        if adapt_mass_matrix:
            welford_state = lax.cond(
                is_middle_window,
                lambda w: pooled_welford_update(positions, w),
                lambda w: w,
                welford_state,
            )
        at_window_end = t == schedule[window, 1]
        state = state._replace(
            step_size=step_size,
            ss_state=dual_state,
            mm_state=welford_state,
            window_idx=jnp.where(at_window_end, window + 1, window),
        )
        return lax.cond(at_window_end & is_middle_window, end_window, lambda s: s, state)

    def init(state: HMCAdaptState, num_chains: int) -> HMCAdaptState:
        dim = jnp.shape(state.inverse_mass_matrix)[-1]
        dtype = jnp.result_type(state.step_size)
        welford_state = init_pooled_welford(num_chains, dim, dense_mass, dtype)
        return state._replace(mm_state=welford_state)

    return init, update
