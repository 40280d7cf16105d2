"""ChEES-HMC (BlackJAX): jittered HMC whose trajectory length is learned across chains.

    warmup:   blackjax.chees_adaptation(l, chains, mass_matrix_estimation="diagonal")
              .run(key, starts, step_size=0.1, optim=optax.adam(0.025, b1=0, b2=0.95))
    sampling: blackjax.dynamic_hmc(l, **tuned) on every chain, vectorised

ChEES (Hoffman, Radul & Sountsov 2021) maximises the change in the estimator of the expected
square over an ensemble of chains, and dual-averages the step size towards acceptance 0.651;
the Adam settings are the paper's (as in TensorFlow Probability's
``GradientBasedTrajectoryLengthAdaptation``). The ensemble-estimated diagonal metric is
BlackJAX's option, chosen so that ChEES, like every other method here, adapts a metric.
Velocity Verlet: one gradient a leapfrog step. ChEES needs at least two chains; it is the
anchor for many chains.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks.density import blackjax_run, flat_density
from spiking_mcmc.timing import TimedRun, timed_sampling, timed_warmup

INITIAL_STEP_SIZE = 0.1
LEARNING_RATE = 0.025


def run(posterior, settings) -> tuple[TimedRun, dict]:
    """Cross-chain ChEES warmup, then vectorised jittered HMC."""
    import blackjax
    import optax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    chains = settings.num_chains
    if chains < 2:
        raise ValueError("ChEES adapts across chains: run it with num_chains >= 2")
    key_init, key_warmup, key_sample = jax.random.split(jax.random.PRNGKey(settings.seed), 3)
    density = flat_density(posterior, key_init, chains)
    adaptation = blackjax.chees_adaptation(
        density.logdensity,
        chains,
        mass_matrix_estimation="diagonal",
        adaptation_info_fn=get_filter_adapt_info_fn(info_keys={"num_integration_steps"}),
    )
    functions = {}  # the tuned kernel's Python functions (Halton jitter): no tracers inside

    def warmup(positions):
        (states, tuned), info = adaptation.run(
            key_warmup,
            positions,
            step_size=INITIAL_STEP_SIZE,
            optim=optax.adam(LEARNING_RATE, b1=0.0, b2=0.95),
            num_steps=settings.num_warmup,
            max_sampling_steps=settings.num_samples,
        )
        functions.update({k: v for k, v in tuned.items() if callable(v)})
        arrays = {k: v for k, v in tuned.items() if not callable(v)}
        return (states, arrays), jnp.sum(info.info.num_integration_steps, axis=0)

    (states, tuned), warmup_grads, warmup_s, compile_s = timed_warmup(warmup, density.positions)

    def transition(carry):
        key, states, tuned = carry
        key, key_step = jax.random.split(key)
        step = blackjax.dynamic_hmc(density.logdensity, **tuned, **functions).step
        states, info = jax.vmap(step)(jax.random.split(key_step, chains), states)
        fields = {
            "accept_prob": info.acceptance_rate,
            "diverging": info.is_divergent,
            "num_steps": info.num_integration_steps,
        }
        return (key, states, tuned), (states.position, fields)

    _, positions, fields, sampling_s, sample_compile_s = timed_sampling(
        transition, (key_sample, states, tuned), settings.num_samples
    )
    timed = blackjax_run(
        density,
        positions,
        fields,
        "num_steps",
        warmup_s,
        sampling_s,
        compile_s + sample_compile_s,
        warmup_grads,
    )
    notes = {
        "num_warmup": settings.num_warmup,
        "step_size": float(tuned["step_size"]),
        "leapfrog_steps": float(tuned["integration_steps_params"][0]),
    }
    return timed, notes
