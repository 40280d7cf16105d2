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

which is the formula above. Nothing in it needs u to be 1/2 D^T g: any function of the state
works, so clipping u to [-u_max, u_max] (the rates still multiply to a^2) and scaling D by a
random factor drawn independently of the state each transition (a mixture of kernels, each
reversible) keep the chain exact. The jitter takes the chain off the lattice x0 + D Z^P.

The decoders are D = delta L F: L the metric's factor (Sigma = L L^T), F a d x P tight frame
(F F^T = I; F = I when P = d) and delta = sqrt(h / 2a), so that in the diffusion limit the
chain is Langevin dynamics with step h (MALA's units) and preconditioner D D^T ~ Sigma. One
evaluation of (l, g) per window, as MALA.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from spiking_mcmc import network as net
from spiking_mcmc.dynamics.base import (
    Dynamics,
    PositionState,
    TransitionInfo,
    draw_keys,
    is_finite_state,
    metropolis_hastings,
    select_state,
)
from spiking_mcmc.dynamics.spike_counts import poisson_counts
from spiking_mcmc.metric import Metric
from spiking_mcmc.settings import Settings, setting
from spiking_mcmc.validation import check_fraction, check_positive, check_positive_int


@dataclasses.dataclass(frozen=True)
class PoissonSettings(Settings):
    """base_rate_hz: rate lam0 at zero membrane potential; window_ms: one transition (a = lam0 T
    spikes per neuron); max_potential: saturation of |u| (exactness does not depend on it);
    jitter: jump size scaled by U(1 - jitter, 1 + jitter) each window; num_pairs: P (None: d)."""

    base_rate_hz: float = setting(50.0, check_positive)
    window_ms: float = setting(10.0, check_positive)
    max_potential: float = setting(20.0, check_positive)
    jitter: float = setting(0.2, check_fraction)
    num_pairs: int | None = setting(None, check_positive_int, allow_none=True)


class PoissonParams(NamedTuple):
    """The network: decoders D = delta L F (L from ``metric``, F = ``frame`` or I)."""

    metric: Metric
    spike_size: jax.Array  # delta = sqrt(h / 2a)
    frame: jax.Array | None  # d x P tight frame, None for P = d
    base_rate_hz: float
    window_ms: float
    max_potential: float
    jitter: float

    @property
    def expected_spikes(self):
        """a = lam0 T: expected spikes of one neuron per window at zero potential."""
        return net.expected_spikes(self.base_rate_hz, self.window_ms)


def build(settings: PoissonSettings, metric: Metric, step_size) -> PoissonParams:
    """Decoders delta L F with delta = sqrt(h / 2a), h the step size in MALA's units."""
    a = net.expected_spikes(settings.base_rate_hz, settings.window_ms)
    dim = metric.dim
    frame = None
    if settings.num_pairs is not None and settings.num_pairs != dim:
        frame = jnp.asarray(net.tight_frame(dim, settings.num_pairs), metric.scale.dtype)
    return PoissonParams(
        metric,
        net.decoder_scale(step_size, a),
        frame,
        settings.base_rate_hz,
        settings.window_ms,
        settings.max_potential,
        settings.jitter,
    )


def decoders(params: PoissonParams):
    """D (d x P) as a matrix."""
    basis = params.metric.matrix()
    if params.frame is not None:
        basis = basis @ params.frame
    return params.spike_size * basis


def network(params: PoissonParams) -> net.Network:
    return net.Network(
        decoders(params), params.base_rate_hz, params.window_ms, params.max_potential
    )


def membrane_potential(params: PoissonParams, scale, grad):
    """u = clip(1/2 scale D^T g, -u_max, u_max): the ON neurons' input (OFF neurons get -u)."""
    u = 0.5 * scale * params.spike_size * params.metric.whiten_gradient(grad)
    if params.frame is not None:
        u = u @ params.frame
    return jnp.clip(u, -params.max_potential, params.max_potential)


def jump(params: PoissonParams, scale, net_counts):
    """D k (times the jitter ``scale``): where the spikes move the decoded state."""
    k = net_counts if params.frame is None else params.frame @ net_counts
    return scale * params.spike_size * params.metric.colour(k)


def log_accept_ratio(state: PositionState, proposal: PositionState, net_counts, u, u_new, a):
    """log alpha of the involution (x, k) -> (x + D k, -k) (module docstring)."""
    k = net_counts.astype(u.dtype)
    return (
        proposal.log_density
        - state.log_density
        - jnp.sum(k * (u + u_new))
        - 2.0 * a * jnp.sum(jnp.cosh(u_new) - jnp.cosh(u))
    )


def transition(
    key, state: PositionState, logdensity_and_grad, params: PoissonParams, shared_key=None
):
    """One window of spikes: propose x' = x + D k, accept by involutive Metropolis-Hastings."""
    a = params.expected_spikes
    (key_jitter,) = draw_keys(key, shared_key, 1)
    key_spikes, key_accept = jax.random.split(jax.random.fold_in(key, 1))
    dtype = state.position.dtype
    scale = jax.random.uniform(
        key_jitter, dtype=dtype, minval=1.0 - params.jitter, maxval=1.0 + params.jitter
    )
    u = membrane_potential(params, scale, state.grad_log_density)
    on, off = poisson_counts(key_spikes, a * jnp.exp(jnp.stack([u, -u])))
    net_counts = on - off
    position = state.position + jump(params, scale, net_counts.astype(dtype))
    log_density, grad = logdensity_and_grad(position)
    proposal = PositionState(position, log_density, grad)
    finite = is_finite_state(log_density, grad)
    u_new = membrane_potential(params, scale, grad)
    log_ratio = log_accept_ratio(state, proposal, net_counts, u, u_new, a)
    accept_prob, accept = metropolis_hastings(key_accept, log_ratio, finite)
    one = jnp.ones((), on.dtype)
    info = TransitionInfo(
        accept_prob=accept_prob,
        is_accepted=accept,
        diverging=~finite,
        num_spikes=jnp.sum(on) + jnp.sum(off),
        num_grad_evals=one,
        num_steps=one,
        biological_time_ms=jnp.asarray(params.window_ms, dtype),
        spike_counts=jnp.stack([on, off]),
        proposal_moved=jnp.any(net_counts != 0),
    )
    return select_state(accept, proposal, state), info


DYNAMICS = Dynamics(
    name="poisson",
    settings=PoissonSettings,
    build=build,
    transition=transition,
    info=TransitionInfo,
    target_accept_prob=0.57,  # (0.65 samples no better)
    network=network,
)
