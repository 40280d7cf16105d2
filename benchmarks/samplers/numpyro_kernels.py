"""NumPyro's NUTS and the spiking kernel, timed by :func:`spiking_mcmc.timing.timed_run`.

Both start from NumPyro's default initialisation (``init_to_uniform``; no posterior's
``INIT_VALUES``). NUTS gets the metric structure, target acceptance and tree depth that pass
the posterior's reference check (``NUTS_CHECK``; dense up to d = 64 otherwise); the spiking
kernel its own default metric (dense up to d = 200, learned from positions and gradients)
unless a spiking option says otherwise.
"""

from __future__ import annotations

import warnings

import jax

NUTS_FIELDS = ("accept_prob", "diverging", "num_steps")
SPIKING_FIELDS = (
    "accept_prob",
    "diverging",
    "num_steps",
    "num_grad_evals",
    "num_spikes",
    "biological_time_ms",
)


def nuts_options(name: str) -> dict:
    """NUTS settings known to pass the posterior's reference check (its ``NUTS_CHECK``)."""
    from models.nuts_check import nuts_settings

    settings = nuts_settings(name)
    keys = ("dense_mass", "target_accept_prob", "max_tree_depth")
    return {k: settings[k] for k in keys if k in settings}


def dense_mass(posterior) -> bool:
    """The metric structure every method with a choice gets: NUTS_CHECK's, else dense up to
    d = 64."""
    return nuts_options(posterior.name).get("dense_mass", posterior.dimension <= 64)


def kernel_dense_mass(method, posterior, spiking_options) -> bool:
    """The metric structure ``method`` ran with (a spiking option may override it)."""
    if method == "nuts":
        return dense_mass(posterior)
    from spiking_mcmc.mass import structure

    return bool(structure((spiking_options or {}).get("dense_mass"), posterior.dimension))


def make_kernel(method: str, posterior, spiking_options=None):
    from numpyro.infer import NUTS

    from spiking_mcmc import SpikingKernel

    if method == "nuts":
        options = {**nuts_options(posterior.name), "dense_mass": dense_mass(posterior)}
        return NUTS(posterior.model, **options)
    options = spiking_options or {}
    return SpikingKernel(posterior.model, dynamics=method.removeprefix("spiking-"), **options)


def run(method: str, posterior, settings, num_warmup: int, num_samples: int):
    """(TimedRun, notes) of ``method`` ("nuts" or "spiking-<dynamics>").

    A dynamics without a Metropolis step warns that it is not exact (InexactChainWarning)
    when its kernel is built; the warning is silenced here and the record says so instead
    (``exact_by_construction``)."""
    from spiking_mcmc.dynamics.base import InexactChainWarning
    from spiking_mcmc.timing import timed_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactChainWarning)
        kernel = make_kernel(method, posterior, settings.spiking_options)
        timed = timed_run(
            kernel,
            jax.random.PRNGKey(settings.seed),
            num_warmup,
            num_samples,
            settings.num_chains,
            posterior.args,
            posterior.kwargs,
            fields=NUTS_FIELDS if method == "nuts" else SPIKING_FIELDS,
        )
    dense = kernel_dense_mass(method, posterior, settings.spiking_options)
    return timed, {"dense_mass": dense, "num_warmup": num_warmup}
