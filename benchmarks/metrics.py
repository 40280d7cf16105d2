"""Sampler metrics, one estimator for every method (ArviZ's).

ESS_bulk, ESS_tail (rank-normalised, split chains), split R-hat;  per gradient: min ESS / G
standardised mean error = |mean - ref_mean| / ref_sd;  sd error = |sd / ref_sd - 1|
"""

from __future__ import annotations

import numpy as np

from models import compare

MAX_RHAT = 1.01


def ess_bulk(draws):
    import arviz as az

    return float(az.ess(np.asarray(draws, dtype=np.float64), method="bulk"))


def ess_tail(draws):
    """Tail ESS: the smaller ESS of the 5% and 95% quantile indicators (Vehtari et al. 2021)."""
    import arviz as az

    x = np.asarray(draws, dtype=np.float64)
    return float(min(az.ess(x, method="tail", prob=p) for p in (0.05, 0.95)))


def rhat(draws):
    import arviz as az

    return float(az.rhat(np.asarray(draws, dtype=np.float64)))


def summarize(draws: dict, reference: dict) -> dict:
    """Per-run metrics over the reference parameters; ``draws`` maps name -> (chain, draw)."""
    check = compare(draws, reference)
    bulk = [p.ess_bulk for p in check.params]
    tails = [ess_tail(draws[name]) for name in reference]
    rhats = [rhat(draws[name]) for name in reference] if _num_chains(draws) > 1 else [np.nan]
    standardized = [abs(p.mean - p.ref_mean) / p.ref_sd for p in check.params]
    return {
        "min_ess_bulk": float(min(bulk)),
        "median_ess_bulk": float(np.median(bulk)),
        "min_ess_tail": float(min(tails)),
        "max_rhat": float(np.nanmax(rhats)) if np.isfinite(rhats).any() else None,
        "max_abs_z": float(check.max_abs_z),
        "max_sd_error": float(check.max_sd_error),
        "max_standardized_mean_error": float(max(standardized)),
        # DESIGN's "exact": means within 4 MCSE, sds within 10%, and split R-hat <= 1.01
        "passed": bool(check.passed and (_num_chains(draws) == 1 or max(rhats) <= MAX_RHAT)),
        "failed_params": [p.name for p in check.failures()],
    }


def error_of(draws: dict, reference: dict) -> tuple[float, float]:
    """(max standardised mean error, max |sd ratio - 1|) of any draws, without MCSE."""
    errors, sds = [], []
    for name, ref in reference.items():
        x = np.asarray(draws[name], dtype=np.float64).ravel()
        errors.append(abs(x.mean() - ref["mean"]) / ref["sd"])
        sds.append(abs(x.std(ddof=1) / ref["sd"] - 1.0))
    return float(max(errors)), float(max(sds))


def _num_chains(draws):
    return np.asarray(next(iter(draws.values()))).shape[0]
