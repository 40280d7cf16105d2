"""One window of the Poisson spiking network as an exact Metropolis-Hastings transition.

    n_on ~ Poisson(a e^u), n_off ~ Poisson(a e^-u), u = 1/2 D^T g(x);  x' = x + D (n_on - n_off)
    log alpha = l(x') - l(x) - k.(u + u') - 2a sum_j [cosh u'_j - cosh u_j],   k = n_on - n_off

Derivation. Pair j emits n_on ~ Poisson(mu1), n_off ~ Poisson(mu2), mu1 = a e^{u_j},
mu2 = a e^{-u_j}, independently, so the net count k_j = n_on - n_off is Skellam:

    q(k_j | x) = e^{-(mu1 + mu2)} (mu1 / mu2)^{k_j / 2} I_{|k_j|}(2 sqrt(mu1 mu2))
               = exp(-2a cosh u_j + u_j k_j) I_{|k_j|}(2a).

Involutive MCMC on the pair (x, k) with auxiliary k ~ q(. | x) and the involution
f(x, k) = (x + D k, -k), which is its own inverse with |Jacobian| = 1 (a translation of x and
a sign flip of the integer k), accepts f(x, k) = (x', -k) with probability

    min(1, p(x') q(-k | x') / (p(x) q(k | x))).

The Bessel factors are equal (they depend on |k| and a only) and cancel, leaving

    log alpha = l(x') - l(x) + sum_j [-2a cosh u'_j - u'_j k_j] - sum_j [-2a cosh u_j + u_j k_j],

which is the formula above, with u.k = 1/2 k.D^T g. Nothing in it needs u to be 1/2 D^T g: any
function of the state works, so clipping u to [-u_max, u_max] (the rates still multiply to a^2)
and scaling D by a random factor drawn independently of the state each transition (a mixture
of kernels, each reversible) keep the chain exact. The jitter takes the chain off the lattice
x0 + D Z^P. One evaluation of (l, g) per transition, as MALA; in the diffusion limit this is
Langevin dynamics with step h = 2 a |d|^2 and preconditioner D D^T.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from spiking_mcmc import network as net
from spiking_mcmc.dynamics.base import (
    PositionState,
    TransitionInfo,
    is_finite_state,
    metropolis_hastings,
    select_state,
)
from spiking_mcmc.dynamics.spike_counts import poisson_counts
from spiking_mcmc.validation import check_positive

DEFAULTS = {
    "base_rate_hz": 50.0,  # lam0: rate at zero membrane potential
    "window_ms": 10.0,  # T: one transition; a = lam0 T = 0.5 spikes per neuron per window
    "max_potential": 20.0,  # saturation of |u| (exactness does not depend on it)
    "jitter": 0.2,  # jump size scaled by U(1 - jitter, 1 + jitter) each transition
    "num_pairs": None,  # P; None means P = d (one ON/OFF pair per dimension)
}


TARGET_ACCEPT_PROB = 0.57  # at least as good as 0.65 in DESIGN's measurements


def check_settings(settings):
    """Refuse settings that make no network: rates, windows and saturation must be > 0."""
    for name in ("base_rate_hz", "window_ms", "max_potential"):
        check_positive(name, settings[name])
    if not 0.0 <= float(settings["jitter"]) < 1.0:
        raise ValueError(f"jitter must lie in [0, 1), got {settings['jitter']!r}")
    num_pairs = settings["num_pairs"]
    if num_pairs is not None and (not isinstance(num_pairs, int) or num_pairs < 1):
        raise ValueError(f"num_pairs must be a positive integer or None, got {num_pairs!r}")


def frame(dim, settings):
    """Directions of the population: None (D = delta L) or a d x P tight frame for P > d."""
    num_pairs = settings["num_pairs"]
    if num_pairs is None or num_pairs == dim:
        return None
    return net.tight_frame(dim, num_pairs)


class Params(NamedTuple):
    """What a transition needs: the network and the jitter of its jump size."""

    network: net.Network
    jitter: float


def make_params(step_size, covariance_sqrt, settings, frame=None) -> Params:
    """Network with decoders D = sqrt(h / 2a) L F from the adapted step h and covariance L L^T."""
    a = net.expected_spikes(settings["base_rate_hz"], settings["window_ms"])
    decoders = net.decoders(covariance_sqrt, step_size, a, frame)
    network = net.Network(
        decoders, settings["base_rate_hz"], settings["window_ms"], settings["max_potential"]
    )
    return Params(network, settings["jitter"])


def log_accept_ratio(
    state: PositionState, proposal: PositionState, net_counts, decoders, expected_spikes, max_u
):
    """log alpha of the involution (x, k) -> (x + D k, -k) (module docstring)."""
    u = net.membrane_potential(decoders, state.grad_log_density, max_u)
    u_new = net.membrane_potential(decoders, proposal.grad_log_density, max_u)
    k = net_counts.astype(u.dtype)
    return (
        proposal.log_density
        - state.log_density
        - jnp.sum(k * (u + u_new))
        - 2.0 * expected_spikes * jnp.sum(jnp.cosh(u_new) - jnp.cosh(u))
    )


def transition(key, state: PositionState, logdensity_and_grad, params: Params):
    """One window of spikes: propose x' = x + D k, accept by involutive Metropolis-Hastings."""
    network = params.network
    a = network.expected_spikes
    key_jitter, key_spikes, key_accept = jax.random.split(key, 3)
    dtype = state.position.dtype
    scale = jax.random.uniform(
        key_jitter, dtype=dtype, minval=1.0 - params.jitter, maxval=1.0 + params.jitter
    )
    decoders = scale * network.decoders.astype(dtype)
    u = net.membrane_potential(decoders, state.grad_log_density, network.max_potential)
    on, off = poisson_counts(key_spikes, a * jnp.exp(jnp.stack([u, -u])))
    net_counts = on - off
    position = state.position + decoders @ net_counts.astype(dtype)
    log_density, grad = logdensity_and_grad(position)
    proposal = PositionState(position, log_density, grad)
    finite = is_finite_state(log_density, grad)
    log_ratio = log_accept_ratio(state, proposal, net_counts, decoders, a, network.max_potential)
    accept_prob, accept = metropolis_hastings(key_accept, log_ratio, finite)
    new_state = select_state(accept, proposal, state)
    int_type = on.dtype
    info = TransitionInfo(
        accept_prob=accept_prob,
        is_accepted=accept,
        diverging=~finite,
        num_spikes=jnp.sum(on) + jnp.sum(off),
        num_grad_evals=jnp.ones((), int_type),
        num_steps=jnp.ones((), int_type),
        biological_time_ms=jnp.asarray(network.window_ms, dtype),
        spike_counts=jnp.stack([on, off]),
    )
    return new_state, info
