"""The translation check: NumPyro NUTS on benchmark posteriors against their references.

    python -m benchmarks.check_posterior_nuts eight_schools-eight_schools_noncentered [...]
    python -m benchmarks.check_posterior_nuts all [--x64]

Settings come from each posterior's ``NUTS_CHECK`` (models/posteriors/). This checks that a
Stan model's NumPyro translation has the reference posterior; it times nothing (the time it
prints is MCMC.run's wall time, compilation included). Efficiency: ``python -m benchmarks``.
"""

import argparse
import time

import jax


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--x64", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import models
    from models.nuts_check import run_nuts_check

    names = models.list_models() if args.names == ["all"] else args.names
    for name in names:
        start = time.perf_counter()
        posterior, result, mcmc = run_nuts_check(name, seed=args.seed)
        extra = mcmc.get_extra_fields()
        print(f"== {name}  (d={posterior.dimension}, {posterior.kind})")
        print(result.table())
        print(
            f"passed={result.passed} max|z|={result.max_abs_z:.2f} "
            f"max|sd-1|={result.max_sd_error:.3f} divergences={int(extra['diverging'].sum())} "
            f"wall time incl. compilation={time.perf_counter() - start:.1f}s"
        )


if __name__ == "__main__":
    main()
