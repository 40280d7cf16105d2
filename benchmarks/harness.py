"""Run a grid of cases, write each record as soon as it is done, resume after a stop.

    cases   = [Case(model, method, num_chains, settings), ...]
    results = run(cases, run_case, out)     # out/results.json: records, machine, settings

``run_case(case, out) -> record`` does the work (:func:`run_method`: one method on one
benchmark posterior; a script may pass its own). A record is keyed by (model, method,
num_chains); ``resume`` skips a case whose record is there in the current format. Records of
an older format are migrated when read (benchmarks.migrate) and their cases run again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks import migrate


@dataclasses.dataclass(frozen=True)
class Case:
    """One cell of a grid: what runs (method) on what (model) with how many chains."""

    model: str
    method: str
    num_chains: int
    settings: Any = None  # what run_case needs (benchmarks.methods.Settings for the samplers)

    @property
    def key(self) -> tuple:
        return (self.model, self.method, self.num_chains)


def key_of(record: dict) -> tuple:
    return (record["model"], record["method"], record.get("num_chains"))


def machine() -> dict:
    """Where the records were measured: hardware and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    import jax

    device = jax.devices()[0]
    versions = {}
    for package in ("jax", "numpyro", "arviz", "spiking-mcmc", "blackjax", "nutpie", "optax"):
        try:
            versions[package.replace("-", "_")] = version(package)
        except PackageNotFoundError:
            versions[package.replace("-", "_")] = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "device_count": jax.device_count(),
        "python": platform.python_version(),
        **versions,
    }


def load_results(path: Path) -> dict:
    """The results at ``path`` in the current record format (empty when there are none)."""
    if path.exists():
        return migrate.results(json.loads(path.read_text()))
    return {"records": []}


def save_results(path: Path, results: dict):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=_plain))
    tmp.replace(path)  # atomic: an interrupted write never leaves a broken file


def _plain(value):
    """JSON for numpy scalars and arrays."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return float(value)


def run(
    cases,
    run_case,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    settings: dict | None = None,
    desc: str = "bench",
) -> dict:
    """Run every case not yet recorded; returns the results (also in ``out/results.json``)."""
    from tqdm.auto import tqdm

    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = load_results(path) if resume else {"records": []}
    results["machine"] = machine()
    if settings is not None:
        results["settings"] = settings
    current = {
        key_of(r)
        for r in results["records"]
        if r.get("format") == migrate.RECORD_FORMAT and not r.get("migrated_from")
    }
    todo = [case for case in cases if case.key not in current]
    bar = tqdm(todo, disable=not progress, desc=desc, unit="run")
    for case in bar:
        bar.set_postfix_str(f"{case.model} / {case.method} / {case.num_chains} chains")
        start = time.perf_counter()
        try:
            record = run_case(case, out)
        except Exception as error:  # noqa: BLE001 - one failing case must not lose the others
            record = {"error": f"{type(error).__name__}: {error}"}
        record.update(
            model=case.model,
            method=case.method,
            num_chains=case.num_chains,
            wall_s=time.perf_counter() - start,
            format=migrate.RECORD_FORMAT,
        )
        old = [i for i, r in enumerate(results["records"]) if key_of(r) == case.key]
        if old:  # a migrated record of an older format: replaced in place
            results["records"][old[0]] = record
        else:
            results["records"].append(record)
        save_results(path, results)
    return results


def run_method(case: Case, out: Path, save_draws: bool = True) -> dict:
    """The standard case: ``case.method`` on the benchmark posterior ``case.model``; with
    ``save_draws`` its draws go to ``out/posteriors/<model>__<method>.nc`` (ArviZ)."""
    import models
    from benchmarks import methods

    posterior = models.load(case.model)
    record, samples, fields = methods.run(case.method, posterior, case.settings)
    if save_draws and samples is not None:
        (out / "posteriors").mkdir(exist_ok=True)
        idata = methods.idata(samples, fields)
        idata.to_netcdf(out / "posteriors" / f"{case.model}__{case.method}.nc")
    record.update(dimension=posterior.dimension, kind=posterior.kind, seed=case.settings.seed)
    return record
