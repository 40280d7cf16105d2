"""Cortical network: an exact integrate-and-fire Hamiltonian sampler whose neurons fire rarely
and irregularly, by population coding and an energy that the spiking dynamics conserves.

    half kick:  c_jk = u_jk + eps/2 (L^T g)_j;  s_jk = floor(c_jk / Kq + 1/2);
                p_j <- p_j + q sum_k s_jk;  u_jk <- c_jk - Kq s_jk      (drift: x <- x + eps L p)
    energy:     H = -l(x) + |p + u_bar|^2 / 2 - lambda sum_jk u_jk^2 / 2K,  u_bar_j = mean_k u_jk

The network. Each whitened direction j (column j of L, L L^T = Sigma the metric) is coded by a
population of K ON/OFF pairs of integrate-and-fire neurons, k = 1..K. Neuron pair (j, k)
integrates the whole whitened force eps/2 (L^T g)_j into its own membrane u_jk; its ON neuron
fires when u_jk crosses +Kq/2 and its OFF neuron when it crosses -Kq/2, and a spike resets the
membrane by subtraction of Kq and moves momentum j by +-q: each neuron carries a 1/K share of
the charge it resets, so the population fires as often as one pair of quantum q would, and each
neuron K times less (Boerlin, Machens & Deneve 2013 code a variable with a population of
spiking neurons; here each neuron has its own membrane, so which one fires is the network's
own state, not a relabelling). With 1 ms per leapfrog step a neuron fires at about
1000 E|(L^T g)_j| / (2 K spike_quantum) Hz, whatever eps, since q = spike_quantum * eps.
The momentum the drift sees is p = w - u_bar, where w = p + u_bar is the true momentum (every
kick adds exactly eps/2 L^T g to it: spikes only move charge from membranes to momentum); the
error u_bar is the mean of K membranes, of sd q sqrt(K/12), against Kq / sqrt(12) for one pair
firing as rarely: population coding buys low rates at a small momentum error.

Exactness. State (x, p, u) in R^d x R^d x [-Kq/2, Kq/2)^(d K). A half kick is, on each cell of
constant spike counts s, a translation of (p, u) by an amount that depends on x only, so it
preserves volume, and it is a bijection (s is recovered from the final membranes); the drift is
a shear of x by p. Under the flip (p, u) -> (-p, -u) the leapfrog is reversible (the reversed
pass breaks rounding ties the other way, as in :mod:`spiking_mcmc.dynamics.hamiltonian`; ties
have probability zero, so sampling uses floor alone). "Leapfrog, then flip" is therefore a
volume-preserving involution, and Metropolis-Hastings with any density of (x, p, u) that the
flip leaves invariant keeps that density invariant; its x-marginal is the posterior whenever
the density is pi(x) times a law of (p, u) that does not depend on x. The MH step here uses
exp(-H) with H above: pi(x) N(w; 0, I) prod_jk rho(u_jk), rho(u) ~ exp(lambda u^2 / 2K) on
[-Kq/2, Kq/2), and each transition first refreshes (p, u) from it (w ~ N(0, I), u ~ rho,
p = w - u_bar), a Gibbs step. Every piece is flip-invariant (quadratic in (p, u)).

Why this energy (lambda = 1, "conserved"). In continuous time (kicks and drifts of vanishing
length) the dynamics is dx/dt = L p, dw/dt = L^T g, du_jk/dt = (L^T g)_j between spikes, and
d/dt [sum_jk u_jk^2 / 2K] = sum_j (L^T g)_j u_bar_j = dw/dt . u_bar, so that
d/dt [-l + |w|^2/2] = -g.L(w - u_bar) + w.L^T g = (L^T g).u_bar is exactly the change of the
membrane term; at a spike u_jk jumps from +-Kq/2 to -+Kq/2 (u^2 unchanged) and p + u_bar is
unchanged. So H is conserved by the spiking dynamics itself, and its discrete error is the
leapfrog's plus the timing error of crossings within a kick (each spike of q carries an error
of q times its overshoot, of order q eps |g|), not the membranes' size: with lambda = 0
("membrane", H = -l + |w|^2/2, u uniform) the error would grow as q^2 K^1.5 sqrt(d). The law
rho tilts the membranes toward the thresholds by K q^2 / 8 at most (in log density); it is
drawn exactly by rejection from a truncated exponential envelope (acceptance above 1/2).

Irregular spikes from the chain's own randomness: at every transition the membranes are drawn
afresh from rho, part of the auxiliary state whose density the MH step uses, so each neuron's
first crossing in a transition falls at a random time, and a neuron that needs a charge Kq
between two spikes of the same sign fires about once in several transitions, at times set by
these draws (ISI CV near 1; measured in benchmarks/cortical_protocol.py).

Trajectory and time, as the Hamiltonian network: eps = step_size * U(1 - jitter, 1 + jitter),
integration time ~ U(1, 2) * trajectory_length (whitened units; tuned by ChEES in warmup,
:mod:`spiking_mcmc.dynamics.trajectory`), n = min(ceil(T / eps), max_steps) leapfrog steps,
``step_ms`` milliseconds per step. Neurons: pair (j, k) has index j K + k (a population is
contiguous); ``spike_counts`` is (2, d K).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from spiking_mcmc import network as net
from spiking_mcmc.dynamics import spike_log as spike_logs
from spiking_mcmc.dynamics import trajectory
from spiking_mcmc.dynamics.base import (
    Dynamics,
    PositionState,
    draw_keys,
    is_finite_state,
    metropolis_hastings,
    select_state,
)
from spiking_mcmc.dynamics.hamiltonian import (
    DIVERGENCE_THRESHOLD,
    HamiltonianInfo,
    count_spikes,
    repeat,
    spikes,
)
from spiking_mcmc.metric import Metric
from spiking_mcmc.settings import Settings, setting
from spiking_mcmc.validation import (
    check_bool,
    check_choice,
    check_fraction,
    check_positive,
    check_positive_int,
)

ENERGIES = {"conserved": 1.0, "membrane": 0.0}


@dataclasses.dataclass(frozen=True)
class CorticalSettings(Settings):
    """population_size: K, ON/OFF pairs per whitened direction; spike_quantum: q / eps, the
    momentum one spike delivers (a neuron resets by K q); energy: "conserved" (H above,
    lambda = 1) or "membrane" (lambda = 0); the rest as the Hamiltonian network's:
    trajectory_length (whitened units, initial value when adapted), step_jitter, max_steps,
    step_ms (biological duration of a leapfrog step), adapt_trajectory_length (ChEES),
    trajectory_learning_rate."""

    population_size: int = setting(16, check_positive_int)
    spike_quantum: float = setting(2.5, check_positive)
    energy: str = setting("conserved", check_choice, choices=tuple(ENERGIES))
    trajectory_length: float = setting(1.0, check_positive)
    step_jitter: float = setting(0.2, check_fraction)
    max_steps: int = setting(1024, check_positive_int)
    step_ms: float = setting(1.0, check_positive)
    adapt_trajectory_length: bool = setting(True, check_bool)
    trajectory_learning_rate: float = setting(0.05, check_positive)


class CorticalParams(NamedTuple):
    """What a transition needs (a pytree)."""

    step_size: jax.Array  # eps before jitter, whitened units
    metric: Metric  # L
    spike_quantum: float  # q / eps
    shares: jax.Array  # (K,) each 1/K: u_bar = mean of a population; K = its (static) length
    trajectory_length: jax.Array
    step_jitter: float
    max_steps: int
    step_ms: float
    tilt: float  # lambda: 1 (conserved energy) or 0 (membrane energy)
    center: jax.Array | None = None  # the chains' running mean (warmup signal), or None


def build(settings: CorticalSettings, metric: Metric, step_size) -> CorticalParams:
    """The network of step eps = ``step_size``, decoders L and K pairs per direction."""
    return CorticalParams(
        step_size,
        metric,
        settings.spike_quantum,
        jnp.full((settings.population_size,), 1.0 / settings.population_size, metric.scale.dtype),
        jnp.asarray(settings.trajectory_length, metric.scale.dtype),
        settings.step_jitter,
        settings.max_steps,
        settings.step_ms,
        ENERGIES[settings.energy],
    )


# -- the integrator ---------------------------------------------------------------------------
class PopulationTrajectory(NamedTuple):
    """Integrator state: position, momentum p (d,), membranes u (d, K), spikes so far."""

    position: jax.Array
    momentum: jax.Array
    membranes: jax.Array
    log_density: jax.Array
    grad_log_density: jax.Array
    on_spikes: jax.Array  # (d, K)
    off_spikes: jax.Array  # (d, K)
    displacement: jax.Array  # (d,) whitened displacement so far
    spike_log: spike_logs.SpikeLog | None = None


def start_trajectory(state: PositionState, momentum, membranes, spike_log=None):
    """A trajectory at ``state`` with momentum p, membranes u (d, K) and no spikes yet."""
    zeros = jnp.zeros(membranes.shape, jnp.int32)
    return PopulationTrajectory(
        state.position,
        momentum,
        membranes,
        state.log_density,
        state.grad_log_density,
        zeros,
        zeros,
        jnp.zeros_like(state.position),
        spike_log,
    )


def half_kick(momentum, membranes, force, half_step, quantum, flipped=False):
    """Integrate eps/2 * force_j into every membrane of population j, fire, reset by K q.

    Returns (momentum, membranes, spike counts s (d, K) as floats; negative = OFF neuron).
    """
    size = membranes.shape[-1]
    drive = membranes + half_step * force[:, None]
    s = spikes(drive, size * quantum, flipped)
    return momentum + quantum * jnp.sum(s, axis=-1), drive - size * quantum * s, s


def leapfrog_step(
    traj: PopulationTrajectory, logdensity_and_grad, metric: Metric, step, quantum, flipped=False
) -> PopulationTrajectory:
    """Half kick, drift x <- x + eps L p, half kick; crossings logged when recording."""
    half = 0.5 * step
    size = traj.membranes.shape[-1]
    force = metric.whiten_gradient(traj.grad_log_density)
    p, u, s1 = half_kick(traj.momentum, traj.membranes, force, half, quantum, flipped)
    x = traj.position + step * metric.colour(p)
    log_density, grad = logdensity_and_grad(x)
    force2 = metric.whiten_gradient(grad)
    p2, u2, s2 = half_kick(p, u, force2, half, quantum, flipped)
    on1, off1 = count_spikes(s1)
    on2, off2 = count_spikes(s2)
    log = traj.spike_log
    if log is not None:
        t = log.num_steps.astype(x.dtype)
        ramp1 = jnp.broadcast_to(half * force[:, None], u.shape)
        ramp2 = jnp.broadcast_to(half * force2[:, None], u.shape)
        log = spike_logs.log_kick(log, traj.membranes, ramp1, s1, size * quantum, t, 0.5)
        log = spike_logs.log_kick(log, u, ramp2, s2, size * quantum, t + 0.5, 0.5)
        log = spike_logs.log_step(log, x)
    return PopulationTrajectory(
        x,
        p2,
        u2,
        log_density,
        grad,
        traj.on_spikes + on1 + on2,
        traj.off_spikes + off1 + off2,
        traj.displacement + step * p,
        log,
    )


def integrate(
    traj, logdensity_and_grad, metric: Metric, step, quantum, num_steps, flipped=False
) -> PopulationTrajectory:
    """``num_steps`` leapfrog steps (a while loop: ``num_steps`` may be traced)."""
    return repeat(
        lambda t: leapfrog_step(t, logdensity_and_grad, metric, step, quantum, flipped),
        traj,
        num_steps,
    )


def true_momentum(momentum, membranes):
    """w = p + u_bar: the momentum every kick changes by exactly eps/2 L^T g."""
    return momentum + jnp.mean(membranes, axis=-1)


def energy(log_density, momentum, membranes, tilt):
    """H = -l(x) + |p + u_bar|^2 / 2 - tilt * sum u^2 / 2K (tilt 1: conserved, 0: membrane)."""
    w = true_momentum(momentum, membranes)
    size = membranes.shape[-1]
    return -log_density + 0.5 * jnp.sum(w * w) - 0.5 * tilt / size * jnp.sum(membranes**2)


def draw_membranes(key, shape, half_width, curvature, dtype):
    """u ~ exp(curvature u^2 / 2) on [-a, a), a = ``half_width``, exactly (rejection).

    Envelope: the distance e = a - |u| to the nearer threshold ~ Exp(c) truncated to [0, a],
    c = curvature a / 2, and a random sign; since u^2 - a^2 <= -a e, the envelope bounds the
    density, and a draw is accepted with probability exp(-curvature e (a - e) / 2) (>= 1/2 on
    average; 1 for curvature 0, the uniform law).
    """
    rate = 0.5 * curvature * half_width

    def propose(key):
        key_distance, key_sign, key_accept = jax.random.split(key, 3)
        uniform = jax.random.uniform(key_distance, shape, dtype)
        small = rate * half_width < 1e-6
        safe_rate = jnp.where(small, 1.0, rate)
        distance = jnp.where(
            small,
            uniform * half_width,
            -jnp.log1p(uniform * jnp.expm1(-safe_rate * half_width)) / safe_rate,
        )
        distance = jnp.clip(distance, 0.0, half_width)
        sign = jnp.where(jax.random.bernoulli(key_sign, 0.5, shape), 1.0, -1.0).astype(dtype)
        log_accept = -0.5 * curvature * distance * (half_width - distance)
        accept = jnp.log(jax.random.uniform(key_accept, shape, dtype)) < log_accept
        return sign * (half_width - distance), accept

    def searching(carry):
        return jnp.any(~carry[1])

    def body(carry):
        membranes, done, key = carry
        key, key_propose = jax.random.split(key)
        proposal, accept = propose(key_propose)
        return jnp.where(done, membranes, proposal), done | accept, key

    start = (jnp.zeros(shape, dtype), jnp.zeros(shape, bool), key)
    membranes = lax.while_loop(searching, body, start)[0]
    # the box is [-a, a): the point u = a (a sign of +1 at distance 0) belongs to -a
    return jnp.where(membranes >= half_width, -half_width, membranes)


def transition(
    key, state: PositionState, logdensity_and_grad, params: CorticalParams, shared_key=None
):
    """Refresh (p, u), run n leapfrog steps of population kicks, accept by MH on H."""
    new, info, _ = _transition(key, state, logdensity_and_grad, params, shared_key, None)
    return new, info


def record_transition(
    key,
    state: PositionState,
    logdensity_and_grad,
    params: CorticalParams,
    spike_log,
    shared_key=None,
):
    """:func:`transition` that also logs the time of every threshold crossing."""
    return _transition(key, state, logdensity_and_grad, params, shared_key, spike_log)


def _transition(key, state, logdensity_and_grad, params: CorticalParams, shared_key, spike_log):
    key_step, key_time = draw_keys(key, shared_key, 2)
    key_u, key_p, key_accept = jax.random.split(jax.random.fold_in(key, 1), 3)
    dtype = state.position.dtype
    dim = state.position.shape[-1]
    size = params.shares.shape[0]
    jitter = params.step_jitter
    step = jnp.asarray(params.step_size, dtype) * jax.random.uniform(
        key_step, dtype=dtype, minval=1.0 - jitter, maxval=1.0 + jitter
    )
    quantum = params.spike_quantum * step
    duration = params.trajectory_length * jax.random.uniform(
        key_time, dtype=dtype, minval=1.0, maxval=2.0
    )
    num_steps = jnp.clip(jnp.ceil(duration / step), 1, params.max_steps).astype(jnp.int32)
    membranes = draw_membranes(key_u, (dim, size), 0.5 * size * quantum, params.tilt / size, dtype)
    xi = jax.random.normal(key_p, (dim,), dtype=dtype)
    momentum = xi - jnp.mean(membranes, axis=-1)
    metric = jax.tree.map(lambda a: jnp.asarray(a, dtype), params.metric)
    start = start_trajectory(state, momentum, membranes, spike_log)
    end = integrate(start, logdensity_and_grad, metric, step, quantum, num_steps)
    delta = energy(end.log_density, end.momentum, end.membranes, params.tilt) - energy(
        state.log_density, momentum, membranes, params.tilt
    )
    finite = is_finite_state(end.log_density, end.grad_log_density) & jnp.isfinite(delta)
    accept_prob, accept = metropolis_hastings(key_accept, -delta, finite)
    proposal = PositionState(end.position, end.log_density, end.grad_log_density)
    if params.center is None:
        chees = jnp.zeros((), dtype)
    else:
        chees = trajectory.chees_gradient(
            metric.whiten(state.position - params.center),
            end.displacement,
            true_momentum(end.momentum, end.membranes),
            accept_prob,
            num_steps.astype(dtype) * step,
        )
        chees = jnp.where(finite & jnp.isfinite(chees), chees, 0.0)
    info = HamiltonianInfo(
        accept_prob=accept_prob,
        is_accepted=accept,
        diverging=~finite | (delta > DIVERGENCE_THRESHOLD),
        num_spikes=jnp.sum(end.on_spikes) + jnp.sum(end.off_spikes),
        num_grad_evals=num_steps,
        num_steps=num_steps,
        biological_time_ms=num_steps.astype(dtype) * params.step_ms,
        spike_counts=jnp.stack([end.on_spikes.reshape(-1), end.off_spikes.reshape(-1)]),
        proposal_moved=jnp.any(end.position != state.position),
        chees_gradient=chees,
    )
    return select_state(accept, proposal, state), info, end.spike_log


def decoders(params: CorticalParams):
    """D (d x d K): pair (j, k) moves momentum by q along column j of L."""
    quantum = params.spike_quantum * params.step_size
    return quantum * jnp.repeat(params.metric.matrix(), params.shares.shape[0], axis=1)


def network(params: CorticalParams) -> net.Network:
    """The cortical network as data: decoders q L (each column K times), no escape rate,
    one leapfrog step as the window, membranes bounded by K q / 2."""
    quantum = params.spike_quantum * params.step_size
    return net.Network(
        decoders(params), 0.0, params.step_ms, 0.5 * params.shares.shape[0] * quantum
    )


DYNAMICS = Dynamics(
    name="cortical",
    settings=CorticalSettings,
    build=build,
    transition=transition,
    info=HamiltonianInfo,
    target_accept_prob=0.8,
    tuner=trajectory.TUNER,
    network=network,
    record_transition=record_transition,
)
