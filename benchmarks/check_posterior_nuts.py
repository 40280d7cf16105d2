"""The translation check: NumPyro NUTS on benchmark posteriors against their references.

    python -m benchmarks.check_posterior_nuts eight_schools-eight_schools_noncentered [...]
    python -m benchmarks.check_posterior_nuts all [--x64] [--out DIR --resume]

A grid of one case per posterior through the harness (OUT/results.json), with the settings of
each posterior's ``NUTS_CHECK`` (models/posteriors/): it checks that a Stan model's NumPyro
translation has the reference posterior. It times nothing (``wall_s`` is MCMC.run's, compilation
included); efficiency is ``python -m benchmarks``'s.
"""

import argparse
import functools
import sys
from pathlib import Path


def run_case(case, out, seed):
    """NUTS with the posterior's NUTS_CHECK settings; prints the parameter table."""
    from models.nuts_check import run_nuts_check

    posterior, result, mcmc = run_nuts_check(case.model, seed=seed)
    divergences = int(mcmc.get_extra_fields()["diverging"].sum())
    print(f"== {case.model}  (d={posterior.dimension}, {posterior.kind})")
    print(result.table())
    print(
        f"passed={result.passed} max|z|={result.max_abs_z:.2f} "
        f"max|sd-1|={result.max_sd_error:.3f} divergences={divergences}"
    )
    return {
        "dimension": posterior.dimension,
        "passed": result.passed,
        "max_abs_z": result.max_abs_z,
        "max_sd_error": result.max_sd_error,
        "failed_params": [p.name for p in result.failures()],
        "divergences": divergences,
    }


def main(argv=None):
    import jax

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.check_posterior_nuts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="+", help="posterior names, or 'all'")
    parser.add_argument("--x64", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-out") / "nuts-check")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import models
    from benchmarks import harness
    from benchmarks.__main__ import names
    from models.nuts_check import nuts_settings

    picked = names(",".join(args.names), models.list_models(), "models")
    cases = [harness.Case(n, "nuts-check", nuts_settings(n)["num_chains"]) for n in picked]
    results = harness.run(
        cases,
        functools.partial(run_case, seed=args.seed),
        args.out,
        resume=args.resume,
        settings={"seed": args.seed, "x64": args.x64},
        desc="nuts check",
    )
    failed = [r["model"] for r in results["records"] if not r.get("passed")]
    print(f"{len(results['records']) - len(failed)} of {len(results['records'])} passed")
    if failed:
        print("not passed: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
