"""The numbers a network is judged by as a cortical circuit, from recordings of many chains.

    spikes per dimension per effective sample = S / (d ESS)      (unit-free: no time unit)
    mean rate = S / (2P T);   ISI CV pooled over chains;   mean |r_ij| over pairs i < j

S spikes fired by the whole population (2P neurons) in a stationary stretch of total
biological time T (summed over chains), ESS the effective sample size of the same stretch.
Count correlations r_ij are Pearson correlations of spike counts in bins of ``bin_ms``
(10 ms: the Poisson network's window, the same bins for every network), reported as means of
|r_ij| over all pairs, over pairs in the same population (neurons that share a decoder
direction: the ON and OFF neuron of a pair, and for the cortical network all 2K neurons of a
direction) and over pairs in different populations. Independent neurons give
E|r| = sqrt(2 / pi) / sqrt(B) from B bins, the floor reported beside the means. Silent neurons
(no spike in any bin) have no correlation and are left out.
"""

from __future__ import annotations

import numpy as np

from spiking_mcmc.neural.statistics import binned_counts, isi_cv


def population_labels(num_pairs: int, population_size: int = 1):
    """Population of each of 2P neurons (ON_0..ON_{P-1}, OFF_0..OFF_{P-1}): pairs j K .. j K +
    K - 1 form population j, with their ON and OFF neurons."""
    if num_pairs % population_size:
        raise ValueError(f"{num_pairs} pairs do not split into populations of {population_size}")
    pair_population = np.arange(num_pairs) // int(population_size)
    return np.concatenate([pair_population, pair_population])


def correlation_summary(counts, populations) -> dict:
    """Mean |r| of spike-count correlations over all pairs, within and across populations.

    :param counts: (B, M) counts of M neurons in B bins (several chains' bins stacked).
    :param populations: (M,) population label of each neuron.
    :returns: dict with ``all``, ``within``, ``across`` (means of |r_ij|, i < j; NaN when no
        pair of that kind), the number of each kind of pair, the independent-neuron floor
        sqrt(2/pi)/sqrt(B), and ``active_neurons``.
    """
    counts = np.asarray(counts, dtype=float)
    populations = np.asarray(populations)
    active = counts.std(axis=0) > 0
    x = counts[:, active]
    labels = populations[active]
    num_bins, num_active = x.shape
    result = {"active_neurons": int(num_active), "bins": int(num_bins)}
    result["floor"] = float(np.sqrt(2.0 / np.pi / max(num_bins, 1)))
    if num_active < 2:
        return result | {"all": np.nan, "within": np.nan, "across": np.nan}
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    sums = {"within": 0.0, "across": 0.0}
    pairs = {"within": 0, "across": 0}
    block = max(1, int(2**22 // max(num_active, 1)))  # rows of |r| at a time (bounded memory)
    for start in range(0, num_active, block):
        rows = slice(start, min(start + block, num_active))
        r = np.abs(x[:, rows].T @ x / num_bins)  # (rows, M)
        upper = np.arange(num_active)[None, :] > np.arange(rows.start, rows.stop)[:, None]
        same = labels[rows][:, None] == labels[None, :]
        for kind, mask in (("within", upper & same), ("across", upper & ~same)):
            sums[kind] += float(r[mask].sum())
            pairs[kind] += int(mask.sum())
    total = pairs["within"] + pairs["across"]
    for kind in ("within", "across"):
        result[kind] = sums[kind] / pairs[kind] if pairs[kind] else np.nan
        result[f"{kind}_pairs"] = pairs[kind]
    result["all"] = (sums["within"] + sums["across"]) / total
    return result


def spikes_per_dimension_per_effective_sample(num_spikes, dim, ess):
    """S / (d ESS): spikes the network fires per coordinate for each effective sample."""
    return float(num_spikes) / (float(dim) * float(ess)) if ess > 0 else float("inf")


def network_summary(
    recordings, populations, bin_ms=10.0, start_ms=0.0, other_bins_ms=(50.0, 100.0)
) -> dict:
    """Per-neuron rate, ISI CV and count correlations of several chains' recordings.

    :param recordings: :class:`~spiking_mcmc.neural.recording.Recording` s of one network
        (one per chain; spike times from :meth:`Recording.spikes`).
    :param populations: population label of each neuron (:func:`population_labels`).
    :param start_ms: ignore what happened before this time in every recording.
    :param other_bins_ms: also summarise count correlations in these bins (longer bins see
        more of the shared, slowly varying drive).
    :returns: dict with ``mean_rate_hz``, ``rate_range_hz``, ``isi_cv`` (mean over neurons
        with at least 3 spikes in some chain), ``isi_cv_range``, ``fano`` (mean Fano factor
        of the binned counts), ``correlation`` (:func:`correlation_summary`),
        ``correlation_other_bins`` ({bin_ms: summary}), ``num_spikes``.
    """
    num_neurons = len(populations)
    times_all, neurons_all, trains = [], [], []
    binned = {width: [] for width in (bin_ms, *other_bins_ms)}
    duration = 0.0
    for c, rec in enumerate(recordings):
        times, neurons = rec.spikes(seed=c)
        keep = times >= start_ms
        span = rec.duration_ms - start_ms
        times_all.append(times[keep])
        neurons_all.append(neurons[keep])
        trains.append(np.full(int(keep.sum()), c))
        for width, counts in binned.items():
            counts.append(
                binned_counts(times[keep], neurons[keep], num_neurons, width, span, start_ms)
            )
        duration += span
    times = np.concatenate(times_all)
    neurons = np.concatenate(neurons_all)
    counts_per_neuron = np.bincount(neurons, minlength=num_neurons)
    rates = counts_per_neuron / (duration / 1000.0)
    cv = isi_cv(times, neurons, num_neurons, trains=np.concatenate(trains))
    counts = np.concatenate(binned[bin_ms])
    mean = counts.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fano = np.where(mean > 0, counts.var(axis=0, ddof=1) / mean, np.nan)
    return {
        "num_spikes": int(times.size),
        "duration_ms": float(duration),
        "mean_rate_hz": float(rates.mean()),
        "rate_range_hz": [float(rates.min()), float(rates.max())],
        "isi_cv": float(np.nanmean(cv)) if np.isfinite(cv).any() else float("nan"),
        "isi_cv_range": [float(np.nanmin(cv)), float(np.nanmax(cv))]
        if np.isfinite(cv).any()
        else [float("nan")] * 2,
        "neurons_with_isi": int(np.isfinite(cv).sum()),
        "fano": float(np.nanmean(fano)) if np.isfinite(fano).any() else float("nan"),
        "correlation": correlation_summary(counts, populations),
        "correlation_other_bins": {
            float(width): correlation_summary(np.concatenate(binned[width]), populations)
            for width in other_bins_ms
        },
        "bin_ms": float(bin_ms),
    }
