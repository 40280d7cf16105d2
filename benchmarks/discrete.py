"""Discrete latent sites (issue 16): the spiking kernel beside NumPyro's DiscreteHMCGibbs and
MixedHMC on posteriors with exact answers (enumeration).

    python benchmarks/discrete.py            # full size: 4 chains, 1000 warmup, 4000 draws
    python benchmarks/discrete.py --num-samples 1000 --models boltzmann_machine_16

Methods (every one through its own ``init`` / ``sample``, chains one after another):

    spiking              SpikingKernel(model), default settings
    spiking-vectorized   the same, the four chains at once (``spiking_mcmc.timing.timed_run``:
                         vectorised chains, one timed run)
    spiking-synchronous  the same with every unit stepping at once (NOT exact: the negative
                         control; it must fail the check on coupled units)
    discrete-hmc-gibbs   DiscreteHMCGibbs(NUTS(model)); DiscreteGibbs(model) when the model has
                         no continuous site
    mixed-hmc            MixedHMC(HMC(model, trajectory_length=1.2), num_discrete_updates=20)
                         (needs a continuous site)

The check (the issue's "done when"): every reference quantity (posterior probabilities of the
discrete sites, means of the continuous ones) within 4 MCSE of the exact answer, sds within 10%
for quantities that are not 0/1 indicators (an indicator's sd is fixed by its mean), bulk
ESS >= 400 and split R-hat <= 1.01 for every quantity. Time: wall time of warmup and sampling
of all chains (the fastest of 3 repeats: the machine is shared), in loops compiled ahead of
time (as ``spiking_mcmc.timing.timed_run``, which cannot drive NumPyro's Gibbs kernels: they
take one key at a time); compilation is reported apart. ESS per second = min bulk ESS / that
time; spikes per effective sample = all spikes of the sampling phase (continuous network and
discrete units) / min bulk ESS.
Results: ``<out>/results.json`` (with the machine) and ``<out>/table.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # noqa: E402
from models.registry import DISCRETE  # noqa: E402

METHODS = (
    "spiking",
    "spiking-vectorized",
    "spiking-synchronous",
    "discrete-hmc-gibbs",
    "mixed-hmc",
)
OUT = Path(__file__).parent / "results" / "discrete" / "cpu"
Z_MAX, SD_TOL, MIN_ESS, MAX_RHAT = 4.0, 0.10, 400.0, 1.01


def machine() -> dict:
    """Where the numbers were measured."""
    import arviz
    import numpyro

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax_devices": [str(d) for d in jax.devices()],
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpyro": numpyro.__version__,
        "arviz": arviz.__version__,
    }


def has_continuous_site(posterior) -> bool:
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(posterior.model, 0)).get_trace(
        *posterior.args, **posterior.kwargs
    )
    return any(
        site["type"] == "sample" and not site["is_observed"] and not site["fn"].support.is_discrete
        for site in trace.values()
    )


def kernel_for(method: str, posterior):
    """The NumPyro kernel of ``method`` on ``posterior``, or None when it does not apply."""
    from numpyro.infer import HMC, NUTS, DiscreteGibbs, DiscreteHMCGibbs, MixedHMC

    from spiking_mcmc import SpikingKernel

    continuous = has_continuous_site(posterior)
    if method in ("spiking", "spiking-vectorized"):
        return SpikingKernel(posterior.model)
    if method == "spiking-synchronous":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SpikingKernel(posterior.model, discrete={"update": "synchronous"})
    if method == "discrete-hmc-gibbs":
        if continuous:
            return DiscreteHMCGibbs(NUTS(posterior.model))
        return DiscreteGibbs(posterior.model)
    if method == "mixed-hmc":
        if not continuous:
            return None
        return MixedHMC(HMC(posterior.model, trajectory_length=1.2), num_discrete_updates=20)
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def run(kernel, posterior, key, num_warmup, num_samples, num_chains, fields=(), repeats=3):
    """Chains one after another through the kernel's own ``init`` / ``sample``, in loops
    compiled ahead of time (compilation timed apart, once); NumPyro's Gibbs kernels take one
    key at a time, so every method runs this way. Each chain's warmup and sampling run
    ``repeats`` times from the same state (the same draws) and the fastest counts: the machine
    is shared. Returns (samples (chain, draw, ...), fields (chain, draw, ...), seconds of
    warmup and sampling, compile seconds)."""
    from numpyro.util import nested_attrgetter

    from spiking_mcmc.timing import compile_ahead, time_call

    args, kwargs = posterior.args, posterior.kwargs
    sample_field = kernel.sample_field

    def warmup(state):
        return jax.lax.fori_loop(0, num_warmup, lambda _, s: kernel.sample(s, args, kwargs), state)

    def sample(state):
        def body(state, _):
            state = kernel.sample(state, args, kwargs)
            extra = nested_attrgetter(*fields)(state) if fields else ()
            extra = extra if len(fields) != 1 else (extra,)
            return state, (getattr(state, sample_field), dict(zip(fields, extra, strict=True)))

        return jax.lax.scan(body, state, None, length=num_samples)

    compiled, compile_s, seconds = None, 0.0, 0.0
    draws, extras = [], []
    for key_chain in jax.random.split(key, num_chains):
        state = kernel.init(key_chain, num_warmup, None, args, kwargs)
        if compiled is None:
            warmup_fn, warmup_compile = compile_ahead(warmup, state)
            state_after, _ = time_call(warmup_fn, state)
            sample_fn, sample_compile = compile_ahead(sample, state_after)
            compiled, compile_s = (warmup_fn, sample_fn), warmup_compile + sample_compile
        best = np.inf
        for _ in range(repeats):
            warm, warmup_s = time_call(compiled[0], state)
            (last, (z, extra)), sampling_s = time_call(compiled[1], warm)
            best = min(best, warmup_s + sampling_s)
        seconds += best
        constrain = kernel.postprocess_fn(args, kwargs)
        draws.append(jax.vmap(constrain)(z))
        extras.append(extra)
    samples = {k: np.stack([np.asarray(d[k]) for d in draws]) for k in draws[0]}
    samples = with_deterministic(posterior, samples)
    extra = {k: np.stack([np.asarray(e[k]) for e in extras]) for k in extras[0]}
    return samples, extra, seconds, compile_s


def with_deterministic(posterior, samples: dict) -> dict:
    """Add the model's deterministic sites where a kernel's samples lack them (NumPyro's
    standalone DiscreteGibbs returns the latent sites only): replay the model at each draw."""
    from numpyro import handlers

    def replay(z):
        model = handlers.substitute(handlers.seed(posterior.model, 0), data=z)
        trace = handlers.trace(model).get_trace(*posterior.args, **posterior.kwargs)
        return {k: v["value"] for k, v in trace.items() if v["type"] == "deterministic"}

    first = jax.tree.map(lambda x: x[0, 0], samples)
    if set(replay(first)) <= set(samples):
        return samples
    return {**jax.vmap(jax.vmap(replay))(samples), **samples}


def check(posterior, samples: dict) -> dict:
    """The exactness check of every reference quantity, and the summary numbers."""
    import arviz as az

    draws = posterior.stan_draws(samples)
    result = models.compare(draws, posterior.reference, Z_MAX, np.inf)
    rows, ok = [], True
    for p in result.params:
        x = np.asarray(draws[p.name], float)
        indicator = bool(np.isin(x, (0.0, 1.0)).all())
        rhat = float(az.rhat(x))
        ess_tail = float(az.ess(x, method="tail", prob=0.05)) if not indicator else float("nan")
        sd_ok = indicator or abs(p.sd_ratio - 1.0) <= SD_TOL
        passed = bool(abs(p.z) <= Z_MAX and sd_ok and p.ess_bulk >= MIN_ESS and rhat <= MAX_RHAT)
        ok &= passed
        rows.append(
            {
                "name": p.name,
                "mean": p.mean,
                "ref_mean": p.ref_mean,
                "z": p.z,
                "sd_ratio": p.sd_ratio,
                "indicator": indicator,
                "ess_bulk": p.ess_bulk,
                "ess_tail": ess_tail,
                "rhat": rhat,
                "passed": passed,
            }
        )
    continuous = [r for r in rows if not r["indicator"]]
    return {
        "passed": bool(ok),
        "max_abs_z": max(abs(r["z"]) for r in rows),
        "max_sd_error": max((abs(r["sd_ratio"] - 1) for r in continuous), default=0.0),
        "min_ess_bulk": min(r["ess_bulk"] for r in rows),
        "max_rhat": max(r["rhat"] for r in rows),
        "num_quantities": len(rows),
        "failures": [r["name"] for r in rows if not r["passed"]][:12],
        "quantities": rows,
    }


def bench_one(name, method, key, num_warmup, num_samples, num_chains, repeats=3) -> dict | None:
    posterior = models.load(name)
    kernel = kernel_for(method, posterior)
    if kernel is None:
        return None
    spiking = method.startswith("spiking")
    fields = ("num_spikes", "discrete.num_spikes", "discrete.changed") if spiking else ()
    load_before = os.getloadavg()[0]
    if method == "spiking-vectorized":
        from spiking_mcmc.timing import timed_run

        timed = timed_run(
            kernel,
            key,
            num_warmup,
            num_samples,
            num_chains,
            posterior.args,
            posterior.kwargs,
            fields=fields[:1],
        )
        samples, seconds = timed.samples, timed.warmup_s + timed.sampling_s
        extra, compile_s = timed.fields, timed.compile_s
    else:
        samples, extra, seconds, compile_s = run(
            kernel, posterior, key, num_warmup, num_samples, num_chains, fields, repeats
        )
    load = (load_before, os.getloadavg()[0])
    record = check(posterior, samples)
    record.update(
        model=name,
        method=method,
        seconds=seconds,
        compile_s=compile_s,
        ess_per_second=record["min_ess_bulk"] / seconds,
        num_chains=num_chains,
        num_warmup=num_warmup,
        num_samples=num_samples,
        load_average=load,
    )
    if spiking:
        spikes = float(np.sum(extra["num_spikes"], dtype=np.int64))
        record.update(spikes=spikes, spikes_per_ess=spikes / record["min_ess_bulk"])
    if "discrete.num_spikes" in extra:
        discrete_spikes = float(np.sum(extra["discrete.num_spikes"], dtype=np.int64))
        record.update(
            discrete_spikes=discrete_spikes,
            discrete_spikes_per_ess=discrete_spikes / record["min_ess_bulk"],
            changed=float(np.mean(extra["discrete.changed"])),
        )
    return record


def table(records) -> str:
    head = (
        "| posterior | method | passed | max abs z | max sd error | min ESS | max R-hat | "
        "s (warmup + sampling) | ESS/s | spikes per ESS |\n" + "|---" * 10 + "|"
    )
    lines = [head]
    for r in records:
        spikes = f"{r['spikes_per_ess']:.0f}" if "spikes_per_ess" in r else "-"
        status = "yes" if r["passed"] else "no (" + ", ".join(r["failures"][:3]) + ")"
        lines.append(
            f"| {r['model']} | {r['method']} | {status} | {r['max_abs_z']:.2f} | "
            f"{r['max_sd_error']:.3f} | {r['min_ess_bulk']:.0f} | {r['max_rhat']:.3f} | "
            f"{r['seconds']:.1f} | {r['ess_per_second']:.0f} | {spikes} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(DISCRETE))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--num-warmup", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=4000)
    parser.add_argument("--num-chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest counts")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    records = []
    for name in args.models.split(","):
        for method in args.methods.split(","):
            key = jax.random.PRNGKey(args.seed)
            record = bench_one(
                name, method, key, args.num_warmup, args.num_samples, args.num_chains, args.repeats
            )
            if record is None:
                print(f"{name:24s} {method:20s} does not apply", flush=True)
                continue
            records.append(record)
            print(
                f"{name:24s} {method:20s} passed={record['passed']} z={record['max_abs_z']:.2f}"
                f" ess={record['min_ess_bulk']:.0f} rhat={record['max_rhat']:.3f}"
                f" {record['seconds']:.1f}s ess/s={record['ess_per_second']:.0f}"
                f" failures={record['failures'][:4]}",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    summary = [{k: v for k, v in r.items() if k != "quantities"} for r in records]
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "settings": vars(args) | {"out": str(args.out)},
                "records": records,
            },
            indent=1,
            default=float,
        )
    )
    (args.out / "table.md").write_text(table(summary) + "\n")
    print(table(summary))


if __name__ == "__main__":
    main()
