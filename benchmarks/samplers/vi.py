"""Variational inference run until its ELBO stops improving, and judged converged apart.

    optimiser: Adam(lr0) scaled by optax.contrib.reduce_on_plateau: the loss (-ELBO) averaged
               over a window of W steps must beat its best window by atol nats; after
               ``patience`` windows that do not, the learning rate falls tenfold, down to
               lr0 * min_scale
    stop:      ``patience`` more windows without improvement at the floor ("plateau"), or the
               step cap ("step cap"); an ELBO that is not finite starts the fit again at a
               tenth of lr0 (twice at most)
    converged: continuing from the result for twice its steps at a tenth of the final learning
               rate moves no posterior mean by more than 0.1 sd and no sd by more than 5%

The check is independent of the stopping rule: a run stopped by the step cap while the
optimum still moves fails it, and one stopped by the plateau rule too early fails it too.
When a guide has converged, its error against the reference is the guide family's bias
(mean-field or full-rank Gaussian in the unconstrained space), not the optimiser's.
The check's power scales with the final learning rate: Adam moves a parameter by about its
learning rate a step, so the continuation can show a drift of at most about
0.2 x steps x lr_final. The floor lr0 / 1000 keeps that meaningful; at lr0 / 10^4 the check
passed kilpisjarvi's full-rank guide while it was still 2 sd from its optimum.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from spiking_mcmc.timing import compile_ahead, time_call


@dataclasses.dataclass(frozen=True)
class PlateauRule:
    """The stopping rule (first block) and the convergence check (second block)."""

    learning_rate: float = 0.02
    window: int = 1000  # steps whose mean loss is one plateau test
    patience: int = 3  # windows without improvement before the learning rate falls
    factor: float = 0.1
    min_scale: float = 0.001  # the floor: lr0 * min_scale (see README on the check's power)
    atol: float = 0.05  # nats the window's mean loss must beat the best by
    max_steps: int = 200_000
    restarts: int = 2  # fits started again at lr0 / 10 when the ELBO is not finite
    num_particles: int = 1  # ELBO draws a step
    check_steps_factor: float = 2.0
    check_lr_factor: float = 0.1
    mean_tolerance: float = 0.1  # in sds of the guide before the continuation
    sd_tolerance: float = 0.05  # relative


class Fit(NamedTuple):
    """Where the optimiser stopped and what it cost (compilation apart)."""

    svi: object
    state: object
    steps: int
    seconds: float
    compile_s: float
    learning_rate: float  # at the end
    stopped_by: str  # "plateau" or "step cap"
    losses: list  # mean loss of each window
    initial_learning_rate: float
    checkpoints: list  # (seconds, guide parameters) after windows 1, 2, 4, 8, ... and the last


class NotFinite(FloatingPointError):
    """The ELBO was not finite: how far the fit got."""

    def __init__(self, steps, seconds, learning_rate):
        super().__init__(
            f"the ELBO is not finite after {steps} steps at learning rate {learning_rate:g}; "
            "lower PlateauRule.learning_rate"
        )
        self.steps, self.seconds = steps, seconds


def optimizer(rule: PlateauRule):
    """Adam whose updates reduce_on_plateau scales down when the windowed loss stalls."""
    import optax

    return optax.chain(
        optax.adam(rule.learning_rate),
        optax.contrib.reduce_on_plateau(
            factor=rule.factor,
            patience=rule.patience,
            rtol=0.0,
            atol=rule.atol,
            accumulation_size=rule.window,
            min_scale=rule.min_scale,
        ),
    )


def plateau_state(svi_state):
    """The reduce_on_plateau state inside an SVI state."""
    from optax.contrib import ReduceLROnPlateauState

    leaves = jax.tree.leaves(
        svi_state.optim_state, is_leaf=lambda x: isinstance(x, ReduceLROnPlateauState)
    )
    return next(x for x in leaves if isinstance(x, ReduceLROnPlateauState))


def _windows(svi, args, kwargs):
    """``length`` -> a function running ``length`` SVI steps: (state, mean of the finite losses).

    Steps use ``SVI.stable_update``: a step whose loss or new state is not finite (a rare
    guide draw where the model overflows) is skipped, as NumPyro's ``SVI.run(stable_update=
    True)`` does; a window with no finite loss returns NaN."""

    def window(length):
        def run(state):
            def body(_, carry):
                state, total, count = carry
                state, loss = svi.stable_update(state, *args, **kwargs)
                finite = jnp.isfinite(loss)
                return state, total + jnp.where(finite, loss, 0.0), count + finite

            init = (state, jnp.zeros(()), jnp.zeros((), jnp.int32))
            state, total, count = jax.lax.fori_loop(0, length, body, init)
            return state, jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)

        return run

    return window


def fit(model, guide, key, rule: PlateauRule, args=(), kwargs=None) -> Fit:
    """Optimise the ELBO until the plateau rule or the step cap stops it."""
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.optim import optax_to_numpyro

    kwargs = {} if kwargs is None else kwargs
    svi = SVI(model, guide, optax_to_numpyro(optimizer(rule)), Trace_ELBO(rule.num_particles))
    state = svi.init(key, *args, **kwargs)
    window = _windows(svi, args, kwargs)
    compiled, compile_s, seconds = {}, 0.0, 0.0
    steps, stalls, losses, checkpoints, stopped_by = 0, 0, [], [], "step cap"
    while steps < rule.max_steps:
        length = min(rule.window, rule.max_steps - steps)
        if length not in compiled:
            compiled[length], spent = compile_ahead(window(length), state)
            compile_s += spent
        before = plateau_state(state)
        (state, loss), spent = time_call(compiled[length], state)
        seconds += spent
        steps += length
        losses.append(float(loss))
        if not np.isfinite(losses[-1]):
            raise NotFinite(steps, seconds, rule.learning_rate)
        if len(losses) & (len(losses) - 1) == 0:  # windows 1, 2, 4, 8, ...
            checkpoints.append((seconds, svi.get_params(state)))
        after = plateau_state(state)
        at_floor = float(before.scale) <= rule.min_scale * (1 + 1e-6)
        improved = float(after.best_value) < float(before.best_value)
        stalls = stalls + 1 if at_floor and not improved else 0
        if stalls >= rule.patience:
            stopped_by = "plateau"
            break
    if checkpoints[-1][0] != seconds:
        checkpoints.append((seconds, svi.get_params(state)))
    return Fit(
        svi=svi,
        state=state,
        steps=steps,
        seconds=seconds,
        compile_s=compile_s,
        learning_rate=float(plateau_state(state).scale) * rule.learning_rate,
        stopped_by=stopped_by,
        losses=losses,
        initial_learning_rate=rule.learning_rate,
        checkpoints=checkpoints,
    )


def fit_with_restarts(model, guide, key, rule: PlateauRule, args=(), kwargs=None) -> Fit:
    """:func:`fit`, started again at a tenth of the learning rate (``rule.restarts`` times at
    most) when the ELBO is not finite; the failed fits' steps and seconds count."""
    spent_steps, spent_s = 0, 0.0
    for attempt in range(rule.restarts + 1):
        try:
            result = fit(model, guide, key, rule, args, kwargs)
            break
        except NotFinite as error:
            if attempt == rule.restarts:
                raise
            spent_steps += error.steps
            spent_s += error.seconds
            rule = dataclasses.replace(rule, learning_rate=rule.learning_rate * rule.factor)
    return result._replace(
        steps=result.steps + spent_steps,
        seconds=result.seconds + spent_s,
        checkpoints=[(seconds + spent_s, params) for seconds, params in result.checkpoints],
    )


def continuation(result: Fit, model, guide, key, rule: PlateauRule, args=(), kwargs=None):
    """Guide parameters after ``check_steps_factor`` x the steps at ``check_lr_factor`` x the
    final learning rate, starting where ``result`` stopped; and the seconds it took."""
    import optax
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.optim import optax_to_numpyro

    kwargs = {} if kwargs is None else kwargs
    optim = optax_to_numpyro(optax.adam(rule.check_lr_factor * result.learning_rate))
    svi = SVI(model, guide, optim, Trace_ELBO(rule.num_particles))
    params = result.svi.get_params(result.state)
    state = svi.init(key, *args, init_params=params, **kwargs)
    steps = int(rule.check_steps_factor * result.steps)
    start = time.perf_counter()
    state, _ = jax.jit(_windows(svi, args, kwargs)(steps))(state)
    return svi.get_params(jax.block_until_ready(state)), time.perf_counter() - start


def change(before: dict, after: dict) -> tuple[float, float]:
    """(largest |mean shift|, in sds of ``before``; largest |sd ratio - 1|) between two sets of
    draws {name: draws} of the same parameters."""
    shifts, ratios = [], []
    for name, x in before.items():
        x, y = np.asarray(x, np.float64).ravel(), np.asarray(after[name], np.float64).ravel()
        sd = x.std()
        shifts.append(abs(y.mean() - x.mean()) / sd if sd > 0 else 0.0)
        ratios.append(abs(y.std() / sd - 1.0) if sd > 0 else 0.0)
    return float(max(shifts, default=0.0)), float(max(ratios, default=0.0))


def converged(shift: float, sd_change: float, rule: PlateauRule) -> bool:
    """The convergence check's verdict on a continuation's change."""
    return shift <= rule.mean_tolerance and sd_change <= rule.sd_tolerance


def guide_draws(model, guide, key, num_draws, sites, args=(), kwargs=None):
    """params -> {site: (num_draws, ...)}: draws of ``sites`` under the guide, compiled, with
    the same ``key`` for every call (common random numbers)."""
    from numpyro.infer import Predictive

    kwargs = {} if kwargs is None else kwargs

    def draw(params):
        predictive = Predictive(
            model, guide=guide, params=params, num_samples=num_draws, return_sites=sites
        )
        return predictive(key, *args, **kwargs)

    return jax.jit(draw)


GUIDES = {"vi-normal": "AutoNormal", "vi-mvn": "AutoMultivariateNormal"}


def run(method: str, posterior, settings) -> tuple[dict, dict]:
    """Fit ``method``'s guide to ``posterior``; (record fields, guide draws {site: (1, n)})."""
    from numpyro.infer import autoguide

    from benchmarks.metrics import error_of, reference_check

    rule = settings.vi
    guide = getattr(autoguide, GUIDES[method])(posterior.model)  # NumPyro's default start
    args, kwargs = posterior.args, posterior.kwargs
    key_fit, key_draws, key_check = jax.random.split(jax.random.PRNGKey(settings.seed), 3)
    sites = sorted({site for site, _ in posterior.param_map.values()})
    draw = guide_draws(posterior.model, guide, key_draws, settings.vi_draws, sites, args, kwargs)

    def stan_draws(params):
        return posterior.stan_draws(draw(params), sample_ndim=1)

    result = fit_with_restarts(posterior.model, guide, key_fit, rule, args, kwargs)
    curve = [  # outside the timed loop
        [seconds, *error_of(stan_draws(params), posterior.reference)]
        for seconds, params in result.checkpoints
    ]
    params = result.svi.get_params(result.state)
    after, check_s = continuation(result, posterior.model, guide, key_check, rule, args, kwargs)
    final = stan_draws(params)
    shift, sd_change = change(final, stan_draws(after))
    record = reference_check(
        {k: v[None] for k, v in final.items()}, posterior.reference, max_rhat=None
    )
    record.update(
        learning_rate=result.initial_learning_rate,
        vi_steps=result.steps,
        vi_seconds=result.seconds,
        stopped_by=result.stopped_by,
        final_learning_rate=result.learning_rate,
        final_loss=result.losses[-1],
        converged=converged(shift, sd_change, rule),
        continuation_mean_shift=shift,
        continuation_sd_change=sd_change,
        continuation_s=check_s,
        compile_s=result.compile_s,
        warmup_s=0.0,
        sampling_s=result.seconds,
        error_curve=curve,
    )
    samples = {k: np.asarray(v)[None] for k, v in draw(params).items()}
    return record, samples
