"""A run's record: efficiency (spiking_mcmc.diagnostics), exactness against the reference, and
posterior error against time.

    conservative ESS = min over parameters of min(ESS_bulk, ESS_tail, ESS_bulk of (x - mean)^2)
    ESS per gradient = conservative ESS / sampling gradients
    ESS per second   = conservative ESS / (warmup + sampling seconds)   (compilation apart)
    standardised mean error = |mean - ref_mean| / ref_sd;  sd error = |sd / ref_sd - 1|
    exact <=> every |z| <= 4 (MCSE units), every sd error <= 10%, and split R-hat <= 1.01

The parameters are the reference's (Stan's names). Every MCMC method gets the same record from
the same functions, whatever library ran it.
"""

from __future__ import annotations

import numpy as np

from models import compare
from spiking_mcmc.diagnostics import MAX_RHAT


def reference_check(draws: dict, reference: dict, max_rhat: float | None) -> dict:
    """Agreement of ``draws`` {name: (chain, draw)} with the reference summary."""
    check = compare(draws, reference)
    standardized = [abs(p.mean - p.ref_mean) / p.ref_sd for p in check.params]
    mixed = max_rhat is None or max_rhat <= MAX_RHAT
    return {
        "max_abs_z": float(check.max_abs_z),
        "max_sd_error": float(check.max_sd_error),
        "max_standardized_mean_error": float(max(standardized)),
        "passed": bool(check.passed and mixed),
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


def error_curve(draws: dict, reference: dict, warmup_s, sampling_s, fractions) -> list:
    """[seconds, mean error, sd error] after each fraction of the draws, the time counting
    warmup and that fraction of sampling (draws are (chain, draw))."""
    num_draws = np.asarray(next(iter(draws.values()))).shape[1]
    curve = []
    for fraction in fractions:
        n = max(2, int(round(fraction * num_draws)))
        prefix = {k: np.asarray(v)[:, :n] for k, v in draws.items()}
        curve.append([warmup_s + sampling_s * n / num_draws, *error_of(prefix, reference)])
    return curve


def mcmc_record(run, posterior, fractions) -> dict:
    """The record of an MCMC run (a :class:`spiking_mcmc.timing.TimedRun`) on ``posterior``."""
    from spiking_mcmc.compare import summarize

    draws = posterior.stan_draws(run.samples)
    record = summarize(run._replace(samples=draws))
    record.update(reference_check(draws, posterior.reference, record["max_rhat"]))
    if "num_spikes" in run.fields:
        spikes = float(np.sum(run.fields["num_spikes"]))
        record["spikes_per_draw"] = spikes / run.fields["num_spikes"].size
    if "biological_time_ms" in run.fields:
        ms = float(np.sum(run.fields["biological_time_ms"]))
        ess = record["conservative_ess"]
        record["biological_ms_per_ess"] = ms / ess if ess else None
    record["error_curve"] = error_curve(
        draws, posterior.reference, run.warmup_s, run.sampling_s, fractions
    )
    return record
