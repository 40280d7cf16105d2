"""Benchmark posteriors: posteriordb's reference posteriors and synthetic Gaussians.

>>> import models    # from the checkout's root (the zoo is not part of the installed package)
>>> p = models.load("eight_schools-eight_schools_noncentered")
>>> mcmc.run(key, *p.args, **p.kwargs); models.compare(p.stan_draws(samples), p.reference)
"""

from models.check import CheckResult, ParamCheck, compare
from models.registry import Posterior, list_models, load, stan_to_site

__all__ = [
    "CheckResult",
    "ParamCheck",
    "Posterior",
    "compare",
    "list_models",
    "load",
    "stan_to_site",
]
