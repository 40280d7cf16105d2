"""Quickstart: eight schools with the spiking kernel beside NUTS, and the result in ArviZ.

python examples/quickstart.py
"""

import time

import arviz as az
import jax
import numpy as np
from numpyro.infer import MCMC, NUTS

import models
from spiking_mcmc import SpikingKernel

posterior = models.load("eight_schools-eight_schools_noncentered")
rows = []
for name, kernel, draws in [
    (
        "spiking (poisson)",
        SpikingKernel(posterior.model, dynamics="poisson", dense_mass=True),
        10000,
    ),
    ("spiking (IF, HMC)", SpikingKernel(posterior.model, dynamics="hamiltonian"), 1000),
    ("NUTS", NUTS(posterior.model), 1000),
]:
    mcmc = MCMC(
        kernel,
        num_warmup=1000,
        num_samples=draws,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(
        jax.random.PRNGKey(0), *posterior.args, **posterior.kwargs, extra_fields=("num_steps",)
    )
    seconds = time.perf_counter() - start
    idata = az.from_numpyro(mcmc)
    extra = mcmc.get_extra_fields()
    grads = int(
        np.sum(extra["num_grad_evals"] if "num_grad_evals" in extra else extra["num_steps"])
    )
    check = models.compare(
        posterior.stan_draws(mcmc.get_samples(group_by_chain=True)), posterior.reference
    )
    min_ess = min(p.ess_bulk for p in check.params)
    spikes = float(np.sum(extra["num_spikes"])) / min_ess if "num_spikes" in extra else float("nan")
    rows.append(
        (name, min_ess, min_ess / grads, seconds, check.max_abs_z, check.max_sd_error, spikes)
    )

print("eight schools (non-centred), 4 chains; wall time includes compilation")
header = ("method", "min ESS", "ESS/grad", "time s", "max|z|", "max|sd-1|", "spikes/ESS")
print(f"{header[0]:<20}" + "".join(f"{h:>11}" for h in header[1:]))
for name, ess, per_grad, seconds, z, sd, spikes in rows:
    print(
        f"{name:<20}{ess:>11.0f}{per_grad:>11.4f}{seconds:>11.1f}{z:>11.2f}{sd:>11.3f}{spikes:>11.1f}"
    )
