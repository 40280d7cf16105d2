"""NUTS on a benchmark posterior with its ``NUTS_CHECK`` settings: the translation check."""

from __future__ import annotations

import importlib

import jax
import numpy as np

from models.check import compare
from models.registry import POSTERIORDB, SYNTHETIC, load

DEFAULT_NUTS_CHECK = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4}


def _module(name: str):
    module = POSTERIORDB.get(name) or SYNTHETIC[name][0]
    return importlib.import_module(f"models.posteriors.{module}")


def nuts_settings(name: str) -> dict:
    """The NUTS settings a posterior's module asks for (``NUTS_CHECK``), over the defaults."""
    return {**DEFAULT_NUTS_CHECK, **getattr(_module(name), "NUTS_CHECK", {})}


def init_strategy(name: str):
    """``init_to_value`` at the module's documented ``INIT_VALUES`` (a start in the main mode),
    else NumPyro's default ``init_to_uniform``: for every MCMC method alike."""
    from numpyro.infer import init_to_uniform, init_to_value

    values = getattr(_module(name), "INIT_VALUES", None)
    if values is None:
        return init_to_uniform
    return init_to_value(values={k: np.asarray(v, dtype=float) for k, v in values.items()})


def run_nuts_check(name: str, seed: int = 0):
    """Run NUTS on ``name`` and compare with the reference: (posterior, CheckResult, mcmc)."""
    from numpyro.infer import MCMC, NUTS

    posterior = load(name)
    settings = nuts_settings(name)
    kernel_options = {
        k: settings[k]
        for k in ("target_accept_prob", "max_tree_depth", "dense_mass")
        if k in settings
    }
    mcmc = MCMC(
        NUTS(posterior.model, init_strategy=init_strategy(name), **kernel_options),
        num_warmup=settings["num_warmup"],
        num_samples=settings["num_samples"],
        num_chains=settings["num_chains"],
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.PRNGKey(seed), *posterior.args, extra_fields=("diverging",), **posterior.kwargs
    )
    samples = mcmc.get_samples(group_by_chain=True)
    return posterior, compare(posterior.stan_draws(samples), posterior.reference), mcmc
