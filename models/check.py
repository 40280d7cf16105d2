"""Compare posterior draws with a reference summary: one definition of "exact".

    z = (mean - ref_mean) / sqrt(MCSE^2 + MCSE_ref^2),   sd_ratio = sd / ref_sd
    pass  <=>  |z| <= z_max (4)  and  |sd_ratio - 1| <= sd_tol (0.10)

MCSE is ArviZ's Monte-Carlo standard error of the mean (from its bulk ESS) of the draws,
MCSE_ref = ref_sd / sqrt(ref_ess) for posteriordb's 10,000 nearly independent draws (0 for
analytic references). Draws are arrays of shape (chain, draw).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

Z_MAX = 4.0
SD_TOL = 0.10


class ParamCheck(NamedTuple):
    name: str
    mean: float
    ref_mean: float
    mcse: float
    z: float
    sd: float
    ref_sd: float
    sd_ratio: float
    ess_bulk: float
    passed: bool


class CheckResult(NamedTuple):
    params: list[ParamCheck]

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.params)

    @property
    def max_abs_z(self) -> float:
        return max(abs(p.z) for p in self.params)

    @property
    def max_sd_error(self) -> float:
        return max(abs(p.sd_ratio - 1.0) for p in self.params)

    def failures(self) -> list[ParamCheck]:
        return [p for p in self.params if not p.passed]

    def table(self) -> str:
        lines = [f"{'parameter':<16}{'mean':>11}{'ref':>11}{'z':>8}{'sd ratio':>10}{'ess':>8}  ok"]
        for p in self.params:
            lines.append(
                f"{p.name:<16}{p.mean:>11.4g}{p.ref_mean:>11.4g}{p.z:>8.2f}"
                f"{p.sd_ratio:>10.3f}{p.ess_bulk:>8.0f}  {'yes' if p.passed else 'NO'}"
            )
        return "\n".join(lines)


def compare(
    draws: dict[str, np.ndarray],
    reference: dict[str, dict[str, float]],
    z_max: float = Z_MAX,
    sd_tol: float = SD_TOL,
    sd_z_max: float | None = None,
) -> CheckResult:
    """Check every reference parameter's mean (in MCSE units) and sd against ``draws``.

    ``sd_z_max``: also require |sd - ref_sd| <= sd_z_max MCSE(sd) (ArviZ's, from the draws),
    a threshold from Monte-Carlo error that long runs make stricter than ``sd_tol`` (for the
    tests: a sampler biased by a few percent fails it, where 10% lets it pass)."""
    import arviz as az

    params = []
    for name, ref in reference.items():
        if name not in draws:
            raise KeyError(f"draws lack reference parameter {name!r}")
        x = np.asarray(draws[name], dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise ValueError(f"draws of {name!r} must have shape (chain, draw); got {x.shape}")
        mean = float(x.mean())
        sd = float(x.std(ddof=1))
        ess = float(az.ess(x, method="bulk"))
        mcse = float(az.mcse(x, method="mean"))
        n_ref = ref.get("n_draws")
        ref_mcse = ref["sd"] / np.sqrt(n_ref) if n_ref else 0.0
        scale = np.sqrt(mcse**2 + ref_mcse**2)
        z = (mean - ref["mean"]) / scale if scale > 0 else np.inf * np.sign(mean - ref["mean"])
        sd_ratio = sd / ref["sd"]
        passed = bool(np.isfinite(z) and abs(z) <= z_max and abs(sd_ratio - 1.0) <= sd_tol)
        if sd_z_max is not None:
            sd_mcse = float(az.mcse(x, method="sd"))
            ref_sd_mcse = ref["sd"] / np.sqrt(2.0 * n_ref) if n_ref else 0.0
            sd_scale = np.hypot(sd_mcse, ref_sd_mcse)
            passed = passed and bool(abs(sd - ref["sd"]) <= sd_z_max * sd_scale)
        params.append(
            ParamCheck(
                name, mean, ref["mean"], mcse, float(z), sd, ref["sd"], sd_ratio, ess, passed
            )
        )
    return CheckResult(params)
