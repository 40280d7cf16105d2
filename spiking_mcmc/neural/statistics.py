"""Spike statistics of a recorded network and their linear-response prediction from W.

Neurons are indexed as in :func:`spiking_mcmc.neural.recording.spike_times`: j for ON_j, P + j for
OFF_j, so per-window counts (N, 2, P) flatten to an (N, 2P) matrix n_t (:func:`count_matrix`).

Linear response of the Poisson network around a Gaussian posterior N(mu, Sigma),
Lambda = Sigma^-1. Write v_t = -1/2 D^T Lambda (x_t - mu) for the pairs' potentials at the
*start* of window t (before the jump-size jitter s_t ~ U(1 - j, 1 + j) scales them: u_t = s_t v_t),
E = [I, -I] (P x 2P) so that the ON/OFF potentials are E^T u, and W = -1/2 D^T Lambda D.

1. Given x_t (and s_t) the 2P counts of window t are independent Poisson with means
   a exp(E^T u_t): all lag-0 correlation between neurons comes from the shared input u_t.
2. The chain is exact, so at stationarity x_t ~ N(mu, Sigma) and v_t ~ N(0, C) with
   C = 1/4 D^T Lambda Sigma Lambda D = -W/2, whatever the acceptance rate.
3. Hence, for fixed s, K = s^2 E^T C E and m = a exp(diag(K)/2) (lognormal moments):
       Cov(n_t) = diag(m) + (m m^T) o (exp(K) - 1)     ("lognormal", exact while |u| < u_max)
                ~ a I - a^2 s^2/2 E^T W E     (to first order in W;          "linear")
   averaged over s. E^T W E carries the ON/OFF signs: +W between ON-ON and OFF-OFF pairs,
   -W between ON and OFF. The first-order form a I - a^2/2 E^T W E
   misses that a neuron's Poisson variance equals its *mean* count a e^{C_jj/2} = a(1 - W_jj/4
   + ...), not a: with a = 0.5, h = 1 the variance is 0.658 against a + a^2 C = 0.5625, and
   simulation rejects the first-order form while the lognormal form fits (tests/test_neural.py).
4. Lags tau >= 1 (the potential is taken at the window's start, so the counts of window t act on
   u only from window t + 1 on): an accepted window moves x by s D k_t, so
   v_{t+1} = v_t + acc_t s_t W k_t, k = E n. Linearising E[n | v, s] = m + s diag(m) E^T v:
       X_0 = Cov(v_t, n_t) = C E diag(G1),                    G1 = E_s[s m]   (Stein's lemma)
       X_1 = X_0 + beta_noise W E S1,                          S1 = E_s[s Cov(n_t | s)]
       X_{tau+1} = Gamma X_tau,   Gamma = I + beta_drift W E diag(G2) E^T,   G2 = E_s[s^2 m]
       Cov(n_{t+tau}, n_t) = diag(G1) E^T X_tau
   i.e. the decoded state is the AR(1) x_{t+1} - mu = (I - a D D^T Lambda)(x_t - mu) + D xi_t
   seen through W (with beta = 1). The Metropolis step is the one approximation: a rejected
   window leaves x in place, and rejections are not independent of the counts (large jumps
   are rejected more, jumps along the drift less). beta_drift = E[acc k.v] / E[k.v] and
   beta_noise = E[acc |k|^2] / E[|k|^2] are the fractions of the drift and of the count
   fluctuations that accepted windows pass on (:func:`acceptance_factors` measures them;
   beta = 1 is the linearised proposal dynamics, exact in the limit of acceptance 1).
   The lagged prediction is first order: it gives ON-ON = -(ON-OFF) at lags >= 1, while the
   network adds a second-order term common to all four ON/OFF blocks (the total count
   on + off grows with |u|, about a C^2; 0.02 of 0.07 at h = 1). Net counts k = E n cancel it:
   compare Cov(k_{t+tau}, k_t) with E C_tau E^T (:func:`net_counts`, :func:`net_covariance`).
   With the measured betas the net lagged covariances pass a batch-means Hotelling test
   where beta = 1 fails; a scalar factor cannot describe direction-dependent rejections at
   low acceptance (the README's neural-lens section has the numbers). Lag 0 is not affected.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# -- spike statistics -------------------------------------------------------------------------


def count_matrix(spike_counts):
    """(N, 2, P) ON/OFF counts -> (N, 2P) with columns ON_0..ON_{P-1}, OFF_0..OFF_{P-1}.

    An (N, M) array is returned as it is.
    """
    counts = np.asarray(spike_counts)
    if counts.ndim == 3:
        return counts.reshape(counts.shape[0], -1)
    if counts.ndim != 2:
        raise ValueError(f"counts must have shape (N, 2, P) or (N, M), got {counts.shape}")
    return counts


def firing_rates_hz(spike_counts, window_ms):
    """Mean firing rate of each neuron from counts in windows.

    rate_i = mean_t n_{t,i} / T   (T the window in seconds); returns (2P,) in Hz.
    """
    counts = count_matrix(spike_counts).astype(float)
    return counts.mean(axis=0) / (float(np.mean(window_ms)) / 1000.0)


def rates_from_times_hz(times_ms, neurons, num_neurons, duration_ms):
    """Mean firing rate of each neuron from its spike times.

    rate_i = (number of spikes of i) / duration;  returns (num_neurons,) in Hz.
    """
    counts = np.bincount(np.asarray(neurons), minlength=num_neurons)[:num_neurons]
    return counts / (float(duration_ms) / 1000.0)


def isi_cv(times_ms, neurons, num_neurons, min_spikes=3, trains=None):
    """Coefficient of variation of each neuron's inter-spike intervals.

    ISI_k = t_{k+1} - t_k;  CV = sd(ISI) / mean(ISI)  (1 for Poisson, 0 for a clock);
    NaN for neurons with fewer than ``min_spikes`` spikes (or ``min_spikes - 1`` intervals).
    ``trains``: optional label of each spike's recording (e.g. its chain); intervals are taken
    within a recording only and pooled over recordings.
    """
    times = np.asarray(times_ms, dtype=float)
    neurons = np.asarray(neurons)
    trains = np.zeros(neurons.shape, int) if trains is None else np.asarray(trains)
    order = np.lexsort((times, trains, neurons))
    times, neurons, trains = times[order], neurons[order], trains[order]
    same = (neurons[1:] == neurons[:-1]) & (trains[1:] == trains[:-1])
    intervals = np.diff(times)[same]
    owner = neurons[1:][same]
    cv = np.full(num_neurons, np.nan)
    bounds = np.searchsorted(owner, np.arange(num_neurons + 1))
    for i in range(num_neurons):
        isi = intervals[bounds[i] : bounds[i + 1]]
        if isi.size >= max(min_spikes, 3) - 1:
            mean = isi.mean()
            cv[i] = isi.std(ddof=1) / mean if mean > 0 else np.nan
    return cv


def binned_counts(times_ms, neurons, num_neurons, bin_ms, duration_ms, start_ms=0.0):
    """Spike counts of each neuron in consecutive bins of ``bin_ms`` from ``start_ms``.

    n_{b,i} = #{spikes of i in [start + b T, start + (b + 1) T)},  b < duration // T;
    returns (B, num_neurons) (spikes past the last whole bin are dropped).
    """
    num_bins = int(np.floor(float(duration_ms) / float(bin_ms) + 1e-9))
    times = np.asarray(times_ms, dtype=float) - float(start_ms)
    neurons = np.asarray(neurons)
    index = np.floor(times / float(bin_ms)).astype(np.int64)
    keep = (index >= 0) & (index < num_bins)
    counts = np.zeros((num_bins, num_neurons), np.int64)
    np.add.at(counts, (index[keep], neurons[keep]), 1)
    return counts


def fano_factors(spike_counts, bin_windows=1):
    """Fano factor of each neuron's counts in bins of ``bin_windows`` consecutive windows.

    F = Var(n) / E[n] over bins  (1 for Poisson, 0 for a clock); NaN where a neuron is silent.
    """
    counts = count_matrix(spike_counts).astype(float)
    bins = counts.shape[0] // int(bin_windows)
    if bins < 2:
        raise ValueError(f"need at least 2 bins of {bin_windows} windows, got {counts.shape[0]}")
    binned = counts[: bins * bin_windows].reshape(bins, bin_windows, -1).sum(axis=1)
    mean = binned.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, binned.var(axis=0, ddof=1) / mean, np.nan)


def count_covariance(spike_counts, max_lag=0):
    """Spike-count cross-covariance matrices at lags 0..K (windows).

    C[tau]_{ij} = Cov(n_{t+tau, i}, n_{t, j}) = 1/N sum_t (n_{t+tau} - nbar)_i (n_t - nbar)_j;
    returns (K + 1, M, M). C[tau] for tau > 0 is not symmetric: row = later window.
    """
    counts = count_matrix(spike_counts).astype(float)
    n = counts.shape[0]
    if max_lag >= n:
        raise ValueError(f"max_lag={max_lag} needs more than {n} windows")
    centred = counts - counts.mean(axis=0)
    return np.stack([centred[tau:].T @ centred[: n - tau] / n for tau in range(int(max_lag) + 1)])


def covariance_to_correlation(covariance):
    """Correlation from covariance, normalised by the lag-0 variances.

    R[tau]_{ij} = C[tau]_{ij} / sqrt(C[0]_{ii} C[0]_{jj});  accepts (M, M) or (K + 1, M, M).
    """
    cov = np.asarray(covariance, dtype=float)
    lag0 = cov if cov.ndim == 2 else cov[0]
    sd = np.sqrt(np.diag(lag0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(sd, sd)


def count_correlation(spike_counts, max_lag=0):
    """Spike-count correlation matrices at lags 0..K.

    R[tau]_{ij} = Cov(n_{t+tau,i}, n_{t,j}) / (sd_i sd_j);  returns (K + 1, M, M).
    """
    return covariance_to_correlation(count_covariance(spike_counts, max_lag))


def net_counts(spike_counts):
    """Net counts of each pair in each window.

    k_t = n_on - n_off = E n_t;  (N, 2, P) -> (N, P).
    """
    counts = np.asarray(spike_counts)
    return (counts[:, 0] - counts[:, 1]).astype(float)


def net_covariance(covariance):
    """Covariance of net counts from that of ON/OFF counts.

    Cov(k_{t+tau}, k_t) = E C_tau E^T;  accepts (2P, 2P) or (K + 1, 2P, 2P).
    """
    cov = np.asarray(covariance, dtype=float)
    e = pair_signs(cov.shape[-1] // 2)
    return e @ cov @ e.T


# -- linear-response prediction ---------------------------------------------------------------


def gaussian_weights(decoders, precision):
    """Recurrent weights of the network on a Gaussian posterior.

    W = -1/2 D^T Lambda D  (u = W n + b: the input of pair i per net spike of pair j).
    """
    decoders = np.asarray(decoders, dtype=float)
    return -0.5 * decoders.T @ np.asarray(precision, dtype=float) @ decoders


def pair_signs(num_pairs):
    """E = [I, -I] (P x 2P): net counts k = E n, ON/OFF potentials E^T u.

    E^T A E puts +A in the ON-ON and OFF-OFF blocks and -A in the ON-OFF blocks.
    """
    eye = np.eye(num_pairs)
    return np.hstack([eye, -eye])


def _jitter_nodes(jitter, num_nodes=24):
    """Gauss-Legendre nodes and weights of s ~ U(1 - j, 1 + j) (a single node when j = 0)."""
    if jitter == 0:
        return np.ones(1), np.ones(1)
    nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
    return 1.0 + float(jitter) * nodes, weights / 2.0


def linear_count_covariance(weights, expected_spikes, jitter=0.0):
    """The first-order (in W) lag-0 count covariance: linear response to W, with the jitter.

    Cov(n_t) = a I - a^2 E[s^2] / 2 * E^T W E   (E^T W E: +W same-sign, -W ON-OFF blocks).
    """
    w = np.asarray(weights, dtype=float)
    a = float(expected_spikes)
    e = pair_signs(w.shape[0])
    second_moment = 1.0 + float(jitter) ** 2 / 3.0
    return a * np.eye(2 * w.shape[0]) - 0.5 * a * a * second_moment * e.T @ w @ e


def predicted_mean_counts(weights, expected_spikes, jitter=0.0, potential_covariance=None):
    """Mean count of each neuron per window at stationarity (lognormal).

    E[n_i] = E_s[a exp(s^2 C_jj / 2)],  C = Cov(v) = -W/2 (j the pair of neuron i).
    """
    cov_v = _potential_covariance(weights, potential_covariance)
    nodes, wts = _jitter_nodes(jitter)
    c = np.tile(np.diag(cov_v), 2)
    return sum(
        w * expected_spikes * np.exp(s * s * c / 2.0) for s, w in zip(nodes, wts, strict=True)
    )


def _potential_covariance(weights, potential_covariance):
    if potential_covariance is not None:
        return np.asarray(potential_covariance, dtype=float)
    return -0.5 * np.asarray(weights, dtype=float)


def predicted_count_covariance(
    weights,
    expected_spikes,
    max_lag=0,
    jitter=0.0,
    acceptance=(1.0, 1.0),
    method="lognormal",
    potential_covariance=None,
):
    """Linear-response prediction of the count covariances at lags 0..K (module docstring).

    Lag 0: Cov(n_t) = E_s[diag(m) + m m^T o (exp(s^2 E^T C E) - 1)] + Var_s(m), C = -W/2
           ("lognormal"), or a I - a^2 E[s^2]/2 E^T W E ("linear", first order in W).
    Lag tau >= 1: diag(G1) E^T Gamma^(tau-1) (X_0 + beta_noise W E S1), X_0 = C E diag(G1).

    :param weights: W (P x P), e.g. :func:`gaussian_weights` or ``SpikingKernel.get_network``.
    :param expected_spikes: a = lam0 T, expected spikes per neuron and window at u = 0.
    :param jitter: the Poisson network's jump-size jitter j (u = s v, s ~ U(1 - j, 1 + j)).
    :param acceptance: (beta_drift, beta_noise) of :func:`acceptance_factors`; (1, 1) is the
        linearised proposal dynamics (lags >= 1 only; lag 0 does not depend on acceptance).
    :param potential_covariance: Cov(v) if not -W/2 (a chain that is not exact, or measured).
    :returns: (K + 1, 2P, 2P), row = later window.
    """
    if method not in ("lognormal", "linear"):
        raise ValueError(f"method must be 'lognormal' or 'linear', got {method!r}")
    w = np.asarray(weights, dtype=float)
    num_pairs = w.shape[0]
    a = float(expected_spikes)
    e = pair_signs(num_pairs)
    cov_v = _potential_covariance(w, potential_covariance)
    beta_drift, beta_noise = (float(b) for b in acceptance)
    nodes, wts = _jitter_nodes(jitter)
    size = 2 * num_pairs
    mean = np.zeros(size)
    second = np.zeros((size, size))
    g1 = np.zeros(size)
    g2 = np.zeros(size)
    s1 = np.zeros((size, size))
    for s, wt in zip(nodes, wts, strict=True):
        if method == "lognormal":
            k = s * s * (e.T @ cov_v @ e)
            m = a * np.exp(np.diag(k) / 2.0)
            cond = np.diag(m) + np.outer(m, m) * np.expm1(k)
        else:
            m = np.full(size, a)
            cond = a * np.eye(size) + a * a * s * s * (e.T @ cov_v @ e)
        mean += wt * m
        second += wt * (cond + np.outer(m, m))
        g1 += wt * s * m
        g2 += wt * s * s * m
        s1 += wt * s * cond
    lag0 = second - np.outer(mean, mean)
    out = [lag0]
    x = cov_v @ e * g1 + beta_noise * w @ e @ s1
    gamma = np.eye(num_pairs) + beta_drift * w @ e @ np.diag(g2) @ e.T
    for _ in range(int(max_lag)):
        out.append(g1[:, None] * (e.T @ x))
        x = gamma @ x
    return np.stack(out)


def acceptance_factors(spike_counts, is_accepted, potentials):
    """How much of the proposal's drift and noise accepted windows pass on (for lags >= 1).

    beta_drift = sum_t acc_t k_t.v_t / sum_t k_t.v_t,  beta_noise = sum acc |k|^2 / sum |k|^2,
    k_t the net counts, v_t the potentials 1/2 D^T g(x_t) at the window's start (N, P).
    """
    k = net_counts(spike_counts)
    acc = np.asarray(is_accepted, dtype=float)[:, None]
    v = np.asarray(potentials, dtype=float)
    drift = float(np.sum(acc * k * v) / np.sum(k * v))
    noise = float(np.sum(acc * k * k) / np.sum(k * k))
    return drift, noise


# -- does a measurement match a prediction? ---------------------------------------------------


def covariance_test(spike_counts, predicted, lag=0, num_batches=100):
    """Hotelling test of measured against predicted count covariances at one lag.

    y_t = vec((n_{t+lag} - nbar)(n_t - nbar)^T); B batch means Y_b of y (batches longer than
    the chain's memory) have mean ybar and covariance S: T^2 = B (ybar - c)^T S^-1 (ybar - c),
    (B - p) / (p (B - 1)) T^2 ~ F(p, B - p) under the prediction c (p entries; the lower
    triangle only at lag 0).

    :returns: dict with ``statistic`` (T^2), ``dof`` (p), ``p_value``, ``z`` (per-entry
        (measured - predicted) / batch-means standard error), ``measured``, ``stderr``.
    """
    counts = count_matrix(spike_counts).astype(float)
    predicted = np.asarray(predicted, dtype=float)
    n, size = counts.shape
    centred = counts - counts.mean(axis=0)
    later, earlier = centred[lag:], centred[: n - lag]
    if lag == 0:
        rows, cols = np.tril_indices(size)
    else:
        rows, cols = np.indices((size, size)).reshape(2, -1)
    keep = np.var(later[:, rows] * earlier[:, cols], axis=0) > 0
    rows, cols = rows[keep], cols[keep]
    products = later[:, rows] * earlier[:, cols]
    per_batch = products.shape[0] // num_batches
    dof = rows.size
    if num_batches <= dof + 1:
        raise ValueError(f"num_batches={num_batches} must exceed the {dof} entries tested + 1")
    batches = products[: per_batch * num_batches].reshape(num_batches, per_batch, dof).mean(1)
    measured = batches.mean(axis=0)
    diff = measured - predicted[rows, cols]
    cov = np.cov(batches.T, ddof=1).reshape(dof, dof)
    stderr = np.sqrt(np.diag(cov) / num_batches)
    t2 = float(num_batches * diff @ np.linalg.solve(cov, diff))
    f = (num_batches - dof) / (dof * (num_batches - 1)) * t2
    return {
        "statistic": t2,
        "dof": dof,
        "p_value": float(stats.f.sf(f, dof, num_batches - dof)),
        "z": diff / stderr,
        "measured": measured,
        "stderr": stderr,
        "entries": (rows, cols),
    }
