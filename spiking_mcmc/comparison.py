"""Put a user's model beside NUTS: the spiking kernel and NumPyro's NUTS on the same model,
same chains, same machine, timed and judged by the same yardsticks.

    >>> from spiking_mcmc import compare
    >>> result = compare(model, data, num_warmup=1000, num_samples=1000)
    >>> print(result)                      # a table; result.records holds the numbers

    efficiency per gradient = conservative ESS / sampling gradients
    efficiency per second   = conservative ESS / (warmup + sampling seconds)   (compilation apart)

The conservative ESS is :func:`spiking_mcmc.diagnostics.efficiency`'s: the smallest over the
model's latent parameters of bulk, tail and squared-deviation ESS. Agreement is the largest
difference of a posterior mean between the spiking run and NUTS's in Monte-Carlo standard
errors (both runs' errors), and the largest sd ratio: at 4 and 10% two exact samplers agree.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from spiking_mcmc import diagnostics
from spiking_mcmc.timing import TimedRun, timed_run

DENSE_UP_TO = 64  # the default metric is dense up to this many unconstrained dimensions


def _ratio(numerator, denominator):
    return None if not denominator or numerator is None else numerator / denominator


def summarize(run: TimedRun, sites=None) -> dict:
    """One run's record: ESS (conservative and its parts), per gradient and per second."""
    samples = run.samples if sites is None else {k: run.samples[k] for k in sites}
    draws = diagnostics.scalar_draws(samples)
    record = diagnostics.efficiency(draws)
    ess = record["conservative_ess"]
    total_s = run.warmup_s + run.sampling_s
    record.update(
        grad_evals=run.grad_evals,
        warmup_grad_evals=run.warmup_grad_evals,
        warmup_s=run.warmup_s,
        sampling_s=run.sampling_s,
        compile_s=run.compile_s,
        ess_per_grad=_ratio(ess, run.grad_evals),
        ess_per_total_grad=_ratio(ess, run.grad_evals + run.warmup_grad_evals),
        ess_per_s=_ratio(ess, total_s),
        ess_per_sampling_s=_ratio(ess, run.sampling_s),
        divergences=int(np.sum(run.fields.get("diverging", 0))),
        mean_accept_prob=float(np.mean(run.fields["accept_prob"])),
    )
    if "num_spikes" in run.fields:
        record["spikes_per_ess"] = _ratio(float(np.sum(run.fields["num_spikes"])), ess)
    return record


class Comparison(NamedTuple):
    """The records of every method (``records[name]``) and NUTS's draws' agreement."""

    records: dict
    runs: dict

    def ratio(self, method: str, key: str, to: str = "nuts"):
        """``records[method][key] / records[to][key]``."""
        return _ratio(self.records[method].get(key), self.records[to].get(key))

    def table(self) -> str:
        head = (
            f"{'method':<22}{'ESS':>8}{'ESS/grad':>10}{'xNUTS':>7}{'ESS/s':>10}{'xNUTS':>7}"
            f"{'warmup s':>9}{'sample s':>9}{'compile s':>10}{'R-hat':>7}{'|z|':>6}{'sd err':>7}"
        )
        lines = [head]
        for name, r in self.records.items():

            def cell(value, spec, width):
                return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"

            lines.append(
                f"{name:<22}{r['conservative_ess']:>8.0f}"
                + cell(r["ess_per_grad"], ".4f", 10)
                + cell(self.ratio(name, "ess_per_grad"), ".2f", 7)
                + cell(r["ess_per_s"], ".1f", 10)
                + cell(self.ratio(name, "ess_per_s"), ".2f", 7)
                + f"{r['warmup_s']:>9.2f}{r['sampling_s']:>9.2f}{r['compile_s']:>10.1f}"
                + cell(r["max_rhat"], ".3f", 7)
                + cell(r.get("max_abs_z"), ".1f", 6)
                + cell(r.get("max_sd_error"), ".3f", 7)
            )
        lines.append(
            "ESS: min over parameters of bulk, tail and squared-deviation ESS; ESS/s counts "
            "warmup + sampling (compilation apart); |z|, sd err: agreement with NUTS"
        )
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _fields(kernel) -> tuple:
    spikes = ("num_spikes",) if "num_spikes" in kernel.default_fields else ()
    return ("accept_prob", "diverging", *spikes)


def _dimension(model, model_args, model_kwargs) -> int:
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    info = initialize_model(
        jax.random.PRNGKey(0), model, model_args=model_args, model_kwargs=model_kwargs
    )
    return int(ravel_pytree(info.param_info.z)[0].size)


def compare(
    model,
    *model_args,
    model_kwargs=None,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    num_chains: int = 4,
    seed: int = 0,
    dense_mass: bool | None = None,
    spiking: dict | None = None,
    nuts: dict | None = None,
    more_kernels: dict | None = None,
) -> Comparison:
    """Run ``SpikingKernel(model, **spiking)`` and ``NUTS(model, **nuts)`` on the same data.

    :param dense_mass: both samplers' metric; None: dense up to 64 unconstrained dimensions.
    :param spiking: options of :class:`~spiking_mcmc.SpikingKernel`.
    :param nuts: options of ``numpyro.infer.NUTS``.
    :param more_kernels: further NumPyro kernels to run beside them, by name (e.g.
        ``{"poisson": SpikingKernel(model, dynamics="poisson")}``).
    """
    from numpyro.infer import NUTS

    from spiking_mcmc.kernel import SpikingKernel

    model_kwargs = {} if model_kwargs is None else model_kwargs
    if dense_mass is None:
        dense_mass = _dimension(model, model_args, model_kwargs) <= DENSE_UP_TO
    kernels = {
        "nuts": NUTS(model, **{"dense_mass": dense_mass, **(nuts or {})}),
        "spiking": SpikingKernel(model, **{"dense_mass": dense_mass, **(spiking or {})}),
        **(more_kernels or {}),
    }
    key = jax.random.PRNGKey(seed)
    runs = {
        name: timed_run(
            kernel,
            key,
            num_warmup,
            num_samples,
            num_chains,
            model_args,
            model_kwargs,
            fields=_fields(kernel),
        )
        for name, kernel in kernels.items()
    }
    sites = list(runs["nuts"].last_state.z)
    reference = diagnostics.scalar_draws({k: runs["nuts"].samples[k] for k in sites})
    records = {}
    for name, run in runs.items():
        records[name] = summarize(run, sites)
        if name != "nuts":
            draws = diagnostics.scalar_draws({k: run.samples[k] for k in sites})
            records[name].update(diagnostics.agreement(draws, reference))
    return Comparison(records, runs)
