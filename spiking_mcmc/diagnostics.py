"""Effective sample sizes that antithetic draws cannot inflate, and the other yardsticks.

    conservative ESS = min over parameters of min(ESS_bulk(x), ESS_tail(x), ESS_bulk((x - mean)^2))

ESS_bulk and ESS_tail are ArviZ's rank-normalised split-chain estimates (Vehtari et al. 2021;
tail: the smaller ESS of the 5% and 95% quantile indicators). A sampler whose successive draws
are anti-correlated (NUTS's U-turns on a near-Gaussian) can report a bulk ESS of the mean above
the number of draws; that helps estimates of means and nothing else. The squared deviations
and the tails see variances and quantiles, so the smallest of the three is the number of
independent draws a user can count on for any summary.
"""

from __future__ import annotations

import numpy as np

MAX_RHAT = 1.01  # split R-hat above this: the chains have not mixed


def scalar_draws(samples: dict) -> dict:
    """{``site[i,j]`` (1-based, Stan's names): (chain, draw)} from {site: (chain, draw, ...)}."""
    draws = {}
    for site, value in samples.items():
        value = np.asarray(value)
        if value.ndim < 2 or not np.issubdtype(value.dtype, np.number):
            continue
        event = value.shape[2:]
        if not event:
            draws[site] = value
            continue
        for index in np.ndindex(*event):
            name = f"{site}[{','.join(str(i + 1) for i in index)}]"
            draws[name] = value[(slice(None), slice(None)) + index]
    return draws


def _stack(draws: dict):
    return np.stack([np.asarray(x, dtype=np.float64) for x in draws.values()], axis=-1)


def efficiency(draws: dict) -> dict:
    """Minimum bulk, tail and squared-deviation ESS over ``draws`` {name: (chain, draw)}, their
    minimum (``conservative_ess``) and the largest split R-hat (None for one chain)."""
    import arviz as az

    x = _stack(draws)  # (chain, draw, parameter)
    bulk = np.atleast_1d(az.ess(x, method="bulk"))
    tail = np.atleast_1d(az.ess(x, method="tail", prob=0.05))
    squared = np.atleast_1d(az.ess((x - x.mean(axis=(0, 1))) ** 2, method="bulk"))
    rhat = np.atleast_1d(az.rhat(x)) if x.shape[0] > 1 else None
    smallest = [float(np.nanmin(v)) if np.isfinite(v).any() else 0.0 for v in (bulk, tail, squared)]
    return {
        "min_ess_bulk": smallest[0],
        "median_ess_bulk": float(np.nanmedian(bulk)) if np.isfinite(bulk).any() else 0.0,
        "min_ess_tail": smallest[1],
        "min_ess_squared": smallest[2],
        "conservative_ess": min(smallest),
        "max_rhat": None if rhat is None else float(np.nanmax(rhat)),
    }


def agreement(draws: dict, reference: dict) -> dict:
    """How far two runs' summaries are apart: the largest |mean - mean_ref| / sqrt(MCSE^2 +
    MCSE_ref^2) and the largest |sd / sd_ref - 1| over the parameters both runs have."""
    import arviz as az

    z, sd_error = [], []
    for name, value in draws.items():
        if name not in reference:
            continue
        a, b = (np.asarray(v, dtype=np.float64) for v in (value, reference[name]))
        scale = np.hypot(float(az.mcse(a, method="mean")), float(az.mcse(b, method="mean")))
        difference = abs(a.mean() - b.mean())
        z.append(difference / scale if scale > 0 else (0.0 if difference == 0 else np.inf))
        sd_b = b.std(ddof=1)
        sd_error.append(abs(a.std(ddof=1) / sd_b - 1.0) if sd_b > 0 else 0.0)
    return {
        "max_abs_z": float(max(z, default=0.0)),
        "max_sd_error": float(max(sd_error, default=0.0)),
    }


def decorrelation_time(whitened, grid_ms: float) -> float:
    """First lag (ms) at which the mean autocorrelation of whitened draws falls below 1/e.

    rho(tau) = mean_{t, c, i} z_{t+tau, c, i} z_{t, c, i} / mean z^2, z = L^-1 (x - mu) with the
    true mean and covariance, on a time grid of ``grid_ms`` ((T, C, d): time, chain,
    coordinate); linear interpolation between grid points; NaN if it never does.
    """
    z = np.asarray(whitened, dtype=float)
    steps = z.shape[0]
    power = np.mean(z * z)
    threshold = np.exp(-1.0)
    previous = 1.0
    for lag in range(1, steps // 2):
        current = float(np.mean(z[lag:] * z[:-lag]) / power)
        if current < threshold:
            return float(grid_ms * (lag - 1 + (previous - threshold) / (previous - current)))
        previous = current
    return float("nan")
