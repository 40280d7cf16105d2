"""Warmup of the integrate-and-fire network's trajectory length: Adam ascent on ChEES.

    ChEES(T) = E[(|y' - c|^2 - |y - c|^2)^2] / 4          (y whitened, c the chains' mean)
    T dChEES/dT ~ alpha t (|y' - c|^2 - |y - c|^2) (y' - c) . w'     per transition, t = u T

ChEES (Hoffman, Radul & Sountsov 2021) measures how far a trajectory carries the squared
distance from the centre; its gradient in log T is estimated from every warmup transition
(``chees_gradient``: alpha the acceptance probability, w' = p' + v' the momentum at the
proposal; alpha's own dependence on T is ignored). For a standard Gaussian the signal is
proportional to E[sin 2t]: zero near t = pi/2, half a period. The tuner averages the signal
over its batch of chains (one chain under per-chain warmup) and takes an Adam step
(``numpyro.optim.Adam``) on log T. It learns only in warmup's main phase: in the early phase
the chains are still far out and every trajectory seems to gain from being longer (a length
learned there overshoots the first peak of ChEES, beyond which, averaged over the jitter,
ChEES is flat and its gradient has no restoring sign). T starts again from its initial value
at each of the main phase's window switches, when the metric has settled on new draws; after
the last warmup transition T is the moving average of log T over its last ~20 values.

The learning rate (0.02 a step by default) bounds a random walk: Adam divides the signal by its
own running scale, so where ChEES is flat and the signal is noise (one chain, per-chain
warmup) log T still moves about lr a step, with a sign that persists over ~1/(1 - b1) steps.
At 0.05 that walk sent single chains of a 6-d regression (blr) to T = 2-5.5 against the 0.7-0.8
the others found, and their long trajectories set the cost of the run (2.2 to 6.8 gradients a
draw over six seeds); at 0.02 the spread is 2.2-3.4 and ESS per gradient doubles there
(benchmarks/results/plasticity/trajectory_learning_rate.md). A consistent signal still moves log
T by up to 0.02 x the ~350 steps of the last window, a factor e^7.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from numpyro.optim import Adam

from spiking_mcmc.dynamics.base import Tuner

ADAM_BETA1, ADAM_BETA2 = 0.9, 0.95
CENTER_WINDOW = 100  # the running mean of the chains forgets over ~ this many transitions
AVERAGE_WINDOW = 20  # the final T is a moving average of log T over ~ this many transitions
MIN_TRAJECTORY, MAX_TRAJECTORY = 0.05, 1000.0


def chees_gradient(start, displacement, momentum, accept_prob, time):
    """One transition's estimate of T dChEES/dT; ``start`` = L^-1 (x - c), ``displacement``
    the trajectory's whitened displacement and ``momentum`` its final true momentum w'
    (p + v for the integrate-and-fire network)."""
    final = start + displacement
    growth = jnp.sum(final * final) - jnp.sum(start * start)
    return accept_prob * time * growth * jnp.sum(final * momentum)


class TrajectoryTuning(NamedTuple):
    """Warmup state of the trajectory length (over one chain or a batch of chains)."""

    log_length: jax.Array  # log trajectory_length in use
    average_log_length: jax.Array  # moving average of log_length since the last restart
    initial_log_length: jax.Array  # where it starts again whenever the metric changes
    adam: tuple  # numpyro.optim.Adam state of log_length
    steps: jax.Array  # Adam steps since the last restart
    center: jax.Array  # running mean of the chains' positions


def _optimizer(learning_rate):
    return Adam(learning_rate, b1=ADAM_BETA1, b2=ADAM_BETA2)


def init(positions, settings) -> TrajectoryTuning | None:
    """The tuning state at the chains' starting ``positions`` (C, d), or None when the
    settings do not adapt the trajectory length."""
    if not settings.adapt_trajectory_length:
        return None
    dtype = positions.dtype
    log_length = jnp.log(jnp.asarray(settings.trajectory_length, dtype))
    return TrajectoryTuning(
        log_length=log_length,
        average_log_length=log_length,
        initial_log_length=log_length,
        adam=_optimizer(settings.trajectory_learning_rate).init(log_length),
        steps=jnp.zeros((), dtype),
        center=jnp.mean(positions, axis=0),
    )


def update(tuning: TrajectoryTuning, phase, positions, infos, settings) -> TrajectoryTuning:
    """After warmup transition ``phase.t``: move the centre; when ``phase.restart``, start
    again from the initial length; when ``phase.learn``, one Adam ascent step of log T along
    the chains' mean ChEES signal; at ``phase.final``, fix T at its recent moving average.
    ``positions`` (C, d) are the chains' new positions."""
    dtype = tuning.log_length.dtype
    optimizer = _optimizer(settings.trajectory_learning_rate)
    weight = 1.0 / jnp.minimum(phase.t + 1.0, CENTER_WINDOW).astype(dtype)
    center = tuning.center + weight * (jnp.mean(positions, axis=0) - tuning.center)

    fresh = (
        optimizer.init(tuning.initial_log_length),
        tuning.initial_log_length,
        tuning.initial_log_length,
        jnp.zeros((), dtype),
    )
    adam, log_length, average, steps = jax.tree.map(
        lambda new, old: jnp.where(phase.restart, new, old),
        fresh,
        (tuning.adam, tuning.log_length, tuning.average_log_length, tuning.steps),
    )
    signal = jnp.mean(infos.chees_gradient).astype(dtype)
    learned = optimizer.update(-signal, adam)  # ascent: minimise -ChEES
    learned_length = jnp.clip(
        optimizer.get_params(learned), jnp.log(MIN_TRAJECTORY), jnp.log(MAX_TRAJECTORY)
    ).astype(dtype)
    learned_steps = steps + 1.0
    rate = 1.0 / jnp.minimum(learned_steps, AVERAGE_WINDOW)
    learned_average = average + rate * (learned_length - average)
    adam, log_length, average, steps = jax.tree.map(
        lambda new, old: jnp.where(phase.learn, new, old),
        (learned, learned_length, learned_average, learned_steps),
        (adam, log_length, average, steps),
    )
    log_length = jnp.where(phase.final, average, log_length)
    return tuning._replace(
        log_length=log_length, average_log_length=average, adam=adam, steps=steps, center=center
    )


def apply(params, tuning: TrajectoryTuning | None):
    """The network's params with the tuned trajectory length; during warmup (``center`` set)
    the transition also reports the ChEES signal."""
    if tuning is None:
        return params
    return params._replace(trajectory_length=jnp.exp(tuning.log_length), center=tuning.center)


TUNER = Tuner(init=init, update=update, apply=apply)
