"""Biophysical network: leaky integrate-and-fire neurons whose readout follows
Langevin dynamics on the posterior. Research mode: NOT an exact MCMC kernel.

    membrane (pair j):  V_j <- V_j - V_j dt/tau_m + f_j . [dt/tau L^T g(x) + sqrt(2 dt/tau) xi]
    spike:              ON_j when V_j > theta, OFF_j when V_j < -theta (if not refractory)
    after spikes s:     x <- x + delta L F s;  V <- V - delta F^T F s  (reset, lateral inhibition)
    theta = threshold * delta,  |f_j| = 1

A spike-coding network in the style of Boerlin, Machens & Deneve (2013) and Masset, Zavatone-
Veth, Connor, Murthy & Pehlevan (2022). P pairs of ON/OFF neurons (pair j has ON membrane V_j
and OFF membrane -V_j) encode x through decoders D = delta L F (L L^T = Sigma the adapted
covariance, F the unit directions f_j of a d x P tight frame, F F^T = (P/d) I; F = I when
P = d), so every spike moves the whitened readout by exactly delta. In whitened coordinates
y = L^-1 x the target is the Langevin diffusion with time constant tau,

    dy = (1/tau) L^T g(x) dt + sqrt(2/tau) dB,

whose stationary law is the posterior. Each neuron integrates that increment projected on its
decoder direction, the drift as the input current (the posterior gradient, a dendritic function
of the decoded state) and the diffusion as injected membrane noise; V_j is then f_j . e, where
e is the part of the increment not yet delivered by spikes. A spike of ON_j moves the decoded
state by +delta f_j (whitened) when V_j crosses the greedy threshold delta / 2 (a spike
fires when it brings the readout closer to the target), and the recurrent connections
-delta F^T F remove what it delivered: the self-connection is the reset by subtraction
(from threshold to reset = threshold - 1 in units of delta), the off-diagonal ones are
lateral inhibition/excitation. Within a step neurons fire greedily: the one furthest above
threshold first, then the membranes are updated and the next one fires if it is still above
threshold (at most one spike per neuron per step), so that near-parallel neurons of an
overcomplete population do not all fire for the same error. The readout is a perfect
integrator: x = x_start + D n.

Why it is not exact. There is no Metropolis step. The bias has four sources: (1) Euler steps
of length dt (the unadjusted Langevin algorithm: on a Gaussian the variance is inflated by
1 / (1 - dt / (2 tau))); (2) quantisation: the readout lags the target by up to delta/2 per
direction, and a neuron fires at most once per step and not while refractory, so when dt is
long the noise arrives faster than the spikes can deliver it and the leak forgets the rest;
(3) the membrane leak (tau_m) forgets undelivered charge; (4) the membranes are not part of
the chain's state (the kernel passes only the position between transitions), so each
transition draws them afresh, uniform in [-theta, theta]. The bias falls as dt shrinks.

Accepting always: ``accept_prob`` = 1 and ``is_accepted`` = True in every transition;
:class:`LIFInfo` adds ``is_exact`` (always False) so that any consumer of the transition info
can see that these draws are not from an exact chain, and a kernel built with it warns once
(:class:`~spiking_mcmc.dynamics.base.InexactChainWarning`). The kernel's step size is not
used (dual averaging toward a target acceptance has nothing to act on): ``tau_ms`` sets the
speed of the dynamics and ``spike_size`` the jump per spike. Warmup still learns the
covariance (the decoders).

Units: times in biological ms; ``spike_size`` delta in posterior standard deviations (whitened
units); ``threshold``, ``reset`` in units of a neuron's self-inhibition delta;
``private_noise`` (independent membrane noise of each pair, a further source of bias) in
whitened units per sqrt(ms). Firing rate: at least d / (P tau delta^2) per neuron at dt -> 0
(quadratic variation 2 / tau per direction, delivered in quanta delta^2 by 2P neurons); near
threshold 1/2 the greedy rule adds ON-OFF doublets (an ON spike leaves V at the OFF
threshold), about 2.5x at P = d, more for overcomplete populations.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from spiking_mcmc import network as net
from spiking_mcmc.dynamics.base import (  # noqa: F401 - InexactChainWarning: re-exported
    Dynamics,
    InexactChainWarning,
    PositionState,
    is_finite_state,
)
from spiking_mcmc.metric import Metric
from spiking_mcmc.settings import Settings, setting
from spiking_mcmc.validation import check_non_negative, check_positive, check_positive_int


@dataclasses.dataclass(frozen=True)
class LIFSettings(Settings):
    """tau_ms: time constant of the readout's Langevin dynamics; tau_m_ms: membrane time constant
    (leak); dt_ms: simulation step; window_ms: one transition; spike_size: whitened jump per
    spike (delta); threshold, reset: in units of delta; refractory_ms: no spike for this long
    after one; private_noise: independent membrane noise per pair (whitened units / sqrt(ms));
    num_pairs: P (None: d)."""

    tau_ms: float = setting(20.0, check_positive)
    tau_m_ms: float = setting(20.0, check_positive)
    dt_ms: float = setting(0.1, check_positive)
    window_ms: float = setting(10.0, check_positive)
    spike_size: float = setting(0.5, check_positive)
    threshold: float = setting(0.5, check_positive)
    reset: float = setting(-0.5)
    refractory_ms: float = setting(1.0, check_non_negative)
    private_noise: float = setting(0.0, check_non_negative)
    num_pairs: int | None = setting(None, check_positive_int, allow_none=True)

    def check(self):
        if self.dt_ms > self.window_ms:
            raise ValueError(f"dt_ms={self.dt_ms} must not exceed window_ms={self.window_ms}")
        if not float(self.reset) < float(self.threshold):
            raise ValueError(f"reset={self.reset!r} must lie below threshold={self.threshold!r}")


def frame(dim, num_pairs):
    """Directions of the population: None (F = I) or unit columns of a d x P tight frame."""
    if num_pairs is None or num_pairs == dim:
        return None
    directions = net.tight_frame(dim, num_pairs)
    return directions / np.linalg.norm(directions, axis=0)


class LIFParams(NamedTuple):
    """What a transition needs (a pytree)."""

    metric: Metric  # L
    frame: jax.Array | None  # F (d x P, unit columns), None for F = I
    spike_size: float
    tau_ms: float
    tau_m_ms: float
    dt_ms: float
    window_ms: float
    threshold: float
    reset: float
    refractory_ms: float
    private_noise: float

    def decoders(self):
        """D = delta L F (d x P): the readout moves by column j per ON_j spike."""
        basis = self.metric.matrix()
        if self.frame is not None:
            basis = basis @ self.frame
        return self.spike_size * basis


def build(settings: LIFSettings, metric: Metric, step_size) -> LIFParams:
    """The network with decoders delta L F; ``step_size`` is not used (module docstring)."""
    del step_size
    directions = frame(metric.dim, settings.num_pairs)
    return LIFParams(
        metric,
        None if directions is None else jnp.asarray(directions, metric.scale.dtype),
        settings.spike_size,
        settings.tau_ms,
        settings.tau_m_ms,
        settings.dt_ms,
        settings.window_ms,
        settings.threshold,
        settings.reset,
        settings.refractory_ms,
        settings.private_noise,
    )


class LIFInfo(NamedTuple):
    """TransitionInfo's fields, plus ``is_exact`` (always False: no Metropolis step)."""

    accept_prob: jax.Array  # always 1
    is_accepted: jax.Array  # always True
    diverging: jax.Array
    num_spikes: jax.Array
    num_grad_evals: jax.Array  # steps after which the readout moved (g recomputed)
    num_steps: jax.Array  # time steps of length dt_ms in this window
    biological_time_ms: jax.Array
    spike_counts: jax.Array  # (2, P) ON / OFF spikes in this window
    proposal_moved: jax.Array  # the readout moved (some neuron fired)
    is_exact: jax.Array  # False: these draws are biased (module docstring)


class _Carry(NamedTuple):
    position: jax.Array
    log_density: jax.Array
    grad: jax.Array
    membrane: jax.Array  # (P,) V_j; ON_j sees V_j, OFF_j sees -V_j
    refractory_on: jax.Array  # ms left
    refractory_off: jax.Array
    on: jax.Array  # spike counts this window
    off: jax.Array
    grad_evals: jax.Array


def transition(key, state: PositionState, logdensity_and_grad, params: LIFParams, shared_key=None):
    """One window of window_ms: membranes drawn afresh, then Euler steps of dt_ms."""
    dtype = state.position.dtype
    dim = state.position.shape[-1]
    metric = jax.tree.map(lambda a: jnp.asarray(a, dtype), params.metric)
    frame_ = jnp.eye(dim, dtype=dtype) if params.frame is None else params.frame.astype(dtype)
    num_pairs = frame_.shape[1]
    delta = jnp.asarray(params.spike_size, dtype)
    gram = frame_.T @ frame_
    theta = params.threshold * delta
    self_reset = (params.threshold - params.reset) * delta
    lateral = delta * (gram - jnp.diag(jnp.diag(gram)))
    decoders = params.decoders().astype(dtype)
    dt = jnp.asarray(params.dt_ms, dtype)
    num_steps = jnp.maximum(jnp.round(params.window_ms / params.dt_ms), 1).astype(jnp.int32)
    drift_gain = dt / params.tau_ms
    noise_sd = jnp.sqrt(2.0 * dt / params.tau_ms)
    private_sd = params.private_noise * jnp.sqrt(dt)
    leak = dt / params.tau_m_ms
    key_start, key_steps = jax.random.split(key)
    membrane = theta * jax.random.uniform(key_start, (num_pairs,), dtype, -1.0, 1.0)
    zeros_p = jnp.zeros((num_pairs,), dtype)
    zeros_i = jnp.zeros((num_pairs,), jnp.int32)
    carry = _Carry(
        state.position,
        state.log_density,
        state.grad_log_density,
        membrane,
        zeros_p,
        zeros_p,
        zeros_i,
        zeros_i,
        jnp.zeros((), jnp.int32),
    )

    def _fire(v, ready_on, ready_off):
        """Greedy spiking within a step: the neuron furthest above threshold fires, the
        recurrent connections update every membrane, repeat while any ready neuron is above
        threshold (each neuron fires at most once per step)."""

        def above(carry):
            v, on, off = carry
            return jnp.any(ready_on & ~on & (v > theta)) | jnp.any(ready_off & ~off & (v < -theta))

        def fire_one(carry):
            v, on, off = carry
            excess = jnp.concatenate(
                [
                    jnp.where(ready_on & ~on, v - theta, -jnp.inf),
                    jnp.where(ready_off & ~off, -v - theta, -jnp.inf),
                ]
            )
            best = jnp.argmax(excess)
            j = best % num_pairs
            is_on = best < num_pairs
            sign = jnp.where(is_on, 1.0, -1.0).astype(dtype)
            v = v - sign * (lateral[:, j] + self_reset * (jnp.arange(num_pairs) == j))
            hit = jnp.arange(num_pairs) == j
            return v, on | (hit & is_on), off | (hit & ~is_on)

        none = jnp.zeros((num_pairs,), bool)
        v, on, off = lax.while_loop(above, fire_one, (v, none, none))
        return on, off, v

    def step(i, c: _Carry):
        key_noise, key_private = jax.random.split(jax.random.fold_in(key_steps, i))
        increment = drift_gain * metric.whiten_gradient(c.grad) + noise_sd * (
            jax.random.normal(key_noise, (dim,), dtype)
        )
        v = c.membrane * (1.0 - leak) + increment @ frame_
        v = v + private_sd * jax.random.normal(key_private, (num_pairs,), dtype)
        on, off, v = _fire(v, c.refractory_on <= 0, c.refractory_off <= 0)
        s = on.astype(dtype) - off.astype(dtype)
        moved = jnp.any(on | off)
        position = c.position + decoders @ s

        def recompute(x):
            return logdensity_and_grad(x)

        log_density, grad = lax.cond(moved, recompute, lambda _: (c.log_density, c.grad), position)
        refractory_on = jnp.where(on, params.refractory_ms, c.refractory_on - dt)
        refractory_off = jnp.where(off, params.refractory_ms, c.refractory_off - dt)
        return _Carry(
            position,
            log_density,
            grad,
            v,
            refractory_on,
            refractory_off,
            c.on + on.astype(jnp.int32),
            c.off + off.astype(jnp.int32),
            c.grad_evals + moved.astype(jnp.int32),
        )

    end = lax.fori_loop(0, num_steps, step, carry)
    finite = is_finite_state(end.log_density, end.grad)
    new_state = PositionState(end.position, end.log_density, end.grad)
    info = LIFInfo(
        accept_prob=jnp.ones((), dtype),
        is_accepted=jnp.ones((), bool),
        diverging=~finite,
        num_spikes=jnp.sum(end.on) + jnp.sum(end.off),
        num_grad_evals=end.grad_evals,
        num_steps=num_steps,
        biological_time_ms=num_steps.astype(dtype) * dt,
        spike_counts=jnp.stack([end.on, end.off]),
        proposal_moved=jnp.any(end.position != state.position),
        is_exact=jnp.zeros((), bool),
    )
    return new_state, info


def network(params: LIFParams) -> net.Network:
    """The LIF network as data: decoders delta L F, no escape rate, the window, the threshold."""
    return net.Network(
        params.decoders(), 0.0, params.window_ms, params.threshold * params.spike_size
    )


DYNAMICS = Dynamics(
    name="lif",
    settings=LIFSettings,
    build=build,
    transition=transition,
    info=LIFInfo,
    target_accept_prob=0.8,  # unused: there is no acceptance rate to tune toward
    exact=False,
    network=network,
)
