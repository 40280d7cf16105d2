"""Run (model, method) pairs, write each result as soon as it is done, resume after a stop."""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

from benchmarks import methods as m


def machine() -> dict:
    import jax
    import numpyro

    import spiking_mcmc

    try:
        import arviz

        arviz_version = arviz.__version__
    except Exception:  # noqa: BLE001 - a missing version string must not stop a benchmark
        arviz_version = "unknown"
    device = jax.devices()[0]
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": __import__("os").cpu_count(),
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpyro": numpyro.__version__,
        "arviz": arviz_version,
        "spiking_mcmc": spiking_mcmc.__version__,
    }


def load_results(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"records": []}


def save_results(path: Path, results: dict):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    tmp.replace(path)  # atomic: an interrupted write never leaves a broken file


def run(model_names, method_names, settings: m.Settings, out: Path, resume=False, progress=True):
    """Benchmark every (model, method) pair; returns the results dict (also in out/results.json)."""
    from tqdm.auto import tqdm

    import models

    out.mkdir(parents=True, exist_ok=True)
    (out / "posteriors").mkdir(exist_ok=True)
    path = out / "results.json"
    results = load_results(path) if resume else {"records": []}
    results["machine"] = machine()
    results["settings"] = dataclasses.asdict(settings)
    results["timing"] = m.TIMING_METHOD
    done = {(r["model"], r["method"]) for r in results["records"]}
    pairs = [(a, b) for a in model_names for b in method_names if (a, b) not in done]
    bar = tqdm(pairs, disable=not progress, desc="bench", unit="run")
    for model_name, method in bar:
        bar.set_postfix_str(f"{model_name} / {method}")
        posterior = models.load(model_name)
        start = time.perf_counter()
        try:
            runner = m.run_vi if method in m.VI_METHODS else m.run_mcmc
            record, idata = runner(method, posterior, settings)
            idata.to_netcdf(out / "posteriors" / f"{model_name}__{method}.nc")
        except Exception as error:  # noqa: BLE001 - one failing pair must not lose the others
            record = {"error": f"{type(error).__name__}: {error}"}
        record.update(
            model=model_name,
            method=method,
            dimension=posterior.dimension,
            kind=posterior.kind,
            seed=settings.seed,
            num_chains=settings.num_chains,
            wall_s=time.perf_counter() - start,
        )
        results["records"].append(record)
        save_results(path, results)
    return results
