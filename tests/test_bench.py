"""Benchmark metrics against known answers; the command line on a tiny run, with --resume."""

import json

import numpy as np
import pytest

from benchmarks import __main__ as cli
from benchmarks import metrics, report


def ar1(phi, chains, draws, seed):
    rng = np.random.default_rng(seed)
    x = np.zeros((chains, draws))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - phi**2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=chains)
    return x


def test_ess_of_independent_draws_is_near_their_number():
    x = np.random.default_rng(0).normal(size=(4, 2500))
    # the ESS estimate of iid draws has a relative sd of about 3% at n = 10,000
    assert metrics.ess_bulk(x) == pytest.approx(10_000, rel=0.12)


def test_ess_of_ar1_matches_theory():
    """ESS = n (1 - phi) / (1 + phi) for an AR(1) chain: 10,000 * 0.1 / 1.9 = 526."""
    phi = 0.9
    x = ar1(phi, 4, 25_000, seed=1)
    theory = x.size * (1 - phi) / (1 + phi)
    assert metrics.ess_bulk(x) == pytest.approx(theory, rel=0.15)
    assert metrics.ess_bulk(x) < 0.1 * x.size  # and far below the iid value


def test_rhat_flags_chains_that_disagree():
    x = np.random.default_rng(2).normal(size=(4, 1000))
    assert metrics.rhat(x) < 1.01
    x[0] += 1.0
    assert metrics.rhat(x) > 1.05


def test_error_helper_flags_a_shifted_sample():
    rng = np.random.default_rng(3)
    reference = {"a": {"mean": 0.0, "sd": 1.0, "n_draws": 10_000}}
    good = metrics.summarize({"a": rng.normal(size=(4, 1000))}, reference)
    shifted = metrics.summarize({"a": rng.normal(size=(4, 1000)) + 0.2}, reference)
    assert good["passed"] and not shifted["passed"]
    assert shifted["max_abs_z"] > 4 and shifted["failed_params"] == ["a"]


def test_command_line_writes_results_and_resume_skips_finished_pairs(tmp_path, capsys):
    argv = [
        "--models",
        "gaussian_corr_d2",
        "--methods",
        "nuts,spiking-poisson,vi-normal",
        "--chains",
        "2",
        "--warmup",
        "40",
        "--samples",
        "40",
        "--vi-steps",
        "50",
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    assert cli.main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["method"] for r in results["records"]] == ["nuts", "spiking-poisson", "vi-normal"]
    for record in results["records"]:
        assert "error" not in record, record
        assert record["model"] == "gaussian_corr_d2" and record["dimension"] == 2
        assert record["compile_s"] > 0 and record["sampling_s"] > 0
        assert len(record["error_curve"]) == 5
    poisson = results["records"][1]
    assert poisson["grad_evals"] == 2 * 40 * 10 and poisson["spikes_per_ess"] > 0
    assert results["machine"]["jax"] and results["settings"]["seed"] == 0
    assert (tmp_path / "posteriors" / "gaussian_corr_d2__nuts.nc").exists()
    assert (tmp_path / "ess_ratio_to_nuts.png").exists()
    table = capsys.readouterr().out
    assert "spiking-poisson" in table and "xNUTS" in table

    # a second run with --resume runs nothing new and keeps the records
    before = (tmp_path / "results.json").read_text()
    assert cli.main(argv + ["--resume", "--no-figures"]) == 0
    after = json.loads((tmp_path / "results.json").read_text())
    assert [r["wall_s"] for r in after["records"]] == [
        r["wall_s"] for r in json.loads(before)["records"]
    ]


def test_markdown_table_has_a_row_per_record():
    results = {
        "records": [
            {
                "model": "m",
                "method": "nuts",
                "dimension": 2,
                "min_ess_bulk": 100.0,
                "ess_per_grad": 0.1,
                "ess_per_s": 50.0,
                "max_abs_z": 1.0,
                "max_sd_error": 0.01,
                "passed": True,
            },
            {"model": "m", "method": "spiking-poisson", "error": "ValueError: x"},
        ]
    }
    text = report.markdown_table(results)
    assert text.count("\n") == 3 and "| 1.00 |" in text and "failed" in text


def test_unknown_model_is_named():
    with pytest.raises(SystemExit, match="unknown models: nope"):
        cli.main(["--models", "nope"])


def test_lif_run_is_recorded_and_flagged_not_exact(tmp_path, capsys):
    """The LIF network (no Metropolis step) runs when named, its warning does not break the
    harness, and the record and both tables say it is not exact by construction."""
    import warnings

    from benchmarks import methods
    from spiking_mcmc.dynamics.lif import InexactChainWarning

    assert "spiking-lif" in methods.available_methods()
    assert "spiking-lif" not in methods.available_methods(default_only=True)
    argv = ["--models", "gaussian_corr_d2", "--methods", "spiking-lif", "--chains", "2"]
    argv += ["--warmup", "30", "--samples", "30", "--out", str(tmp_path), "--quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", InexactChainWarning)  # a warning would fail the run
        assert cli.main(argv + ["--no-figures"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    (record,) = results["records"]
    assert "error" not in record, record
    assert record["method"] == "spiking-lif" and record["exact_by_construction"] is False
    assert record["mean_accept_prob"] == 1.0 and record["max_abs_z"] >= 0
    assert "spiking-lif*" in capsys.readouterr().out
    assert "spiking-lif (not exact by construction)" in report.markdown_table(results)


def test_chain_scaling_script_writes_ratios_at_each_chain_count(tmp_path, monkeypatch, capsys):
    """benchmarks/chains.py on a tiny grid: one record per (method, chains), ratios to NUTS at
    the same number of chains, a table and a figure."""
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "chains.py"
    argv = [
        "chains.py",
        "--models",
        "eight_schools-eight_schools_noncentered",
        "--chains",
        "1,4",
        "--total-draws",
        "64",
        "--warmup",
        "50",
        "--out",
        str(tmp_path),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(script), run_name="__main__")
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert sorted((r["method"], r["num_chains"]) for r in records) == [
        ("nuts", 1),
        ("nuts", 4),
        ("spiking-hamiltonian", 1),
        ("spiking-hamiltonian", 4),
    ]
    for r in records:
        assert "error" not in r, r
        assert r["num_samples"] * r["num_chains"] == 64
        assert r["ess_per_s_vs_nuts"] == pytest.approx(
            r["ess_per_s"]
            / next(
                n["ess_per_s"]
                for n in records
                if n["method"] == "nuts" and n["num_chains"] == r["num_chains"]
            )
        )
    assert (tmp_path / "chains.png").stat().st_size > 0
    assert "x NUTS" in (tmp_path / "table.txt").read_text()
