"""Committed results of older record formats, read in today's format.

    python -m benchmarks.migrate benchmarks/results/*/results.json   # rewrites them in place

Format 1 (before the conservative efficiency): ``ess_per_grad`` was min bulk ESS per
sampling gradient and ``ess_per_s`` min bulk ESS per second of sampling only; warmup
gradients were not counted, nor the squared-deviation ESS. Those numbers cannot be turned
into today's conservative ones, so a migrated record keeps them under names that say what
they are (``bulk_ess_per_grad``, ``bulk_ess_per_sampling_s``, ``bulk_ess_per_s`` = min bulk
ESS / (warmup + sampling s)), leaves today's headline fields empty (None), and says
``migrated_from: 1``. The harness runs such a record's case again under ``--resume``.
The Masset protocol's ``masset.json`` (``results`` instead of ``records``) is format 1 too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RECORD_FORMAT = 2
HEADLINE = (
    "conservative_ess",
    "min_ess_squared",
    "ess_per_grad",
    "ess_per_total_grad",
    "ess_per_s",
    "ess_per_sampling_s",
    "warmup_grad_evals",
)


def _ratio(numerator, denominator):
    return None if numerator is None or not denominator else numerator / denominator


def record_from_1(record: dict) -> dict:
    """A format-1 record in format 2 (see the module docstring)."""
    new = {k: v for k, v in record.items() if not k.endswith("_vs_nuts")}
    new.pop("ess_per_s_with_warmup", None)
    if "error" not in record and "min_ess_bulk" in record:
        seconds = (record.get("warmup_s") or 0.0) + (record.get("sampling_s") or 0.0)
        is_vi = record.get("method", "").startswith("vi-")
        new.update(
            bulk_ess_per_grad=record.get("ess_per_grad"),
            bulk_ess_per_sampling_s=record.get("ess_per_s"),
            bulk_ess_per_s=None if is_vi else _ratio(record["min_ess_bulk"], seconds),
            **dict.fromkeys(HEADLINE),
        )
        if is_vi:
            new.update(converged=None, stopped_by="fixed number of steps (format 1)")
    new.update(format=RECORD_FORMAT, migrated_from=1)
    return new


def masset_model(dim: int) -> str:
    """The Masset protocol's name for its d-dimensional Gaussian."""
    return f"gaussian_rho_d{dim}"


def masset_from_1(data: dict) -> dict:
    """``masset.json`` ({protocol, target, w2_floor, results}) as harness results."""
    repeats = data["protocol"]["repeats"]
    floors = data.get("w2_floor", {})
    records = [
        {
            **{k: v for k, v in r.items() if k != "wall_s"},
            "run_s": r.get("wall_s"),
            "w2_floor": floors.get(str(r["dim"])),
            "model": masset_model(r["dim"]),
            "method": r["network"],
            "num_chains": repeats,
            "format": RECORD_FORMAT,
            "migrated_from": 1,
        }
        for r in data["results"]
    ]
    rest = {k: v for k, v in data.items() if k not in ("results", "protocol")}
    return {"records": records, "settings": data["protocol"], **rest}


def results(data: dict) -> dict:
    """Results of any format, in format 2."""
    if "results" in data and "records" not in data:
        return masset_from_1(data)
    records = [
        record_from_1(r) if r.get("format", 1) < RECORD_FORMAT else r
        for r in data.get("records", [])
    ]
    return {**data, "records": records}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.migrate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("paths", nargs="+", type=Path, help="results.json or masset.json files")
    args = parser.parse_args(argv)
    for path in args.paths:
        data = json.loads(path.read_text())
        target = path.with_name("results.json")
        target.write_text(json.dumps(results(data), indent=1) + "\n")
        if target != path:
            path.unlink()
        print(f"{path} -> {target}")


if __name__ == "__main__":
    main()
