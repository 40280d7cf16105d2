"""BlackJAX's MAMS (Metropolis-adjusted microcanonical HMC), tuned as its sampling book shows.

    tuning: blackjax.adjusted_mclmc_find_L_and_step_size(kernel, l, num_steps=draws, target=0.9,
            frac_tune1 = frac_tune2 = frac_tune3 = 0.1, diagonal_preconditioning=True)
    sampling: adjusted_mclmc_dynamic with n ~ ceil(U(0, 1) * rescale(L / eps)) steps a proposal

as in the book's ``run_adjusted_mclmc_dynamic`` (blackjax-devs/sampling-book,
book/algorithms/mclmc.md; Robnik, Cohn-Gordon & Seljak, "Metropolis adjusted microcanonical
Hamiltonian Monte Carlo"). Each chain is tuned on its own (the book's recipe is for one
chain) and the chains run vectorised. Its stages make about half as many transitions as
there are draws (0.2 + 0.1 of them for step size and metric, 0.1 for L, 0.1 to retune the
step size): the record's warmup is its gradients and seconds. The isokinetic McLachlan
integrator evaluates the gradient twice a step, so a proposal of n steps costs 2n gradients.

A tuning that fails (a step size or L that is not finite, or a step size at BlackJAX's floor
of 1e-5) or that runs past ``settings.mams_budget_s`` is recorded as such: the record keeps
the warmup's seconds and gradients and says what happened, with no ESS. Tuning is one
compiled call and cannot be stopped inside; sampling runs in compiled chunks and stops once
warmup plus sampling pass the budget.
"""

from __future__ import annotations

import jax
import numpy as np

from benchmarks.density import blackjax_run, flat_density
from spiking_mcmc.timing import BudgetExceeded, TimedRun, timed_sampling, timed_warmup

GRADS_PER_STEP = 2  # isokinetic McLachlan: two gradient evaluations per integration step
TARGET_ACCEPT = 0.9  # the book's recommendation
STEP_SIZE_FLOOR = 1e-5  # BlackJAX clamps the tuned step size here
TUNING_FRACTION = 0.1  # frac_tune1 = frac_tune2 = frac_tune3, of num_steps (the draws)


def _kernel():
    from blackjax.mcmc import adjusted_mclmc_dynamic

    return adjusted_mclmc_dynamic.build_kernel(
        integration_steps_fn=adjusted_mclmc_dynamic.make_random_trajectory_length_fn(True)
    )


def tuning_failure(params) -> str | None:
    """Why a tuned (step size, L, inverse mass matrix) of each chain cannot be used, or None."""
    step, length = np.asarray(params.step_size), np.asarray(params.L)
    scale = np.asarray(params.inverse_mass_matrix)
    if not (np.all(np.isfinite(step)) and np.all(np.isfinite(length))):
        return f"step size {step} or L {length} not finite"
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        return "inverse mass matrix not finite and positive"
    if np.any(step <= STEP_SIZE_FLOOR * 1.0001):
        return f"step size collapsed to BlackJAX's floor {STEP_SIZE_FLOOR:g}: {step}"
    return None


def run(posterior, settings) -> tuple[TimedRun | None, dict]:
    """Tune each chain, then sample; (None, notes) when the tuning failed or ran too long."""
    import blackjax
    from blackjax.mcmc import adjusted_mclmc_dynamic

    key_init, key_tune, key_sample = jax.random.split(jax.random.PRNGKey(settings.seed), 3)
    density = flat_density(posterior, key_init, settings.num_chains)
    kernel = _kernel()
    chains = settings.num_chains

    def tune_one(key, position):
        key_state, key_tune = jax.random.split(key)
        state = adjusted_mclmc_dynamic.init(position, density.logdensity, key_state)
        state, params, steps = blackjax.adjusted_mclmc_find_L_and_step_size(
            mclmc_kernel=kernel,
            logdensity_fn=density.logdensity,
            num_steps=settings.num_samples,
            state=state,
            rng_key=key_tune,
            target=TARGET_ACCEPT,
            frac_tune1=TUNING_FRACTION,
            frac_tune2=TUNING_FRACTION,
            frac_tune3=TUNING_FRACTION,
            diagonal_preconditioning=True,
        )
        return (state, params), GRADS_PER_STEP * steps

    def warmup(positions):
        return jax.vmap(tune_one)(jax.random.split(key_tune, chains), positions)

    (states, params), warmup_grads, warmup_s, compile_s = timed_warmup(warmup, density.positions)
    notes = {
        "warmup_s": warmup_s,
        "warmup_grad_evals": warmup_grads,
        "compile_s": compile_s,
        "budget_s": settings.mams_budget_s,
        "step_size": np.asarray(params.step_size).tolist(),
        "L": np.asarray(params.L).tolist(),
        "tuning": "ok",
    }
    failure = tuning_failure(params)
    if failure is not None:
        return None, {**notes, "tuning": f"failed: {failure}"}
    if warmup_s > settings.mams_budget_s:
        return None, {**notes, "tuning": f"over budget: {warmup_s:.1f} s"}

    def move(key, state, params):
        state, info = kernel(
            key,
            state,
            density.logdensity,
            params.step_size,
            inverse_mass_matrix=params.inverse_mass_matrix,
            integration_steps_params=(params.L / params.step_size,),
        )
        return state, info

    def transition(carry):
        key, states, params = carry
        key, key_step = jax.random.split(key)
        states, info = jax.vmap(move)(jax.random.split(key_step, chains), states, params)
        steps = info.num_integration_steps
        fields = {
            "accept_prob": info.acceptance_rate,
            "diverging": info.is_divergent,
            "num_steps": steps,
            "num_grad_evals": GRADS_PER_STEP * steps,
        }
        return (key, states, params), (states.position, fields)

    try:
        _, positions, fields, sampling_s, sample_compile_s = timed_sampling(
            transition,
            (key_sample, states, params),
            settings.num_samples,
            budget_s=settings.mams_budget_s - warmup_s,
        )
    except BudgetExceeded as error:
        return None, {**notes, "sampling": f"over budget: {error}"}
    timed = blackjax_run(
        density,
        positions,
        fields,
        "num_grad_evals",
        warmup_s,
        sampling_s,
        compile_s + sample_compile_s,
        warmup_grads,
    )
    return timed, {k: notes[k] for k in ("tuning", "budget_s", "step_size", "L")}
