"""Integrate-and-fire Hamiltonian network beside NumPyro's NUTS: min bulk ESS per gradient.

    .venv/bin/python benchmarks/hamiltonian_vs_nuts.py
    .venv/bin/python benchmarks/hamiltonian_vs_nuts.py --models sblrc-blr --spike-quantum 2

For each posterior both samplers run in the same process with the same warmup, draws, chains
(vectorized) and seed; the mass matrix is dense for d <= 100 (``--diag`` for diagonal). The
gradient count is that of the sampling phase: the sum of the extra field ``num_grad_evals``
(Hamiltonian network; one per leapfrog step) or ``num_steps`` (NUTS; one per leapfrog step).
ESS is ArviZ's bulk ESS of each reference parameter (Stan names, as ``models.compare`` sees
them); "ok" is ``models.compare`` (every mean within 4 MCSE, every sd within 10%). Wall times
include compilation.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS

import models
from spiking_mcmc import SpikingKernel

MODELS = (
    "gaussian_ill_d100",
    "eight_schools-eight_schools_noncentered",
    "sblrc-blr",
    "arK-arK",
    "arma-arma11",
)


def run(kernel, posterior, args, seed):
    mcmc = MCMC(
        kernel,
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(
        jax.random.PRNGKey(seed),
        *posterior.args,
        extra_fields=("num_steps", "accept_prob", "diverging"),
        **posterior.kwargs,
    )
    seconds = time.perf_counter() - start
    result = models.compare(
        posterior.stan_draws(mcmc.get_samples(group_by_chain=True)), posterior.reference
    )
    extra = mcmc.get_extra_fields()
    grads = (
        int(np.sum(extra["num_grad_evals"]))
        if "num_grad_evals" in extra
        else int(np.sum(extra["num_steps"]))
    )
    min_ess = min(p.ess_bulk for p in result.params)
    return {
        "ess_per_grad": min_ess / grads,
        "min_ess": min_ess,
        "grads": grads,
        "ok": result.passed,
        "accept": float(np.mean(extra["accept_prob"])),
        "divergences": int(np.sum(extra["diverging"])),
        "seconds": seconds,
        "spikes_per_step": (
            float(np.sum(extra["num_spikes"]) / grads) if "num_spikes" in extra else float("nan")
        ),
        "result": result,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--diag", action="store_true", help="diagonal mass matrix everywhere")
    parser.add_argument("--no-nuts", action="store_true", help="skip NUTS (tuning runs)")
    parser.add_argument("--spike-quantum", type=float, default=None)
    parser.add_argument("--target-accept", type=float, default=None)
    parser.add_argument("--trajectory-length", type=float, default=None)
    parser.add_argument("--energy", default=None, choices=("membrane", "plain"))
    parser.add_argument(
        "--fixed-trajectory", action="store_true", help="no trajectory-length adaptation"
    )
    parser.add_argument("--verbose", action="store_true", help="print each parameter check")
    args = parser.parse_args()

    options = {
        key: value
        for key, value in (
            ("spike_quantum", args.spike_quantum),
            ("trajectory_length", args.trajectory_length),
            ("energy", args.energy),
        )
        if value is not None
    }
    if args.fixed_trajectory:
        options["adapt_trajectory_length"] = False
    print(
        f"warmup={args.warmup} draws={args.samples} chains={args.chains} seed={args.seed} "
        f"options={options} target_accept={args.target_accept or 'default'}"
    )
    header = (
        f"{'model':<40}{'d':>4}  {'ham ESS/grad':>12}{'NUTS ESS/grad':>14}{'ratio':>7}"
        f"  {'ham ok':>6}{'NUTS ok':>8}  {'ham acc':>7}{'spk/step':>9}{'ham s':>7}{'NUTS s':>7}"
    )
    print(header)
    for name in args.models:
        posterior = models.load(name)
        dim = posterior.dimension
        dense = (not args.diag) and dim <= 100
        ham = run(
            SpikingKernel(
                posterior.model,
                dynamics="hamiltonian",
                dense_mass=dense,
                target_accept_prob=args.target_accept,
                **options,
            ),
            posterior,
            args,
            args.seed,
        )
        if args.no_nuts:
            nuts = None
        else:
            nuts = run(NUTS(posterior.model, dense_mass=dense), posterior, args, args.seed)
        n_rate = nuts["ess_per_grad"] if nuts else float("nan")
        print(
            f"{name:<40}{dim:>4}  {ham['ess_per_grad']:>12.4f}{n_rate:>14.4f}"
            f"{ham['ess_per_grad'] / n_rate:>7.2f}  {str(ham['ok']):>6}"
            f"{str(nuts['ok']) if nuts else '-':>8}  {ham['accept']:>7.2f}"
            f"{ham['spikes_per_step']:>9.1f}{ham['seconds']:>7.1f}"
            f"{nuts['seconds'] if nuts else float('nan'):>7.1f}",
            flush=True,
        )
        if args.verbose:
            print(ham["result"].table())
            if ham["divergences"]:
                print(f"  hamiltonian divergences: {ham['divergences']}")


if __name__ == "__main__":
    main()
