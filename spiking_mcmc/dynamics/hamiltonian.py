"""Integrate-and-fire Hamiltonian network: HMC whose momentum kicks are integer spike counts.

    half kick:  c = v + eps/2 * L^T g(x);  s = floor(c/q + 1/2);  p <- p + q s;  v <- c - q s
    drift:      x <- x + eps * L p
    energy:     H = -l(x) + |p + v|^2 / 2     (p + v ~ N(0, I), v ~ U[-q/2, q/2)^d at refresh)

State (x, p, v): x the position (NumPyro's unconstrained space), p the momentum and v the
membrane potentials of d integrate-and-fire neurons (one ON/OFF pair per whitened direction),
all in whitened coordinates y = L^-1 x, where L L^T = Sigma is the metric (the inverse mass
matrix), so the mass matrix is the identity there. Neuron pair j integrates the whitened force
eps/2 * (L^T g)_j into its membrane; each time the membrane crosses +q/2 (ON) or -q/2 (OFF) it
fires and is reset by subtraction of q, and each spike adds +-q to momentum j. Its output
synapse (decoder) is column j of L: a spike changes the velocity dx/dt by q L e_j. The spike
quantum is q = spike_quantum * eps; the membrane carries the rounding residual, so the momentum
error never exceeds one quantum (sigma-delta coding).

Exactness. The kick is a translation of p by q s and of v by eps/2 g - q s with s constant on
cells of the (x, v) space, so it preserves volume and is a bijection of R^d x [-q/2, q/2)^d;
the drift is a shear. Under the flip (p, v) -> (-p, -v) the leapfrog is reversible (a flipped
pass must break rounding ties the other way, ceil(c/q - 1/2): ties have probability zero, so
sampling uses floor alone; ``integrate(..., flipped=True)`` gives the bit-exact reverse). The
map "leapfrog then flip" is therefore a volume-preserving involution of the extended space,
and Metropolis-Hastings with any density of (x, p, v) invariant under the flip is exact.

Energy ("membrane", the default). Refresh v ~ U[-q/2, q/2)^d and p = xi - v with
xi ~ N(0, I), i.e. the density pi(x) N(p + v; 0, I) U(v), so H = -l(x) + |p + v|^2 / 2. Every
kick adds exactly eps/2 * L^T g to p + v (the spikes only move charge from membrane to
momentum), so w = p + v is ordinary HMC momentum and only the drift sees the quantised
p = w - v: the energy error is that of HMC plus a term of order q. ``energy="plain"`` uses
p ~ N(0, I), H = -l(x) + |p|^2 / 2 (v left out of H), whose acceptance falls with q sqrt(d/6).
As q -> 0 either one is HMC with an identity mass matrix in whitened coordinates.

Trajectory. Each transition draws eps = step_size * U(1 - step_jitter, 1 + step_jitter), an
integration time T = trajectory_length * U(1, 2) (whitened units), and makes
n = min(ceil(T / eps), max_steps) leapfrog steps: random times avoid the resonances of fixed
lengths on Gaussians, and the draws are independent of the state (a mixture of exact kernels).
Chains that share these draws (``shared_key``) make the same number of steps. The trajectory
length is tuned in warmup by :mod:`spiking_mcmc.dynamics.trajectory` (ChEES).

Biological time: one leapfrog step (one gradient evaluation, two half kicks) lasts ``step_ms``
milliseconds, so ``biological_time_ms = n * step_ms``. ``num_spikes`` is the sum over kicks
and neurons of |s|; ``diverging`` marks a final energy that is not finite or an energy error
above 1000.
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
from spiking_mcmc.metric import Metric
from spiking_mcmc.settings import Settings, setting
from spiking_mcmc.validation import (
    check_bool,
    check_choice,
    check_fraction,
    check_positive,
    check_positive_int,
)

ENERGIES = {"membrane": 1.0, "plain": 0.0}
DIVERGENCE_THRESHOLD = 1000.0


@dataclasses.dataclass(frozen=True)
class HamiltonianSettings(Settings):
    """spike_quantum: q / eps; trajectory_length: integration time ~ U(1, 2) x length
    (whitened units; the initial value when it is adapted); step_jitter: eps ~ step_size x
    U(1 - jitter, 1 + jitter); max_steps: leapfrog steps per transition at most; step_ms:
    biological duration of one step; energy: "membrane" (H uses p + v) or "plain" (p);
    adapt_trajectory_length: tune it in warmup (ChEES); trajectory_learning_rate: its Adam step.
    """

    spike_quantum: float = setting(0.5, check_positive)
    trajectory_length: float = setting(1.0, check_positive)
    step_jitter: float = setting(0.2, check_fraction)
    max_steps: int = setting(1024, check_positive_int)
    step_ms: float = setting(1.0, check_positive)
    energy: str = setting("membrane", check_choice, choices=tuple(ENERGIES))
    adapt_trajectory_length: bool = setting(True, check_bool)
    trajectory_learning_rate: float = setting(0.02, check_positive)


class HamiltonianParams(NamedTuple):
    """What a transition needs (a pytree)."""

    step_size: jax.Array  # eps before jitter, whitened units
    metric: Metric  # L, L L^T = Sigma = M^-1
    spike_quantum: float  # q / eps
    trajectory_length: jax.Array  # integration time ~ U(1, 2) * trajectory_length
    step_jitter: float
    max_steps: int
    step_ms: float
    membrane_weight: float  # 1: H uses p + v (membrane energy), 0: H uses p (plain)
    center: jax.Array | None = None  # the chain's running mean (warmup signal), or None


def build(settings: HamiltonianSettings, metric: Metric, step_size) -> HamiltonianParams:
    """The network of step eps = ``step_size`` and decoders L (the metric)."""
    return HamiltonianParams(
        step_size,
        metric,
        settings.spike_quantum,
        jnp.asarray(settings.trajectory_length, metric.scale.dtype),
        settings.step_jitter,
        settings.max_steps,
        settings.step_ms,
        ENERGIES[settings.energy],
    )


# -- the integrator ---------------------------------------------------------------------------
class Trajectory(NamedTuple):
    """Integrator state: position, momentum, membranes, and spikes fired so far."""

    position: jax.Array
    momentum: jax.Array
    membrane: jax.Array
    log_density: jax.Array
    grad_log_density: jax.Array
    on_spikes: jax.Array  # (d,) ON spikes so far
    off_spikes: jax.Array  # (d,) OFF spikes so far
    displacement: jax.Array  # (d,) whitened displacement L^-1 (x - x_start) so far
    spike_log: spike_logs.SpikeLog | None = None  # spike times, when recording (else nothing)


def start_trajectory(state: PositionState, momentum, membrane, spike_log=None) -> Trajectory:
    """A trajectory at ``state`` with momentum p, membranes v and no spikes yet (and a
    :class:`~spiking_mcmc.dynamics.spike_log.SpikeLog` to fill, when recording)."""
    zeros = jnp.zeros(state.position.shape, jnp.int32)
    return Trajectory(
        state.position,
        momentum,
        membrane,
        state.log_density,
        state.grad_log_density,
        zeros,
        zeros,
        jnp.zeros_like(state.position),
        spike_log,
    )


def spikes(drive, quantum, flipped=False):
    """Integer spike counts s = floor(c/q + 1/2) (``flipped``: ceil(c/q - 1/2)), as floats.

    The residual c - q s lies in [-q/2, q/2) (``flipped``: (-q/2, q/2]); the reversed pass of
    a trajectory must use the other convention to undo a tie exactly.
    """
    y = drive / quantum
    return jnp.ceil(y - 0.5) if flipped else jnp.floor(y + 0.5)


def half_kick(momentum, membrane, force, half_step, quantum, flipped=False):
    """Integrate eps/2 * force into the membranes, fire, reset by subtraction.

    Returns (momentum, membrane, spike counts s as floats; negative = OFF neuron).
    """
    drive = membrane + half_step * force
    s = spikes(drive, quantum, flipped)
    return momentum + quantum * s, drive - quantum * s, s


def count_spikes(s):
    """ON and OFF spike counts of one kick (int32; non-finite drives count nothing)."""
    s = jnp.where(jnp.isfinite(s), jnp.clip(s, -1e6, 1e6), 0.0)
    return jnp.maximum(s, 0.0).astype(jnp.int32), jnp.maximum(-s, 0.0).astype(jnp.int32)


def leapfrog_step(
    traj: Trajectory, logdensity_and_grad, metric: Metric, step, quantum, flipped=False
):
    """One step: half kick, drift x <- x + eps L p, half kick (two rounds of spikes).

    With a spike log, each crossing is logged at its time within its half step (the first half
    kick occupies the first half of the step, the second the second half)."""
    half = 0.5 * step
    force = metric.whiten_gradient(traj.grad_log_density)
    p, v, s1 = half_kick(traj.momentum, traj.membrane, force, half, quantum, flipped)
    x = traj.position + step * metric.colour(p)
    log_density, grad = logdensity_and_grad(x)
    force2 = metric.whiten_gradient(grad)
    p2, v2, s2 = half_kick(p, v, force2, half, quantum, flipped)
    on1, off1 = count_spikes(s1)
    on2, off2 = count_spikes(s2)
    log = traj.spike_log
    if log is not None:
        t = log.num_steps.astype(x.dtype)
        log = spike_logs.log_kick(log, traj.membrane, half * force, s1, quantum, t, 0.5)
        log = spike_logs.log_kick(log, v, half * force2, s2, quantum, t + 0.5, 0.5)
        log = spike_logs.log_step(log, x)
    return Trajectory(
        x,
        p2,
        v2,
        log_density,
        grad,
        traj.on_spikes + on1 + on2,
        traj.off_spikes + off1 + off2,
        traj.displacement + step * p,
        log,
    )


def integrate(
    traj: Trajectory, logdensity_and_grad, metric: Metric, step, quantum, num_steps, flipped=False
) -> Trajectory:
    """``num_steps`` leapfrog steps (traced ``num_steps`` allowed: a while loop)."""
    return repeat(
        lambda t: leapfrog_step(t, logdensity_and_grad, metric, step, quantum, flipped),
        traj,
        num_steps,
    )


def repeat(step_fn, traj, num_steps):
    """``step_fn`` applied ``num_steps`` times (a while loop: ``num_steps`` may be traced)."""

    def body(carry):
        i, t = carry
        return i + 1, step_fn(t)

    return lax.while_loop(
        lambda carry: carry[0] < num_steps, body, (jnp.zeros((), jnp.int32), traj)
    )[1]


def energy(log_density, momentum, membrane, membrane_weight):
    """H = -l(x) + |p + w v|^2 / 2 with w = 1 (membrane energy) or 0 (plain energy)."""
    w = momentum + membrane_weight * membrane
    return -log_density + 0.5 * jnp.sum(w * w)


class HamiltonianInfo(NamedTuple):
    """TransitionInfo's fields plus the warmup signal for the trajectory length."""

    accept_prob: jax.Array
    is_accepted: jax.Array
    diverging: jax.Array
    num_spikes: jax.Array
    num_grad_evals: jax.Array
    num_steps: jax.Array
    biological_time_ms: jax.Array
    spike_counts: jax.Array
    proposal_moved: jax.Array
    chees_gradient: jax.Array  # d ChEES / d log T estimated from this transition (0 if none)


def transition(
    key, state: PositionState, logdensity_and_grad, params: HamiltonianParams, shared_key=None
):
    """Refresh (p, v), run n leapfrog steps of integrate-and-fire kicks, accept by MH."""
    new, info, _ = _transition(key, state, logdensity_and_grad, params, shared_key, None)
    return new, info


def record_transition(
    key,
    state: PositionState,
    logdensity_and_grad,
    params: HamiltonianParams,
    spike_log,
    shared_key=None,
):
    """:func:`transition` that also fills ``spike_log`` with the time of every threshold
    crossing (the same draws: the chain does not depend on the log)."""
    return _transition(key, state, logdensity_and_grad, params, shared_key, spike_log)


def _transition(key, state, logdensity_and_grad, params, shared_key, spike_log):
    key_step, key_time = draw_keys(key, shared_key, 2)
    key_v, key_p, key_accept = jax.random.split(jax.random.fold_in(key, 1), 3)
    dtype = state.position.dtype
    dim = state.position.shape[-1]
    jitter = params.step_jitter
    step = jnp.asarray(params.step_size, dtype) * jax.random.uniform(
        key_step, dtype=dtype, minval=1.0 - jitter, maxval=1.0 + jitter
    )
    quantum = params.spike_quantum * step
    duration = params.trajectory_length * jax.random.uniform(
        key_time, dtype=dtype, minval=1.0, maxval=2.0
    )
    num_steps = jnp.clip(jnp.ceil(duration / step), 1, params.max_steps).astype(jnp.int32)
    membrane = jax.random.uniform(
        key_v, (dim,), dtype=dtype, minval=-0.5 * quantum, maxval=0.5 * quantum
    )
    xi = jax.random.normal(key_p, (dim,), dtype=dtype)
    momentum = xi - params.membrane_weight * membrane
    metric = jax.tree.map(lambda a: jnp.asarray(a, dtype), params.metric)
    start = start_trajectory(state, momentum, membrane, spike_log)
    end = integrate(start, logdensity_and_grad, metric, step, quantum, num_steps)
    w = params.membrane_weight
    delta = energy(end.log_density, end.momentum, end.membrane, w) - energy(
        state.log_density, momentum, membrane, w
    )
    finite = is_finite_state(end.log_density, end.grad_log_density) & jnp.isfinite(delta)
    accept_prob, accept = metropolis_hastings(key_accept, -delta, finite)
    proposal = PositionState(end.position, end.log_density, end.grad_log_density)
    if params.center is None:
        chees = jnp.zeros((), dtype)
    else:
        time = num_steps.astype(dtype) * step
        chees = trajectory.chees_gradient(
            metric.whiten(state.position - params.center),
            end.displacement,
            end.momentum + end.membrane,
            accept_prob,
            time,
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
        spike_counts=jnp.stack([end.on_spikes, end.off_spikes]),
        proposal_moved=jnp.any(end.position != state.position),
        chees_gradient=chees,
    )
    return select_state(accept, proposal, state), info, end.spike_log


def network(params: HamiltonianParams) -> net.Network:
    """The IF network as data: decoders D = q L (a spike moves momentum by q along column j of
    L in whitened units), no escape rate (base_rate_hz = 0: deterministic integrate-and-fire),
    one leapfrog step as the window, and membranes bounded by q / 2."""
    quantum = params.spike_quantum * params.step_size
    return net.Network(quantum * params.metric.matrix(), 0.0, params.step_ms, 0.5 * quantum)


DYNAMICS = Dynamics(
    name="hamiltonian",
    settings=HamiltonianSettings,
    build=build,
    transition=transition,
    info=HamiltonianInfo,
    target_accept_prob=0.8,
    tuner=trajectory.TUNER,
    network=network,
    record_transition=record_transition,
)
