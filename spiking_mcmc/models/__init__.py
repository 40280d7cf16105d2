"""Benchmark posteriors: posteriordb's reference posteriors and synthetic Gaussians.

>>> from spiking_mcmc import models
>>> p = models.load("eight_schools-eight_schools_noncentered")
>>> mcmc.run(key, *p.args, **p.kwargs); models.compare(p.stan_draws(samples), p.reference)
"""

from spiking_mcmc.models.check import CheckResult, ParamCheck, compare
from spiking_mcmc.models.registry import Posterior, list_models, load, stan_to_site

__all__ = [
    "CheckResult",
    "ParamCheck",
    "Posterior",
    "compare",
    "list_models",
    "load",
    "stan_to_site",
]
