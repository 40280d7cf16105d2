"""Linear response of the integrate-and-fire Hamiltonian network: the covariance of a
transition's net spike counts, predicted from the recurrent weights W.

    q k = Delta p = Delta w - Delta v,    Delta w = -eps/2 A sum_n (z_n + z_{n+1})
    Cov(k) = E_{eps, n}[ B_n Cov(z_0, w_0) B_n^T / q^2 ] + Var(Delta v) / q^2,   A = -2 W / q0^2

In whitened coordinates z = L^-1 (x - mu) a Gaussian posterior N(mu, Sigma) has the force
L^T g = -A z with A = L^T Sigma^-1 L, and the network's weights are W = -1/2 D^T H D =
-q0^2 A / 2 (decoders D = q0 L, q0 = spike_quantum * step_size). Pair j's net count over a
transition (ON minus OFF spikes) is the change of its momentum over q, and the momentum p is
the true momentum w (which every kick changes by exactly eps/2 L^T g) less the membrane v, so
q k = Delta w - Delta v. The leapfrog on (z, w) is linear for a Gaussian (the drift sees
p = w - v, and |v| <= q/2 is neglected): Delta w = B_n (z_0, w_0) with B_n the last d rows of
M^n - I, M one leapfrog step. At stationarity z_0 ~ N(0, A^-1) and w_0 ~ N(0, I), independent,
whatever the acceptance rate (the counts are those of the proposal, and a Metropolis step
keeps the start stationary), so Cov(Delta w) = B_n diag(A^-1, I) B_n^T, averaged over the
step's jitter and the random number of steps. The membranes start uniform on [-q/2, q/2) and
end nearly uniform after many spikes, which adds Var(Delta v) / q^2 = 1/6 to each pair's
variance (``residual_variance``). The prediction is for one ON/OFF pair per direction (the
Hamiltonian network); a population's membranes do not forget their start within a transition.
"""

from __future__ import annotations

import numpy as np


def _nodes(low, high, num):
    """Gauss-Legendre nodes and weights of U(low, high) (one node when low == high)."""
    if high <= low:
        return np.array([float(low)]), np.ones(1)
    x, w = np.polynomial.legendre.leggauss(num)
    return low + (high - low) * (x + 1.0) / 2.0, w / 2.0


def leapfrog_matrix(precision_white, step):
    """M: (z, w) -> (z', w') for one leapfrog step on the force -A z (2d x 2d)."""
    dim = precision_white.shape[0]
    eye = np.eye(dim)
    kick = np.block([[eye, np.zeros((dim, dim))], [-0.5 * step * precision_white, eye]])
    drift = np.block([[eye, step * eye], [np.zeros((dim, dim)), eye]])
    return kick @ drift @ kick


def predicted_net_count_covariance(
    weights,
    spike_quantum,
    step_size,
    trajectory_length,
    step_jitter=0.2,
    max_steps=1024,
    residual_variance=1.0 / 6.0,
    num_nodes=12,
):
    """Cov(k) of one transition's net counts (P x P, P = d pairs) on a Gaussian posterior.

    :param weights: W = -1/2 D^T H D of the network (``SpikingKernel.get_network`` or
        :func:`spiking_mcmc.neural.gaussian_weights` with D = ``network.decoders``).
    :param spike_quantum, step_size, trajectory_length, step_jitter, max_steps: the network's
        settings (``kernel.network_params(state)``): q = spike_quantum * eps,
        eps ~ step_size U(1 - jitter, 1 + jitter), n = min(ceil(T / eps), max_steps) with
        T ~ trajectory_length U(1, 2).
    """
    w = np.asarray(weights, dtype=float)
    dim = w.shape[0]
    q0 = float(spike_quantum) * float(step_size)
    precision_white = -2.0 * w / q0**2
    start = np.zeros((2 * dim, 2 * dim))
    start[:dim, :dim] = np.linalg.inv(precision_white)
    start[dim:, dim:] = np.eye(dim)
    steps, step_weights = _nodes(
        step_size * (1 - step_jitter), step_size * (1 + step_jitter), num_nodes
    )
    times, time_weights = _nodes(trajectory_length, 2.0 * trajectory_length, num_nodes)
    covariance = np.zeros((dim, dim))
    for eps, weight_eps in zip(steps, step_weights, strict=True):
        step_map = leapfrog_matrix(precision_white, eps)
        counts = np.clip(np.ceil(times / eps), 1, max_steps).astype(int)
        powers = {0: np.eye(2 * dim)}
        current = np.eye(2 * dim)
        for n in range(1, counts.max() + 1):
            current = step_map @ current
            powers[n] = current
        quantum = float(spike_quantum) * eps
        for n, weight_time in zip(counts, time_weights, strict=True):
            change = powers[n][dim:] - np.hstack([np.zeros((dim, dim)), np.eye(dim)])
            covariance += weight_eps * weight_time * change @ start @ change.T / quantum**2
    return covariance + residual_variance * np.eye(dim)
