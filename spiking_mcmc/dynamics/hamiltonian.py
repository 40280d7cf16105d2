"""Integrate-and-fire Hamiltonian network: HMC whose momentum kicks are integer spike counts.

    half kick:  c = v + eps/2 * L^T g(x);  s = floor(c/q + 1/2);  p <- p + q s;  v <- c - q s
    drift:      x <- x + eps * L p
    energy:     H = -l(x) + |p + v|^2 / 2     (p + v ~ N(0, I), v ~ U[-q/2, q/2)^d at refresh)

State (x, p, v): x the position (NumPyro's unconstrained space), p the momentum and v the
membrane potentials of d integrate-and-fire neurons (one ON/OFF pair per whitened direction),
all in whitened coordinates y = L^-1 x, where L L^T = Sigma is the adapted covariance (the
inverse mass matrix), so the mass matrix is the identity there. Neuron pair j integrates the
whitened force eps/2 * (L^T g)_j into its membrane; each time the membrane crosses +q/2 (ON) or
-q/2 (OFF) it fires and is reset by subtraction of q, and each spike adds +-q to momentum j.
Its output synapse (decoder) is column j of L: a spike changes the velocity dx/dt by q L e_j,
the same decoders D ~ L as the Poisson network's. The spike quantum is q = spike_quantum * eps;
the default 0.5 (about one spike per neuron per half kick where |L^T g| ~ 1) gave the same ESS
per gradient as 0.25 on d <= 10 posteriors with half the spikes, and 1.4x less on a 100-d
Gaussian (the quantisation error grows with sqrt(d)); 1 and 2 cost 1.2-2.5x in ESS per gradient.

Exactness. The kick is a translation of p by q s and of v by eps/2 g - q s with s constant on
cells of the (x, v) space, so it preserves volume and is a bijection of R^d x [-q/2, q/2)^d;
the drift is a shear. Under the flip (p, v) -> (-p, -v) the leapfrog is reversible (a flipped
pass must break rounding ties the other way, ceil(c/q - 1/2): ties have probability zero, so
sampling uses floor alone; ``integrate(..., flipped=True)`` gives the bit-exact reverse). The
map "leapfrog then flip" is therefore a volume-preserving involution of the extended space,
and Metropolis-Hastings with any density of (x, p, v) invariant under the flip is exact.

Energy ("membrane", the default; DESIGN 1b's better energy). Refresh v ~ U[-q/2, q/2)^d and
p = xi - v with xi ~ N(0, I), i.e. the density pi(x) N(p + v; 0, I) U(v), so

    H = -l(x) + |p + v|^2 / 2.

Every kick adds exactly eps/2 * L^T g to p + v (the spikes only move charge from membrane to
momentum), so w = p + v is ordinary HMC momentum and only the drift sees the quantised p = w - v:
the energy error stays that of HMC plus a term of order q. ``energy="plain"`` uses
p ~ N(0, I), H = -l(x) + |p|^2 / 2 (v left out of H), whose acceptance falls with q sqrt(d/6).
As q -> 0 either one is HMC with an identity mass matrix in whitened coordinates.

Trajectory. Each transition draws eps = step_size * U(1 - step_jitter, 1 + step_jitter), an
integration time T = trajectory_length * U(1, 2) (whitened units), and makes
n = min(ceil(T / eps), max_steps) leapfrog steps, so fixed-length resonances on Gaussians are
avoided; all draws are independent of the state (a mixture of exact kernels). The loop is a
bounded ``lax.while_loop`` (under ``vmap`` it runs to the longest chain and masks the rest;
with cross-chain adaptation every chain draws the same eps and T, ``Params.draw_key``, so all
chains make the same number of steps and none is masked).

Warmup. The kernel's dual averaging tunes eps (target acceptance 0.8) and its Welford
covariance sets L, as for NUTS. With ``adapt_trajectory_length`` (default) each chain also
tunes trajectory_length T during warmup by Adam ascent on log T along a per-chain ChEES signal
(Hoffman, Radul & Sountsov 2021; :func:`chees_gradient`), centred on the chain's running mean;
T restarts from ``trajectory_length`` whenever the covariance changes, and is frozen after
warmup. The kernel calls the optional hooks ``init_tuning``, ``tune_params`` and
``update_tuning`` of this module; the tuning state is ``SpikingState.tuning``. Without it, a
fixed T = [1, 2] whitened units works once the covariance is good, but the covariance is learned
from the chain's own warmup, and with T fixed a chain that starts with a poor metric (d = 100,
condition number 1000) explores too little to learn a good one: min ESS per gradient 0.0004
against 0.09 with the tuning (NUTS: 0.09).

Biological time: one leapfrog step (one gradient evaluation, two half kicks) lasts ``step_ms``
milliseconds of network time (default 1 ms), so ``biological_time_ms = n * step_ms``.

Reported per transition: ``num_spikes`` = sum over kicks and neurons of |s|; ``spike_counts``
(2, d) ON / OFF spikes; ``num_steps`` = ``num_grad_evals`` = n (the gradient at the start is
the previous transition's); ``diverging`` when the final energy is not finite or the energy
error exceeds 1000.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from spiking_mcmc import network as net
from spiking_mcmc.dynamics.base import (
    PositionState,
    is_finite_state,
    metropolis_hastings,
    select_state,
)
from spiking_mcmc.validation import check_positive

DEFAULTS = {
    "spike_quantum": 0.5,  # q / eps: spike size relative to the leapfrog step
    "trajectory_length": 1.0,  # integration time ~ U(1, 2) * trajectory_length (whitened)
    "step_jitter": 0.2,  # eps ~ step_size * U(1 - step_jitter, 1 + step_jitter)
    "max_steps": 1024,  # upper bound on leapfrog steps per transition
    "step_ms": 1.0,  # biological duration of one leapfrog step
    "energy": "membrane",  # "membrane": H uses p + v (DESIGN 1b's better energy); "plain": p
    "adapt_trajectory_length": True,  # per-chain ChEES tuning of trajectory_length in warmup
    "trajectory_learning_rate": 0.05,  # Adam step on log trajectory_length
}

ENERGIES = {"membrane": 1.0, "plain": 0.0}

TARGET_ACCEPT_PROB = 0.8

DIVERGENCE_THRESHOLD = 1000.0


def check_settings(settings):
    """Refuse settings that make no network; the message names the setting."""
    for name in ("spike_quantum", "trajectory_length", "step_ms"):
        check_positive(name, settings[name])
    jitter = settings["step_jitter"]
    if not isinstance(jitter, int | float) or not 0.0 <= float(jitter) < 1.0:
        raise ValueError(f"step_jitter must lie in [0, 1), got {jitter!r}")
    max_steps = settings["max_steps"]
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if not isinstance(settings["adapt_trajectory_length"], bool):
        raise ValueError(
            "adapt_trajectory_length must be True or False, got "
            f"{settings['adapt_trajectory_length']!r}"
        )
    check_positive("trajectory_learning_rate", settings["trajectory_learning_rate"])
    if settings["energy"] not in ENERGIES:
        raise ValueError(f"energy must be one of {sorted(ENERGIES)}, got {settings['energy']!r}")


def frame(dim, settings):
    """One neuron pair per whitened direction: no frame."""
    return None


class Params(NamedTuple):
    """What a transition needs (all numbers, so it is a pytree)."""

    step_size: jax.Array  # eps before jitter, whitened units
    covariance_sqrt: jax.Array  # L, L L^T = Sigma = M^-1 (vector when diagonal)
    spike_quantum: float  # q / eps
    trajectory_length: float  # integration time ~ U(1, 2) * trajectory_length
    step_jitter: float
    max_steps: int
    step_ms: float
    membrane_weight: float  # 1: H uses p + v (membrane energy), 0: H uses p (plain)
    center: jax.Array | None = None  # running mean of the chain (warmup tuning), or None
    draw_key: jax.Array | None = None  # shared key for eps and T (chains in lock-step), or None


def make_params(step_size, covariance_sqrt, settings, frame=None) -> Params:
    """The network of step eps = ``step_size`` and decoders L (``covariance_sqrt``)."""
    return Params(
        step_size,
        covariance_sqrt,
        settings["spike_quantum"],
        settings["trajectory_length"],
        settings["step_jitter"],
        settings["max_steps"],
        settings["step_ms"],
        ENERGIES[settings["energy"]],
    )


# -- whitened coordinates ---------------------------------------------------------------------
def whiten_gradient(covariance_sqrt, grad):
    """L^T g: the force in whitened coordinates."""
    if jnp.ndim(covariance_sqrt) == 1:
        return covariance_sqrt * grad
    return grad @ covariance_sqrt


def color(covariance_sqrt, momentum):
    """L p: the velocity in the model's coordinates."""
    if jnp.ndim(covariance_sqrt) == 1:
        return covariance_sqrt * momentum
    return covariance_sqrt @ momentum


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


def start_trajectory(state: PositionState, momentum, membrane) -> Trajectory:
    """A trajectory at ``state`` with momentum p, membranes v and no spikes yet."""
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


def _count(s):
    """ON and OFF spike counts of one kick (int32; non-finite drives count nothing)."""
    s = jnp.where(jnp.isfinite(s), jnp.clip(s, -1e6, 1e6), 0.0)
    return jnp.maximum(s, 0.0).astype(jnp.int32), jnp.maximum(-s, 0.0).astype(jnp.int32)


def leapfrog_step(
    traj: Trajectory, logdensity_and_grad, covariance_sqrt, step, quantum, flipped=False
):
    """One step: half kick, drift x <- x + eps L p, half kick (two rounds of spikes)."""
    half = 0.5 * step
    force = whiten_gradient(covariance_sqrt, traj.grad_log_density)
    p, v, s1 = half_kick(traj.momentum, traj.membrane, force, half, quantum, flipped)
    x = traj.position + step * color(covariance_sqrt, p)
    log_density, grad = logdensity_and_grad(x)
    force = whiten_gradient(covariance_sqrt, grad)
    p2, v, s2 = half_kick(p, v, force, half, quantum, flipped)
    on1, off1 = _count(s1)
    on2, off2 = _count(s2)
    return Trajectory(
        x,
        p2,
        v,
        log_density,
        grad,
        traj.on_spikes + on1 + on2,
        traj.off_spikes + off1 + off2,
        traj.displacement + step * p,
    )


def integrate(
    traj: Trajectory,
    logdensity_and_grad,
    covariance_sqrt,
    step,
    quantum,
    num_steps,
    flipped=False,
) -> Trajectory:
    """``num_steps`` leapfrog steps (traced ``num_steps`` allowed: a while loop)."""

    def body(carry):
        i, t = carry
        return i + 1, leapfrog_step(t, logdensity_and_grad, covariance_sqrt, step, quantum, flipped)

    def keep_going(carry):
        return carry[0] < num_steps

    return lax.while_loop(keep_going, body, (jnp.zeros((), jnp.int32), traj))[1]


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
    chees_gradient: jax.Array  # d ChEES / d log T estimated from this transition (0 if none)


def transition(key, state: PositionState, logdensity_and_grad, params: Params):
    """Refresh (p, v), run n leapfrog steps of integrate-and-fire kicks, accept by MH."""
    key_step, key_time, key_v, key_p, key_accept = jax.random.split(key, 5)
    if params.draw_key is not None:  # one eps and T for every chain: no chain waits for another
        key_step, key_time = jax.random.split(params.draw_key)
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
    covariance_sqrt = jnp.asarray(params.covariance_sqrt, dtype)
    start = start_trajectory(state, momentum, membrane)
    end = integrate(start, logdensity_and_grad, covariance_sqrt, step, quantum, num_steps)
    w = params.membrane_weight
    energy_start = energy(state.log_density, momentum, membrane, w)
    energy_end = energy(end.log_density, end.momentum, end.membrane, w)
    delta = energy_end - energy_start
    finite = is_finite_state(end.log_density, end.grad_log_density) & jnp.isfinite(energy_end)
    accept_prob, accept = metropolis_hastings(key_accept, -delta, finite)
    proposal = PositionState(end.position, end.log_density, end.grad_log_density)
    new_state = select_state(accept, proposal, state)
    if params.center is None:
        chees = jnp.zeros((), dtype)
    else:
        time = num_steps.astype(dtype) * step
        chees = chees_gradient(
            state.position, params.center, end, covariance_sqrt, accept_prob, time
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
        chees_gradient=chees,
    )
    return new_state, info


# -- warmup: trajectory length (ChEES, per chain) ---------------------------------------------
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.95
CENTER_WINDOW = 100  # the running mean of the chain forgets over ~ this many transitions
AVERAGE_WINDOW = 20  # the final T is a moving average of log T over ~ this many transitions
MIN_TRAJECTORY, MAX_TRAJECTORY = 0.05, 1000.0
# Ascend ChEES / T (per unit of integration time) instead of ChEES. Measured on
# gaussian_ill_d100 (1000 warmup, 4 x 1000 draws): min ESS per gradient 0.059 against 0.091
# for plain ChEES, which therefore is the default.
PER_TIME = False


def whitened_offset(covariance_sqrt, offset):
    """L^-1 (x - c). L is NumPyro's factor: a vector (diagonal) or upper triangular (dense)."""
    if jnp.ndim(covariance_sqrt) == 1:
        return offset / covariance_sqrt
    return jax.scipy.linalg.solve_triangular(covariance_sqrt, offset, lower=False)


def chees_gradient(position, center, end: Trajectory, covariance_sqrt, accept_prob, time):
    """One transition's estimate of T dChEES/dT (of T d(ChEES / T)/dT when ``PER_TIME``).

    ChEES = E[(|y' - c|^2 - |y - c|^2)^2] / 4 (Hoffman, Radul & Sountsov 2021) in whitened
    coordinates y, c the chain's running mean; with the jittered time t = u T,
    T dChEES/dT = E[alpha t (|y' - c|^2 - |y - c|^2) (y' - c).w'] (w' = p' + v' the momentum at
    the proposal, alpha the acceptance probability, whose own dependence on T is ignored).
    For a standard Gaussian it is proportional to E[sin 2t]: zero near t = pi/2.
    """
    start = whitened_offset(covariance_sqrt, position - center)
    final = start + end.displacement
    growth = jnp.sum(final * final) - jnp.sum(start * start)
    gradient = accept_prob * time * growth * jnp.sum(final * (end.momentum + end.membrane))
    if PER_TIME:
        gradient = gradient - accept_prob * growth * growth / 4.0
    return gradient


class TrajectoryTuning(NamedTuple):
    """Per-chain warmup state of the trajectory length (Adam on log T, running mean)."""

    log_length: jax.Array  # log trajectory_length in use
    average_log_length: jax.Array  # moving average of log_length since the last restart
    initial_log_length: jax.Array  # where it starts again whenever the covariance changes
    metric_signature: jax.Array  # a number that changes when the covariance L does
    adam_m: jax.Array
    adam_v: jax.Array
    adam_steps: jax.Array  # Adam steps since the last restart
    center: jax.Array  # running mean of the chain's positions
    learning_rate: jax.Array


def init_tuning(position, settings):
    """Warmup state of the trajectory length, or None when it is not adapted."""
    if not settings["adapt_trajectory_length"]:
        return None
    dtype = position.dtype
    zero = jnp.zeros((), dtype)
    log_length = jnp.log(jnp.asarray(settings["trajectory_length"], dtype))
    return TrajectoryTuning(
        log_length=log_length,
        average_log_length=log_length,
        initial_log_length=log_length,
        metric_signature=jnp.full((), jnp.nan, dtype),
        adam_m=zero,
        adam_v=zero,
        adam_steps=zero,
        center=position,
        learning_rate=jnp.asarray(settings["trajectory_learning_rate"], dtype),
    )


def tune_params(params: Params, tuning: TrajectoryTuning) -> Params:
    """Params with the chain's trajectory length and running mean."""
    return params._replace(trajectory_length=jnp.exp(tuning.log_length), center=tuning.center)


def _signature(covariance_sqrt):
    return jnp.sum(covariance_sqrt) + 2.0 * jnp.sum(covariance_sqrt * covariance_sqrt)


def update_tuning(
    tuning: TrajectoryTuning, i, num_warmup, state: PositionState, info, covariance_sqrt
):
    """One Adam ascent step of log T along the ChEES signal after warmup transition ``i``
    (``state``: the chain's new position; ``covariance_sqrt``: the L of the next transition).

    T restarts from its initial value whenever the covariance (the whitening) changes: the
    length it learned belongs to the old metric, and beyond the first peak of ChEES its
    gradient has no restoring sign. After the last warmup transition T is the moving average
    (geometric, over ~``AVERAGE_WINDOW`` transitions) of its values since the last restart.
    """
    dtype = tuning.adam_m.dtype
    steps = tuning.adam_steps + 1.0
    g = info.chees_gradient
    m = ADAM_BETA1 * tuning.adam_m + (1.0 - ADAM_BETA1) * g
    v = ADAM_BETA2 * tuning.adam_v + (1.0 - ADAM_BETA2) * g * g
    m_hat = m / (1.0 - ADAM_BETA1**steps)
    v_hat = v / (1.0 - ADAM_BETA2**steps)
    ratio = jnp.where(v_hat > 0, m_hat / jnp.sqrt(jnp.where(v_hat > 0, v_hat, 1.0)), 0.0)
    log_length = jnp.clip(
        tuning.log_length + tuning.learning_rate * ratio,
        jnp.log(MIN_TRAJECTORY),
        jnp.log(MAX_TRAJECTORY),
    )
    rate = 1.0 / jnp.minimum(steps, AVERAGE_WINDOW)
    average = tuning.average_log_length + rate * (log_length - tuning.average_log_length)
    weight = 1.0 / jnp.minimum(i + 1.0, CENTER_WINDOW).astype(dtype)
    center = tuning.center + weight * (state.position - tuning.center)

    signature = _signature(covariance_sqrt).astype(dtype)
    restart = jnp.isfinite(tuning.metric_signature) & (signature != tuning.metric_signature)
    zero = jnp.zeros((), dtype)
    log_length, average = (
        jnp.where(restart, tuning.initial_log_length, a) for a in (log_length, average)
    )
    m, v, steps = (jnp.where(restart, zero, a) for a in (m, v, steps))
    log_length = jnp.where(i == num_warmup - 1, average, log_length)
    return TrajectoryTuning(
        log_length=log_length,
        average_log_length=average,
        initial_log_length=tuning.initial_log_length,
        metric_signature=signature,
        adam_m=m,
        adam_v=v,
        adam_steps=steps,
        center=center,
        learning_rate=tuning.learning_rate,
    )


def network(params: Params) -> net.Network:
    """The IF network as data: decoders D = q L (a spike moves momentum by q along column j of
    L in whitened units), no escape rate (base_rate_hz = 0: deterministic integrate-and-fire),
    one leapfrog step as the window, and membranes bounded by q / 2."""
    cov_sqrt = params.covariance_sqrt
    basis = jnp.diag(cov_sqrt) if jnp.ndim(cov_sqrt) == 1 else cov_sqrt
    quantum = params.spike_quantum * params.step_size
    return net.Network(quantum * basis, 0.0, params.step_ms, 0.5 * quantum)
