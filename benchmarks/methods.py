"""The methods the benchmark compares, by name, and how one run of one becomes a record.

    MCMC  nuts, spiking-{poisson,hamiltonian,lif}  NumPyro kernels, spiking_mcmc.timing.timed_run
          nutpie                                   low-rank NUTS, timed from its log-density calls
          blackjax-mams, blackjax-chees            BlackJAX, spiking_mcmc.timing's two phases
    VI    vi-normal, vi-mvn                        SVI run to convergence (samplers/vi.py)

Every MCMC method samples the same NumPyro log density from the same starting points and gets
the same record (benchmarks.metrics.mcmc_record): warmup and sampling gradients and seconds,
compilation apart. Peers come from the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field

import numpy as np

from benchmarks.samplers.vi import PlateauRule

TIMING_METHOD = (
    "jax methods: warmup and sampling loops compiled ahead of time (jax lower().compile()), "
    "execution timed, chains vectorised; nutpie: chains one after another, phases timed from "
    "its log-density calls (callback-bound); VI: optimisation windows compiled ahead of time; "
    "compilation reported separately"
)

SPIKING_METHODS = ("spiking-poisson", "spiking-hamiltonian", "spiking-lif")
PEER_METHODS = ("nuts", "nutpie", "blackjax-chees", "blackjax-mams")
MCMC_METHODS = SPIKING_METHODS + PEER_METHODS
VI_METHODS = ("vi-normal", "vi-mvn")
METHODS = MCMC_METHODS + VI_METHODS
# no Metropolis step: biased by construction, run on request only (its max |z| and |sd - 1|
# are its bias); not in the default method lists of ``python -m benchmarks`` and compare_all
INEXACT_METHODS = ("spiking-lif",)
DEFAULT_METHODS = tuple(x for x in METHODS if x not in INEXACT_METHODS)
LIBRARY = {"nutpie": "nutpie", "blackjax-chees": "blackjax", "blackjax-mams": "blackjax"}
CALLBACK_BOUND = ("nutpie",)  # ESS per second bound by a Python log-density callback


@dataclass
class Settings:
    num_chains: int = 4
    num_warmup: int = 1000
    num_samples: int = 1000
    seed: int = 0
    # the Poisson network makes one gradient per draw: give it more draws and warmup steps
    poisson_draws_factor: int = 10
    poisson_warmup_factor: int = 5
    vi: PlateauRule = field(default_factory=PlateauRule)
    vi_draws: int = 4000
    error_fractions: tuple = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
    # keyword arguments of SpikingKernel for the spiking methods (e.g. adaptation="cross_chain")
    spiking_options: dict = field(default_factory=dict)
    # MAMS: tuning plus sampling seconds before a run is stopped and recorded as over budget
    mams_budget_s: float = 600.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def exact_by_construction(method: str) -> bool:
    """Whether a method's chain targets the posterior exactly (False for the LIF network)."""
    if not method.startswith("spiking-"):
        return True
    from spiking_mcmc.dynamics import registry

    return registry.get(method.removeprefix("spiking-")).exact


def available_methods(default_only: bool = False) -> list[str]:
    """Methods whose dynamics are registered; ``default_only`` leaves out INEXACT_METHODS."""
    from spiking_mcmc.dynamics import registry

    names = DEFAULT_METHODS if default_only else METHODS
    return [
        x
        for x in names
        if not x.startswith("spiking-") or x.removeprefix("spiking-") in registry.names()
    ]


def require(method: str):
    """Raise an ImportError naming the fix when a peer's library is not installed."""
    library = LIBRARY.get(method)
    if library is not None and importlib.util.find_spec(library) is None:
        raise ImportError(
            f"method {method!r} needs {library}: pip install -e '.[bench]' (from the checkout)"
        )


def sample(method: str, posterior, settings: Settings):
    """(TimedRun or None, notes): one MCMC run; None when a tuning failed (the notes say)."""
    from benchmarks.samplers import chees, mams, numpyro_kernels, nutpie_low_rank

    require(method)
    if method == "nutpie":
        options = numpyro_kernels.nuts_options(posterior.name)
        return nutpie_low_rank.run(posterior, settings, options)
    if method == "blackjax-mams":
        return mams.run(posterior, settings)
    if method == "blackjax-chees":
        return chees.run(posterior, settings)
    poisson = method == "spiking-poisson"
    num_warmup = settings.num_warmup * (settings.poisson_warmup_factor if poisson else 1)
    num_samples = settings.num_samples * (settings.poisson_draws_factor if poisson else 1)
    return numpyro_kernels.run(method, posterior, settings, num_warmup, num_samples)


def run(method: str, posterior, settings: Settings):
    """One method on one posterior: (record, samples {site: (chain, draw, ...)}, fields)."""
    from benchmarks import metrics
    from benchmarks.samplers import vi

    if method in VI_METHODS:
        record, samples = vi.run(method, posterior, settings)
        return record, samples, {}
    timed, notes = sample(method, posterior, settings)
    if timed is None:  # a tuning that failed or ran past its budget: recorded, not dropped
        record = {"exact_by_construction": True, "passed": False, **notes}
        return record, None, None
    record = metrics.mcmc_record(timed, posterior, settings.error_fractions)
    num_draws = np.asarray(next(iter(timed.fields.values()))).shape[1]
    record.update(
        exact_by_construction=exact_by_construction(method),
        num_samples=num_draws,
        callback_bound=method in CALLBACK_BOUND,
        **notes,
    )
    return record, timed.samples, timed.fields


def idata(samples: dict, fields: dict | None):
    """An ArviZ DataTree of a run's draws, with the sample-stats names az.from_numpyro gives."""
    import arviz as az

    renamed = {"accept_prob": "acceptance_rate", "num_steps": "n_steps"}
    groups = {"posterior": samples}
    if fields:
        groups["sample_stats"] = {renamed.get(k, k): np.asarray(v) for k, v in fields.items()}
    return az.from_dict(groups)
