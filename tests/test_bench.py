"""The benchmark: its efficiency yardstick against known answers, the command line on a tiny
run (with --resume), the report, the migration of old records and the chain-scaling grid."""

import json

import numpy as np
import pytest

from benchmarks import __main__ as cli
from benchmarks import harness, migrate, report
from spiking_mcmc import diagnostics


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
    assert diagnostics.efficiency({"a": x})["min_ess_bulk"] == pytest.approx(10_000, rel=0.12)


def test_ess_of_ar1_matches_theory():
    """ESS = n (1 - phi) / (1 + phi) for an AR(1) chain: 10,000 * 0.1 / 1.9 = 526."""
    phi = 0.9
    x = ar1(phi, 4, 25_000, seed=1)
    ess = diagnostics.efficiency({"a": x})["min_ess_bulk"]
    assert ess == pytest.approx(x.size * (1 - phi) / (1 + phi), rel=0.15)


def test_conservative_ess_is_not_inflated_by_antithetic_draws():
    """AR(1) with phi = -0.5: bulk ESS of the mean is n (1 - phi) / (1 + phi) = 3n, but the
    squared deviations have autocorrelation phi^2 > 0: ESS n (1 - phi^2) / (1 + phi^2) = 0.6n."""
    x = ar1(-0.5, 4, 5000, seed=2)
    result = diagnostics.efficiency({"a": x})
    assert result["min_ess_bulk"] > 2 * x.size
    assert result["min_ess_squared"] == pytest.approx(0.6 * x.size, rel=0.15)
    assert result["conservative_ess"] == min(
        result["min_ess_bulk"], result["min_ess_tail"], result["min_ess_squared"]
    )


def test_rhat_flags_chains_that_disagree():
    x = np.random.default_rng(2).normal(size=(4, 1000))
    assert diagnostics.efficiency({"a": x})["max_rhat"] < 1.01
    x[0] += 1.0
    assert diagnostics.efficiency({"a": x})["max_rhat"] > 1.05


def test_reference_check_flags_a_shifted_sample():
    from benchmarks import metrics

    rng = np.random.default_rng(3)
    reference = {"a": {"mean": 0.0, "sd": 1.0, "n_draws": 10_000}}
    good = metrics.reference_check({"a": rng.normal(size=(4, 1000))}, reference, 1.0)
    shifted = metrics.reference_check({"a": rng.normal(size=(4, 1000)) + 0.2}, reference, 1.0)
    assert good["passed"] and not shifted["passed"]
    assert shifted["max_abs_z"] > 4 and shifted["failed_params"] == ["a"]
    unmixed = metrics.reference_check({"a": rng.normal(size=(4, 1000))}, reference, 1.05)
    assert not unmixed["passed"]  # R-hat above 1.01 fails the check whatever the means


TINY = ["--models", "gaussian_corr_d2", "--chains", "2", "--warmup", "40", "--samples", "40"]


FORMAT_1 = {
    "model": "gaussian_corr_d2",
    "method": "nuts",
    "num_chains": 2,
    "min_ess_bulk": 100.0,
    "ess_per_grad": 0.1,
    "ess_per_s": 50.0,
    "warmup_s": 1.0,
    "sampling_s": 2.0,
    "ess_per_s_vs_nuts": 1.0,
    "passed": True,
}


def test_command_line_writes_results_and_resume_skips_finished_runs(tmp_path, capsys):
    """A run with --resume over a format-1 record runs that case again (and the missing one),
    then a second --resume runs nothing."""
    (tmp_path / "results.json").write_text(json.dumps({"records": [FORMAT_1]}))
    argv = [*TINY, "--methods", "nuts,spiking-poisson", "--out", str(tmp_path), "--quiet"]
    assert cli.main(argv + ["--resume"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["method"] for r in results["records"]] == ["nuts", "spiking-poisson"]
    for record in results["records"]:
        assert "error" not in record, record
        assert record["model"] == "gaussian_corr_d2" and record["dimension"] == 2
        assert record["format"] == migrate.RECORD_FORMAT and record["num_chains"] == 2
        assert "migrated_from" not in record
        assert record["compile_s"] > 0 and record["sampling_s"] > 0 and record["warmup_s"] > 0
        assert record["warmup_grad_evals"] > 0
        assert record["ess_per_s"] == pytest.approx(
            record["conservative_ess"] / (record["warmup_s"] + record["sampling_s"])
        )
        assert len(record["error_curve"]) == 8
    poisson = results["records"][1]
    # one gradient a window: 2 chains x 40 draws x 10 (the Poisson draws factor)
    assert poisson["grad_evals"] == 2 * 40 * 10 and poisson["warmup_grad_evals"] == 2 * 40 * 5
    assert poisson["spikes_per_ess"] > 0
    assert results["machine"]["jax"] and results["settings"]["seed"] == 0
    assert (tmp_path / "posteriors" / "gaussian_corr_d2__nuts.nc").exists()
    assert (tmp_path / "ess_ratio_to_nuts.png").exists()
    assert "xNUTS" in (tmp_path / "table.txt").read_text()
    assert "spiking-poisson" in capsys.readouterr().out

    # a second run with --resume runs nothing new and keeps the records
    before = (tmp_path / "results.json").read_text()
    assert cli.main(argv + ["--resume", "--no-figures"]) == 0
    after = json.loads((tmp_path / "results.json").read_text())
    assert [r["wall_s"] for r in after["records"]] == [
        r["wall_s"] for r in json.loads(before)["records"]
    ]


def test_unknown_model_is_named():
    with pytest.raises(SystemExit, match="unknown models: nope"):
        cli.main(["--models", "nope"])


def test_lif_run_is_recorded_and_flagged_not_exact(tmp_path, capsys):
    """The LIF network (no Metropolis step) runs when named, its warning does not break the
    harness, and the record and both tables say it is not exact by construction. A
    --spiking-option reaches the kernel."""
    import warnings

    from benchmarks import methods
    from spiking_mcmc.dynamics.base import InexactChainWarning

    assert "spiking-lif" in methods.available_methods()
    assert "spiking-lif" not in methods.available_methods(default_only=True)
    argv = [*TINY, "--methods", "spiking-lif", "--out", str(tmp_path), "--quiet", "--no-figures"]
    argv += ["--spiking-option", "dense_mass=False"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", InexactChainWarning)  # a warning would fail the run
        assert cli.main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    (record,) = results["records"]
    assert "error" not in record, record
    assert record["method"] == "spiking-lif" and record["exact_by_construction"] is False
    assert record["mean_accept_prob"] == 1.0 and record["max_abs_z"] >= 0
    assert record["dense_mass"] is False  # the option reached the kernel
    assert "spiking-lif*" in capsys.readouterr().out
    assert "spiking-lif*" in report.markdown_table(results)


def _record(method, ess, bulk, per_grad, per_s, **extra):
    return {
        "model": "m",
        "method": method,
        "num_chains": 4,
        "dimension": 2,
        "conservative_ess": ess,
        "min_ess_bulk": bulk,
        "min_ess_tail": ess,
        "min_ess_squared": ess,
        "ess_per_grad": per_grad,
        "ess_per_s": per_s,
        "ess_per_sampling_s": 2 * per_s,
        "warmup_grad_evals": 1000,
        "warmup_s": 1.0,
        "sampling_s": 1.0,
        "compile_s": 1.0,
        "max_rhat": 1.0,
        "max_abs_z": 1.0,
        "max_sd_error": 0.01,
        "passed": True,
        **extra,
    }


def test_table_leads_with_the_conservative_efficiency():
    """The first figures of a row are the conservative ESS and its parts, and the ratios to
    NUTS are of the conservative efficiency: a bulk ESS inflated by antithetic draws (NUTS's
    2500 here) does not enter them."""
    records = [
        _record("nuts", 400.0, 2500.0, 0.04, 200.0),
        _record("spiking-hamiltonian", 800.0, 900.0, 0.08, 100.0),
        _record("nutpie", 600.0, 1700.0, 0.06, 30.0, callback_bound=True),
    ]
    text = report.table({"records": records})
    head, nuts, spiking, nutpie = text.splitlines()[:4]
    assert head.split()[5:9] == ["ESS", "bulk", "tail", "sq"]
    assert head.split()[9:13] == ["ESS/grad", "xNUTS", "ESS/s", "xNUTS"]
    assert spiking.split()[5:9] == ["800", "900", "800", "800"]
    assert spiking.split()[9:13] == ["0.0800", "2.00", "100", "0.50"]
    assert nutpie.split()[11] == "30†" and report.CALLBACK_NOTE in text
    markdown = report.markdown_table({"records": records})
    assert markdown.splitlines()[0].startswith("| model | method | d | chains | draws | ESS |")


def test_peer_table_and_where_the_network_is_behind():
    records = [
        _record("spiking-hamiltonian", 800.0, 900.0, 0.08, 100.0),
        _record("nuts", 400.0, 2500.0, 0.04, 200.0),
        _record("nutpie", 600.0, 1700.0, 0.16, 30.0, callback_bound=True),
        _record("blackjax-mams", 60.0, 60.0, 0.8, 10.0, passed=False),
    ]
    table = report.peer_table({"records": records})
    row = table.splitlines()[2].split(" | ")
    assert row[5:8] == ["2.00 / 0.50", "0.50 / 3.33†", "(0.10 / 10.00)"]
    # behind NUTS per second and nutpie per gradient; MAMS is not exact, so it does not count
    (line,) = report.behind({"records": records})
    assert line == "m: 0.50x nuts per second, 0.50x nutpie per gradient"


def test_vi_table_gives_the_time_mcmc_needs_to_reach_the_guides_error():
    curve = [[1.0, 0.5, 0.1], [2.0, 0.2, 0.1], [4.0, 0.05, 0.02]]
    mcmc = _record("nuts", 400.0, 400.0, 0.04, 200.0, error_curve=curve)
    vi = {
        "model": "m",
        "method": "vi-mvn",
        "vi_steps": 3000,
        "vi_seconds": 0.5,
        "converged": True,
        "stopped_by": "plateau",
        "error_curve": [[0.5, 0.1, 0.08]],
    }
    # the guide's error, max(0.1, 0.08), is reached between 2 s (0.2) and 4 s (0.05)
    assert report.time_to_error(curve, 0.1) == pytest.approx(2.0 + 2.0 * 0.1 / 0.15)
    (row,) = [
        line for line in report.table({"records": [mcmc, vi]}).splitlines() if "vi-mvn" in line
    ]
    assert row.endswith("nuts 3.33") and " yes " in row


def test_format_1_records_are_migrated():
    new = migrate.record_from_1(FORMAT_1)
    assert new["bulk_ess_per_grad"] == 0.1 and new["bulk_ess_per_sampling_s"] == 50.0
    assert new["bulk_ess_per_s"] == pytest.approx(100.0 / 3.0)
    assert new["ess_per_grad"] is None and new["conservative_ess"] is None
    assert "ess_per_s_vs_nuts" not in new and new["migrated_from"] == 1
    row = report.table({"records": [new]}).splitlines()[1].split()
    assert row[5] == "-" and row[6] == "100"  # no conservative ESS; the bulk ESS kept


def test_masset_results_migrate_to_harness_records():
    data = {
        "protocol": {"repeats": 100, "dims": [2]},
        "target": "t",
        "w2_floor": {"2": 0.16},
        "results": [{"network": "poisson", "dim": 2, "wall_s": 0.1, "w2_early": 0.2}],
    }
    results = migrate.results(data)
    (record,) = results["records"]
    assert harness.key_of(record) == ("gaussian_rho_d2", "poisson", 100)
    assert record["run_s"] == 0.1 and record["w2_floor"] == 0.16 and "wall_s" not in record
    assert results["settings"] == data["protocol"]


def test_committed_results_are_readable_by_the_report():
    from pathlib import Path

    root = Path(__file__).parents[1] / "benchmarks" / "results"
    for name in ("cpu", "lif", "chains/cpu"):
        results = harness.load_results(root / name / "results.json")
        assert results["records"] and report.table(results)


def test_chain_scaling_grid_gives_ratios_at_each_chain_count(tmp_path, monkeypatch):
    """python -m benchmarks.chains: a harness case per (posterior, chains, method) with total
    draws split over the chains, ChEES only from 2 chains, ratios to NUTS at the same number
    of chains in the table, and the figure. The samplers are replaced by a stand-in whose
    ESS per second grows with the chains (the samplers have their own tests)."""
    from benchmarks import chains

    def fake_run(case, out, save_draws=True):
        assert not save_draws
        speed = {"nuts": 10.0, "spiking-hamiltonian": 20.0, "blackjax-chees": 5.0}[case.method]
        record = _record(case.method, 100.0, 100.0, 0.1, speed * case.num_chains)
        record.update(num_samples=case.settings.num_samples, model=case.model)
        return record

    monkeypatch.setattr(harness, "run_method", fake_run)
    argv = ["--models", "gaussian_corr_d2", "--chains", "1,4", "--total-draws", "64"]
    assert chains.main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert sorted((r["method"], r["num_chains"]) for r in records) == [
        ("blackjax-chees", 4),
        ("nuts", 1),
        ("nuts", 4),
        ("spiking-hamiltonian", 1),
        ("spiking-hamiltonian", 4),
    ]
    for r in records:
        assert r["num_samples"] * r["num_chains"] == 64
        assert report.nuts_record(records, r)["num_chains"] == r["num_chains"]
    table = (tmp_path / "table.txt").read_text().splitlines()
    spiking = [line.split() for line in table if "spiking-hamiltonian" in line]
    assert [row[12] for row in spiking] == ["2.00", "2.00"]  # 20 C / 10 C at each C
    assert (tmp_path / "chains.png").stat().st_size > 0


def test_seed_medians_take_only_runs_where_both_are_exact():
    from benchmarks import seeds

    def record(method, ess_per_grad, passed=True):
        return dict(
            model="m",
            method=method,
            ess_per_grad=ess_per_grad,
            ess_per_s=ess_per_grad,
            warmup_grad_evals=100,
            passed=passed,
        )

    runs = [
        [record("spiking-hamiltonian", 2.0), record("nuts", 1.0)],
        [record("spiking-hamiltonian", 4.0), record("nuts", 1.0)],
        [record("spiking-hamiltonian", 0.5), record("nuts", 1.0, passed=False)],
    ]
    lines = seeds.summary(runs, ["nuts"])
    assert lines[0].endswith("[1, 1, 1] of 1 posteriors")
    assert "median per gradient 3.00" in lines[1] and "below 1x per gradient: none" in lines[1]
