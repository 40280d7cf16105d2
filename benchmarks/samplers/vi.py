"""Variational inference run until its ELBO stops improving, and judged converged apart.

    guide:     q(x) = N(m, S S^T) on the flat unconstrained x; S diagonal (``vi-normal``, as
               NumPyro's AutoNormal) or any (``vi-mvn``, as AutoMultivariateNormal)
    coordinates: m = x* + P u, S = diag(s) or P T (T lower triangular): P P^T = H^-1 is the
               Laplace factor at the mode x* (samplers/laplace.py), the identity where there is
               none. The family is the same whatever P is; only the optimiser's view changes.
    optimiser: Adam(lr0) on -ELBO = -E_q[l(x)] - log|det S| (reparameterised, one draw a step)
               scaled by optax.contrib.reduce_on_plateau: the loss averaged over a window of W
               steps must beat its best window by atol nats; after ``patience`` windows that do
               not, the learning rate falls tenfold, down to lr0 * min_scale
    stop:      ``patience`` more windows without improvement at the floor ("plateau"), or the
               step cap ("step cap"); an ELBO that is not finite starts the fit again at a
               tenth of lr0 (twice at most)
    converged: continuing from the result for twice its steps at a tenth of the final learning
               rate moves no posterior mean by more than 0.1 sd and no sd by more than 5%

Why the Laplace coordinates: in the plain ones the ELBO's curvature in m is the posterior
precision, so on regressions with unscaled, correlated predictors (diamonds, kilpisjarvi)
Adam crawls along the long axis and stops on its plateau rule far from the optimum (the
check caught it on 7 of 38 guides). The mode search and the Hessian count in the VI's
seconds. The check is independent of the stopping rule: a run stopped by the step cap while
the optimum still moves fails it, and one stopped by the plateau rule too early fails it too.
When a guide has converged, its error against the reference is the guide family's bias
(mean-field or full-rank Gaussian in the unconstrained space), not the optimiser's.
The check's power scales with the final learning rate: Adam moves a parameter by about its
learning rate a step, so the continuation can show a drift of at most about
0.2 x steps x lr_final. The floor lr0 / 1000 keeps that meaningful.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.samplers.laplace import Preconditioner
from spiking_mcmc.timing import compile_ahead, time_call

FAMILIES = {"vi-normal": "normal", "vi-mvn": "mvn"}
INIT_SCALE = 0.1  # NumPyro's autoguides' init_scale, where no Laplace factor is found
MODE_STARTS = 4  # default starts of the mode search (the highest mode found is used)


@dataclasses.dataclass(frozen=True)
class PlateauRule:
    """The stopping rule (first block) and the convergence check (second block)."""

    learning_rate: float = 0.02
    window: int = 1000  # steps whose mean loss is one plateau test
    patience: int = 3  # windows without improvement before the learning rate falls
    factor: float = 0.1
    min_scale: float = 0.001  # the floor: lr0 * min_scale (see the module doc on the check)
    atol: float = 0.05  # nats the window's mean loss must beat the best by
    max_steps: int = 200_000
    restarts: int = 2  # fits started again at lr0 / 10 when the ELBO is not finite
    num_particles: int = 1  # ELBO draws a step
    check_steps_factor: float = 2.0
    check_lr_factor: float = 0.1
    mean_tolerance: float = 0.1  # in sds of the guide before the continuation
    sd_tolerance: float = 0.05  # relative


class Guide(NamedTuple):
    """A Gaussian family on R^d and the coordinates its parameters live in."""

    family: str  # "normal" (diagonal S) or "mvn" (any S)
    centre: jax.Array  # (d,) x*: m at u = 0
    factor: jax.Array  # (d, d) P
    init_diagonal: jax.Array  # (d,) at the start: s (normal) or T's diagonal (mvn)
    log_det_factor: jax.Array  # log |det P|, once rather than at every ELBO step


def guide_for(family: str, preconditioner: Preconditioner) -> Guide:
    """The guide started at the Laplace approximation, or at the default start with S = 0.1 I.

    Normal: s = 1 / sqrt(H_ii) (the mean-field optimum for a Gaussian); mvn: T = I, S = P."""
    if family not in ("normal", "mvn"):
        raise ValueError(f"family must be 'normal' or 'mvn', not {family!r}")
    ones = jnp.ones_like(preconditioner.centre)
    if not preconditioner.found:
        diagonal = INIT_SCALE * ones
    else:
        diagonal = preconditioner.marginal_sd if family == "normal" else ones
    log_det_factor = jnp.linalg.slogdet(preconditioner.factor)[1]
    return Guide(family, preconditioner.centre, preconditioner.factor, diagonal, log_det_factor)


def init_params(guide: Guide) -> dict:
    """u = 0, and log s (normal) or diag(log T) (mvn) from ``init_diagonal``."""
    loc = jnp.zeros_like(guide.centre)
    if guide.family == "normal":
        return {"loc": loc, "log_scale": jnp.log(guide.init_diagonal)}
    return {"loc": loc, "tril": jnp.diag(jnp.log(guide.init_diagonal))}


def scale_matrix(guide: Guide, params) -> jax.Array:
    """S: diag(s), or P T with T = strictly-lower(raw) + diag(exp(diag raw))."""
    if guide.family == "normal":
        return jnp.diag(jnp.exp(params["log_scale"]))
    raw = params["tril"]
    lower = jnp.tril(raw, -1) + jnp.diag(jnp.exp(jnp.diag(raw)))
    return guide.factor @ lower


def log_det_scale(guide: Guide, params) -> jax.Array:
    """log |det S| (the Gaussian's entropy up to a constant)."""
    if guide.family == "normal":
        return jnp.sum(params["log_scale"])
    return guide.log_det_factor + jnp.sum(jnp.diag(params["tril"]))


def mean(guide: Guide, params) -> jax.Array:
    """m = x* + P u."""
    return guide.centre + guide.factor @ params["loc"]


def positions(guide: Guide, params, noise) -> jax.Array:
    """x = m + S eps for each row of ``noise`` (n, d)."""
    return mean(guide, params) + noise @ scale_matrix(guide, params).T


def negative_elbo(logdensity, guide: Guide, num_particles: int):
    """(params, key) -> -ELBO estimate: -mean_k l(m + S eps_k) - log|det S| - d/2 log(2 pi e)."""
    dim = guide.centre.shape[-1]
    entropy_constant = 0.5 * dim * (1.0 + jnp.log(2 * jnp.pi))

    def loss(params, key):
        noise = jax.random.normal(key, (num_particles, dim), guide.centre.dtype)
        values = jax.vmap(logdensity)(positions(guide, params, noise))
        return -jnp.mean(values) - log_det_scale(guide, params) - entropy_constant

    return loss


def optimizer(rule: PlateauRule, learning_rate: float | None = None, plateau: bool = True):
    """Adam, its updates scaled down by reduce_on_plateau when the windowed loss stalls."""
    import optax

    adam = optax.adam(rule.learning_rate if learning_rate is None else learning_rate)
    if not plateau:
        return adam
    return optax.chain(
        adam,
        optax.contrib.reduce_on_plateau(
            factor=rule.factor,
            patience=rule.patience,
            rtol=0.0,
            atol=rule.atol,
            accumulation_size=rule.window,
            min_scale=rule.min_scale,
        ),
    )


def plateau_state(optimizer_state):
    """The reduce_on_plateau state inside an optimiser state."""
    from optax.contrib import ReduceLROnPlateauState

    leaves = jax.tree.leaves(
        optimizer_state, is_leaf=lambda x: isinstance(x, ReduceLROnPlateauState)
    )
    return next(x for x in leaves if isinstance(x, ReduceLROnPlateauState))


class OptState(NamedTuple):
    """The guide's parameters, Adam's (and the plateau rule's) state, and the ELBO draws' key."""

    params: dict
    optimizer_state: object
    key: jax.Array


def windows(loss, optim):
    """``length`` -> a function running ``length`` Adam steps: (state, mean finite loss).

    A step whose loss, gradient or new parameters are not finite (a rare guide draw where the
    model overflows) is skipped, as NumPyro's ``SVI.stable_update`` does; a window with no
    finite loss returns NaN."""
    import optax

    def one_step(state: OptState):
        key, key_step = jax.random.split(state.key)
        value, grads = jax.value_and_grad(loss)(state.params, key_step)
        updates, optimizer_state = optim.update(
            grads, state.optimizer_state, state.params, value=value
        )
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(value) & jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(params)])
        )
        kept = jax.tree.map(
            lambda new, old: jnp.where(finite, new, old),
            (params, optimizer_state),
            (state.params, state.optimizer_state),
        )
        return OptState(*kept, key), value, finite

    def window(length):
        def run(state):
            def body(_, carry):
                state, total, count = carry
                state, value, finite = one_step(state)
                return state, total + jnp.where(finite, value, 0.0), count + finite

            init = (state, jnp.zeros(()), jnp.zeros((), jnp.int32))
            state, total, count = jax.lax.fori_loop(0, length, body, init)
            return state, jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)

        return run

    return window


class Fit(NamedTuple):
    """Where the optimiser stopped and what it cost (compilation apart)."""

    params: dict
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


def fit(loss, params, key, rule: PlateauRule) -> Fit:
    """Minimise ``loss(params, key)`` until the plateau rule or the step cap stops it."""
    optim = optimizer(rule)
    state = OptState(params, optim.init(params), key)
    window = windows(loss, optim)
    compiled, compile_s, seconds = {}, 0.0, 0.0
    steps, stalls, losses, checkpoints, stopped_by = 0, 0, [], [], "step cap"
    while steps < rule.max_steps:
        length = min(rule.window, rule.max_steps - steps)
        if length not in compiled:
            compiled[length], spent = compile_ahead(window(length), state)
            compile_s += spent
        before = plateau_state(state.optimizer_state)
        (state, value), spent = time_call(compiled[length], state)
        seconds += spent
        steps += length
        losses.append(float(value))
        if not np.isfinite(losses[-1]):
            raise NotFinite(steps, seconds, rule.learning_rate)
        if len(losses) & (len(losses) - 1) == 0:  # windows 1, 2, 4, 8, ...
            checkpoints.append((seconds, state.params))
        after = plateau_state(state.optimizer_state)
        at_floor = float(before.scale) <= rule.min_scale * (1 + 1e-6)
        improved = float(after.best_value) < float(before.best_value)
        stalls = stalls + 1 if at_floor and not improved else 0
        if stalls >= rule.patience:
            stopped_by = "plateau"
            break
    if checkpoints[-1][0] != seconds:
        checkpoints.append((seconds, state.params))
    return Fit(
        params=state.params,
        steps=steps,
        seconds=seconds,
        compile_s=compile_s,
        learning_rate=float(plateau_state(state.optimizer_state).scale) * rule.learning_rate,
        stopped_by=stopped_by,
        losses=losses,
        initial_learning_rate=rule.learning_rate,
        checkpoints=checkpoints,
    )


def fit_with_restarts(loss, params, key, rule: PlateauRule) -> Fit:
    """:func:`fit`, started again at a tenth of the learning rate (``rule.restarts`` times at
    most) when the ELBO is not finite; the failed fits' steps and seconds count."""
    spent_steps, spent_s = 0, 0.0
    for attempt in range(rule.restarts + 1):
        try:
            result = fit(loss, params, key, rule)
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


def continuation(result: Fit, loss, key, rule: PlateauRule):
    """Parameters after ``check_steps_factor`` x the steps at ``check_lr_factor`` x the final
    learning rate, starting where ``result`` stopped; and the seconds it took."""
    optim = optimizer(rule, rule.check_lr_factor * result.learning_rate, plateau=False)
    state = OptState(result.params, optim.init(result.params), key)
    steps = int(rule.check_steps_factor * result.steps)
    start = time.perf_counter()
    state, _ = jax.jit(windows(loss, optim)(steps))(state)
    return jax.block_until_ready(state.params), time.perf_counter() - start


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


def guide_draws(guide: Guide, constrain, key, num_draws: int):
    """params -> {site: (num_draws, ...)}: the guide's draws, constrained, compiled, with the
    same noise for every call (common random numbers)."""
    noise = jax.random.normal(key, (num_draws, guide.centre.shape[-1]), guide.centre.dtype)

    def draw(params):
        return jax.vmap(constrain)(positions(guide, params, noise))

    return jax.jit(draw)


def run(method: str, posterior, settings) -> tuple[dict, dict]:
    """Fit ``method``'s guide to ``posterior``; (record fields, guide draws {site: (1, n)})."""
    from numpyro.infer import init_to_median

    from benchmarks.density import flat_density
    from benchmarks.metrics import error_of, reference_check
    from benchmarks.samplers.laplace import preconditioner

    rule = settings.vi
    key_init, key_fit, key_draws, key_check = jax.random.split(jax.random.PRNGKey(settings.seed), 4)
    # the autoguides' default start (init_to_median of 15 prior draws), as a user's SVI has
    density = flat_density(posterior, key_init, MODE_STARTS, init_to_median(num_samples=15))
    laplace, laplace_s, laplace_compile_s = preconditioner(density.logdensity, density.positions)
    guide = guide_for(FAMILIES[method], laplace)
    loss = negative_elbo(density.logdensity, guide, rule.num_particles)
    draw = guide_draws(guide, density.constrain, key_draws, settings.vi_draws)

    def stan_draws(params):
        return posterior.stan_draws(draw(params), sample_ndim=1)

    result = fit_with_restarts(loss, init_params(guide), key_fit, rule)
    curve = [  # outside the timed loop
        [laplace_s + seconds, *error_of(stan_draws(params), posterior.reference)]
        for seconds, params in result.checkpoints
    ]
    after, check_s = continuation(result, loss, key_check, rule)
    final = stan_draws(result.params)
    shift, sd_change = change(final, stan_draws(after))
    record = reference_check(
        {k: v[None] for k, v in final.items()}, posterior.reference, max_rhat=None
    )
    record.update(
        learning_rate=result.initial_learning_rate,
        vi_steps=result.steps,
        vi_seconds=laplace_s + result.seconds,
        laplace_found=bool(laplace.found),
        laplace_note=laplace.reason,
        laplace_iterations=laplace.iterations,
        laplace_s=laplace_s,
        stopped_by=result.stopped_by,
        final_learning_rate=result.learning_rate,
        final_loss=result.losses[-1],
        converged=converged(shift, sd_change, rule),
        continuation_mean_shift=shift,
        continuation_sd_change=sd_change,
        continuation_s=check_s,
        compile_s=laplace_compile_s + result.compile_s,
        warmup_s=0.0,
        sampling_s=laplace_s + result.seconds,
        error_curve=curve,
    )
    samples = {k: np.asarray(v)[None] for k, v in draw(result.params).items()}
    return record, samples
