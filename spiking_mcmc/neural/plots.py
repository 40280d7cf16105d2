"""Figures of the network: raster, rate and ISI statistics, correlations, decoded trajectory.

Each function draws one figure and returns the :class:`matplotlib.figure.Figure` (made without
pyplot, so nothing stays open; ``fig.savefig(path)`` writes it, Jupyter shows it when it is
the cell's value). Neurons are indexed as in :mod:`spiking_mcmc.neural.recording`: j for ON_j, P + j
for OFF_j.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

ON_COLOR = "#c0392b"
OFF_COLOR = "#2471a3"


def raster(recording, times_ms=None, neurons=None, t_max_ms=None, dims=None, seed=0, pairs=None):
    """Spike raster of the ON and OFF neurons with the decoded state beneath it.

    :param recording: a :class:`spiking_mcmc.neural.recording.Recording`.
    :param times_ms, neurons: spike times and neuron indices (default: the recording's own,
        :meth:`~spiking_mcmc.neural.recording.Recording.spikes`: logged crossing times for the
        integrate-and-fire networks, uniform within windows for the Poisson network).
    :param t_max_ms: show the first ``t_max_ms`` milliseconds (default: all).
    :param dims: which coordinates of the decoded state to plot (default: up to 4).
    :param pairs: show only the first ``pairs`` ON/OFF pairs (default: all).

    The decoded state is the network's readout: with a logged trajectory (integrate-and-fire
    networks) it moves at every step and, where a transition is rejected, returns to where the
    transition started; otherwise it jumps at the end of each accepted window.
    """
    if times_ms is None:
        times_ms, neurons = recording.spikes(seed=seed)
    times_ms, neurons = np.asarray(times_ms), np.asarray(neurons)
    num_pairs = recording.num_pairs
    shown_pairs = num_pairs if pairs is None else min(int(pairs), num_pairs)
    pair = np.where(neurons < num_pairs, neurons, neurons - num_pairs)
    ends = recording.window_starts_ms + recording.window_ms
    t_max = float(ends[-1]) if t_max_ms is None else float(t_max_ms)
    shown = (times_ms <= t_max) & (pair < shown_pairs)
    rate = np.sum(times_ms <= t_max) / (t_max / 1000.0) / (2 * num_pairs)
    times_ms, neurons, pair = times_ms[shown], neurons[shown], pair[shown]
    dim = recording.positions.shape[1]
    dims = list(range(min(dim, 4))) if dims is None else list(dims)

    fig = Figure(figsize=(9, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    on = neurons < num_pairs
    # pair j's ON neuron above its OFF neuron, pairs stacked from the top
    row = np.where(on, 2 * pair, 2 * pair + 1)
    marker = dict(marker="|", s=60 if 2 * shown_pairs <= 40 else 20, linewidths=1.2)
    top.scatter(times_ms[on], row[on], color=ON_COLOR, label="ON", **marker)
    top.scatter(times_ms[~on], row[~on], color=OFF_COLOR, label="OFF", **marker)
    top.set_ylim(2 * shown_pairs - 0.5, -0.5)
    if shown_pairs <= 12:
        top.set_yticks(2 * np.arange(shown_pairs) + 0.5, [f"pair {j}" for j in range(shown_pairs)])
    else:
        top.set_ylabel("neuron (ON, OFF of each pair)")
    starts = recording.window_starts_ms
    if np.sum(starts <= t_max) <= 200:
        for start in starts[starts <= t_max][1:]:
            top.axvline(start, color="0.88", lw=0.5, zorder=0)
    for i in np.flatnonzero(~recording.is_accepted & (starts < t_max)):
        top.axvspan(starts[i], starts[i] + recording.window_ms[i], color="0.94", lw=0, zorder=0)
    which = "" if shown_pairs == num_pairs else f" ({2 * shown_pairs} shown)"
    top.set_title(
        f"{2 * num_pairs} neurons{which}, mean {rate:.1f} Hz over {t_max:.0f} ms; "
        f"{'transition' if recording.trajectory_ms is not None else 'window'} "
        f"{np.mean(recording.window_ms):.3g} ms on average",
        pad=12,
    )
    top.legend(loc="upper right", fontsize=8, markerscale=0.8, framealpha=0.9)
    top.text(
        0.0,
        1.0,
        "grey: rejected " + ("transitions" if recording.trajectory_ms is not None else "windows"),
        transform=top.transAxes,
        fontsize=7,
        va="bottom",
        color="0.4",
    )

    path_t, path_x = decoded_path(recording, t_max)
    for i in dims:
        bottom.plot(path_t, path_x[:, i], lw=1.2, label=f"x[{i}]")
    bottom.set_xlabel("time (ms)")
    bottom.set_ylabel("decoded state")
    bottom.legend(loc="upper right", fontsize=8, ncol=min(len(dims), 5))
    bottom.set_xlim(0.0, t_max)
    return fig


def decoded_path(recording, t_max_ms):
    """(times, positions) of the decoded state up to ``t_max_ms``: the logged trajectory of
    every transition, back to its start where it was rejected; or, without a logged
    trajectory, a step function that jumps at the end of each accepted window."""
    starts = recording.window_starts_ms
    ends = starts + recording.window_ms
    if recording.trajectory_ms is None:
        keep = ends <= t_max_ms + 1e-9
        t = np.repeat(np.concatenate([[0.0], ends[keep]]), 2)[1:]
        x = np.repeat(
            np.concatenate([recording.start_positions[:1], recording.positions[keep]]), 2, axis=0
        )[:-1]
        return t, x
    window_of_step = np.searchsorted(ends, recording.trajectory_ms - 1e-9, side="left")
    times, points = [], []
    for i in range(int(np.searchsorted(starts, t_max_ms, side="right"))):
        steps = window_of_step == i
        times.extend([starts[i], *recording.trajectory_ms[steps]])
        points.extend([recording.start_positions[i], *recording.trajectory_positions[steps]])
        if not recording.is_accepted[i]:
            times.append(ends[i])
            points.append(recording.start_positions[i])
    return np.asarray(times), np.asarray(points)


def rate_and_isi_histograms(rates_hz, cv, fano=None, num_pairs=None, bins=20):
    """Histograms of the neurons' firing rates (Hz), ISI CVs and (optionally) Fano factors.

    With ``num_pairs`` the ON (first P) and OFF (last P) neurons are stacked in two colours.
    Dashed lines at CV = 1 and Fano = 1 mark a Poisson process.
    """
    panels = [(np.asarray(rates_hz, float), "firing rate (Hz)", None)]
    panels.append((np.asarray(cv, float), "ISI coefficient of variation", 1.0))
    if fano is not None:
        panels.append((np.asarray(fano, float), "Fano factor of counts", 1.0))
    fig = Figure(figsize=(4.2 * len(panels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, (values, label, poisson) in zip(axes, panels, strict=True):
        finite = np.isfinite(values)
        edges = np.histogram_bin_edges(values[finite], bins=bins)
        if num_pairs is None:
            ax.hist(values[finite], edges, color="0.4")
        else:
            groups = [values[:num_pairs], values[num_pairs:]]
            groups = [g[np.isfinite(g)] for g in groups]
            ax.hist(groups, edges, stacked=True, color=[ON_COLOR, OFF_COLOR], label=["ON", "OFF"])
        mean = np.nanmean(values)
        ax.axvline(mean, color="k", lw=1.2, label=f"mean {mean:.2f}")
        if poisson is not None:
            ax.axvline(poisson, color="k", ls="--", lw=1, label="Poisson")
        ax.set_xlabel(label)
        ax.set_ylabel("neurons")
        ax.legend(fontsize=8)
        missing = int(np.sum(~finite))
        ax.set_title(
            f"{values.size - missing} neurons" + (f" ({missing} silent)" if missing else "")
        )
    return fig


def correlation_scatter(measured, predicted, lags=None, stderr=None, title=None, on_off=True):
    """Measured against predicted spike-count correlations (or covariances), identity line.

    :param measured, predicted: (K + 1, M, M) or (M, M) matrices (row = later window).
    :param lags: which lags to show (default all); lag 0 shows the off-diagonal entries only.
        Colour: lag; filled circles: same-type pairs (ON-ON, OFF-OFF); open triangles: ON-OFF.
    :param on_off: the matrices are over 2P ON/OFF neurons; False: over P pairs (net counts),
        then circles are a pair with itself and triangles two different pairs.
    :param stderr: optional standard errors of ``measured`` (same shape) as error bars.
    """
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    if measured.ndim == 2:
        measured, predicted = measured[None], predicted[None]
    if measured.ndim != 3 or measured.shape[-1] != measured.shape[-2]:
        raise ValueError(f"measured must hold square matrices, got shape {measured.shape}")
    if predicted.shape != measured.shape:
        raise ValueError(f"predicted has shape {predicted.shape}, measured {measured.shape}")
    lags = range(measured.shape[0]) if lags is None else lags
    fig = Figure(figsize=(5.4, 5.2), layout="constrained")
    ax = fig.subplots()
    size = measured.shape[-1]
    num_pairs = size // 2
    if on_off:
        same_sign = np.equal.outer(np.arange(size) < num_pairs, np.arange(size) < num_pairs)
        kinds = ("same type (ON-ON, OFF-OFF)", "opposite (ON-OFF)")
    else:
        same_sign = np.eye(size, dtype=bool)
        kinds = ("same pair", "two pairs")
    colors = ["#17202a", "#d35400", "#1e8449", "#7d3c98", "#2874a6", "#b7950b"]
    everything = []
    for lag in lags:
        color = colors[lag % len(colors)]
        mask = ~np.eye(size, dtype=bool) if lag == 0 else np.ones((size, size), dtype=bool)
        for kind, marker in ((same_sign, "o"), (~same_sign, "^")):
            sel = mask & kind
            x, y = predicted[lag][sel], measured[lag][sel]
            everything.extend([x, y])
            err = None if stderr is None else np.asarray(stderr).reshape(measured.shape)[lag][sel]
            ax.errorbar(
                x,
                y,
                yerr=err,
                fmt=marker,
                color=color,
                ms=5,
                alpha=0.7,
                lw=0.8,
                mfc=color if marker == "o" else "none",
            )
        ax.plot([], [], "s", color=color, label=f"lag {lag}")
    ax.plot([], [], "o", color="0.5", label=kinds[0])
    ax.plot([], [], "^", color="0.5", mfc="none", label=kinds[1])
    values = np.concatenate(everything)
    low, high = float(np.min(values)), float(np.max(values))
    pad = 0.05 * (high - low + 1e-12)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], "k-", lw=1, label="identity")
    ax.axhline(0.0, color="0.85", lw=0.6, zorder=0)
    ax.axvline(0.0, color="0.85", lw=0.6, zorder=0)
    ax.set_xlabel("predicted from W (linear response)")
    ax.set_ylabel("measured")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or "spike-count correlations", fontsize=10)
    return fig


def trajectory_2d(
    positions,
    log_density=None,
    mean=None,
    covariance=None,
    max_points=300,
    start_positions=None,
    title=None,
):
    """Decoded trajectory of a 2-d target over the posterior's contours.

    Contours of ``log_density`` (a function of an (n, 2) array returning (n,) values) or, with
    ``mean`` and ``covariance``, of the Gaussian at 1, 2 and 3 standard deviations. The first
    ``max_points`` windows are drawn as a path (each accepted window is one straight jump).
    """
    positions = np.asarray(positions, float)
    if positions.shape[1] != 2:
        raise ValueError(
            f"trajectory_2d needs a 2-d target, positions have shape {positions.shape}"
        )
    path = positions[:max_points]
    if start_positions is not None:
        path = np.vstack([np.asarray(start_positions, float)[:1], path])
    fig = Figure(figsize=(5.6, 5), layout="constrained")
    ax = fig.subplots()
    lo = np.minimum(positions.min(0), path.min(0))
    hi = np.maximum(positions.max(0), path.max(0))
    pad = 0.15 * (hi - lo)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
    z = None
    if log_density is not None:
        z = np.asarray(log_density(grid), float).reshape(xx.shape)
        z = z - np.nanmax(z)
    elif mean is not None and covariance is not None:
        diff = grid - np.asarray(mean, float)
        maha = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(covariance), diff).reshape(xx.shape)
        z = -maha / 2
    if z is not None:
        # log density 0.5, 2, 4.5 below the mode: the 1, 2, 3 sd ellipses of a Gaussian
        ax.contourf(xx, yy, z, levels=[-4.5, -2.0, -0.5, 0.0], colors=["0.93", "0.86", "0.78"])
        ax.contour(
            xx,
            yy,
            z,
            levels=[-4.5, -2.0, -0.5],
            colors="k",
            linewidths=1.0,
            linestyles="solid",
            alpha=0.7,
            zorder=4,
        )
    ax.plot(
        positions[:, 0],
        positions[:, 1],
        ".",
        color="0.5",
        ms=2,
        alpha=0.35,
        zorder=1,
        label="all draws",
    )
    ax.plot(path[:, 0], path[:, 1], "-", color="#1f618d", lw=0.8, alpha=0.7, zorder=2)
    points = ax.scatter(
        path[:, 0], path[:, 1], c=np.arange(len(path)), cmap="viridis", s=14, zorder=3
    )
    fig.colorbar(points, ax=ax, label="window", shrink=0.8)
    ax.plot(*path[0], "o", mfc="none", mec="k", ms=10, label="start")
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    if z is not None:
        ax.plot([], [], "k-", lw=1.0, alpha=0.7, label="posterior 1, 2, 3 sd")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or f"decoded state: {len(path)} windows (path), {len(positions)} (dots)")
    return fig
