"""Registry of benchmark posteriors: a NumPyro model, its data and a reference summary.

Each posterior is a module under ``models.posteriors`` that defines

    KIND: str                      a few words on the kind of model
    def make(data: dict) -> (model, args, kwargs)

where ``data`` is the posterior's ``data.json`` (posteriordb) or ``None`` for synthetic
targets, which also define ``reference() -> dict`` (analytic answers).  Every Stan parameter
``name[i,j]`` is a NumPyro site called ``name`` (``numpyro.deterministic`` for Stan's
transformed parameters), so the mapping from Stan names to sites is mechanical.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# name -> module under models.posteriors
POSTERIORDB = {
    "eight_schools-eight_schools_noncentered": "eight_schools_noncentered",
    "eight_schools-eight_schools_centered": "eight_schools_centered",
    "kidiq-kidscore_momiq": "kidscore_momiq",
    "kidiq-kidscore_interaction": "kidscore_interaction",
    "earnings-logearn_interaction": "logearn_interaction",
    "mesquite-logmesquite_logvash": "logmesquite_logvash",
    "nes2000-nes": "nes",
    "diamonds-diamonds": "diamonds",
    "kilpisjarvi_mod-kilpisjarvi": "kilpisjarvi",
    "sblrc-blr": "blr",
    "arK-arK": "ark",
    "arma-arma11": "arma11",
    "garch-garch11": "garch11",
    "gp_pois_regr-gp_pois_regr": "gp_pois_regr",
    "gp_pois_regr-gp_regr": "gp_regr",
    "low_dim_gauss_mix-low_dim_gauss_mix": "low_dim_gauss_mix",
    "hmm_example-hmm_example": "hmm_example",
    "hudson_lynx_hare-lotka_volterra": "lotka_volterra",
}

SYNTHETIC = {
    "gaussian_corr_d2": ("gaussians", {"dim": 2}),
    "gaussian_corr_d8": ("gaussians", {"dim": 8}),
    "gaussian_corr_d32": ("gaussians", {"dim": 32}),
    "gaussian_corr_d64": ("gaussians", {"dim": 64}),
    "gaussian_ill_d100": ("gaussians", {"dim": 100, "condition_number": 1000.0}),
}

# discrete latent sites (issue 16), with exact answers by enumeration (``reference()``); NUTS
# cannot sample them, so they are listed only when asked for (list_models(include_discrete=True))
DISCRETE = {
    "boltzmann_machine_16": ("boltzmann", {"num_units": 16, "coupling": 0.75}),
    "change_point": ("change_point", {}),
    "mixture_assignments": ("mixture_assignments", {}),
}

DATA = Path(__file__).parent / "data"  # posteriordb's data.json and summary.json, per posterior

_STAN_NAME = re.compile(r"^(?P<site>[A-Za-z_][A-Za-z0-9_]*)(\[(?P<index>[0-9, ]+)\])?$")


def stan_to_site(stan_name: str) -> tuple[str, tuple[int, ...]]:
    """``theta[1,2]`` -> ``("theta", (0, 1))``: Stan's 1-based names to NumPyro sites."""
    match = _STAN_NAME.match(stan_name)
    if match is None:
        raise ValueError(f"not a Stan parameter name: {stan_name!r}")
    index = match.group("index")
    indices = tuple(int(i) - 1 for i in index.split(",")) if index else ()
    return match.group("site"), indices


@dataclass(frozen=True)
class Posterior:
    """A benchmark posterior: ``MCMC(kernel).run(key, *p.args, **p.kwargs)`` samples it."""

    name: str
    kind: str
    model: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    reference: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str = "posteriordb"

    @property
    def param_map(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """Stan parameter name -> (NumPyro site, index into the site's event)."""
        return {name: stan_to_site(name) for name in self.reference}

    @functools.cached_property
    def dimension(self) -> int:
        """Number of unconstrained dimensions a sampler sees."""
        import jax
        from jax.flatten_util import ravel_pytree
        from numpyro.infer.util import initialize_model

        info = initialize_model(
            jax.random.PRNGKey(0), self.model, model_args=self.args, model_kwargs=self.kwargs
        )
        return int(ravel_pytree(info.param_info.z)[0].size)

    def stan_draws(self, samples: dict[str, Any], sample_ndim: int = 2) -> dict[str, np.ndarray]:
        """Map NumPyro samples (leading ``sample_ndim`` axes, e.g. chain and draw) to Stan names."""
        draws = {}
        for name, (site, index) in self.param_map.items():
            if site not in samples:
                raise KeyError(
                    f"{self.name}: reference parameter {name!r} needs site {site!r}, which the "
                    f"samples lack (have: {sorted(samples)})"
                )
            value = np.asarray(samples[site])
            draws[name] = value[(Ellipsis,) + index] if index else value
            if draws[name].ndim != sample_ndim:
                raise ValueError(
                    f"{self.name}: site {site!r} has shape {value.shape}; expected "
                    f"{sample_ndim} sample axes plus the event shape"
                )
        return draws


def list_models(include_synthetic: bool = True, include_discrete: bool = False) -> list[str]:
    """Names of every benchmark posterior (posteriordb first, then synthetic targets, then, when
    asked for, the posteriors with discrete latent sites)."""
    names = list(POSTERIORDB)
    if include_synthetic:
        names += list(SYNTHETIC)
    if include_discrete:
        names += list(DISCRETE)
    return names


def _read_json(name: str, filename: str) -> dict:
    text = (DATA / name / filename).read_text()
    return json.loads(text)


def load(name: str) -> Posterior:
    """Load a benchmark posterior by name (see :func:`list_models`)."""
    if name in POSTERIORDB:
        module = importlib.import_module(f"models.posteriors.{POSTERIORDB[name]}")
        data = _read_json(name, "data.json")
        reference = _read_json(name, "summary.json")["parameters"]
        model, args, kwargs = module.make(data)
        return Posterior(name, module.KIND, model, tuple(args), dict(kwargs), reference)
    if name in SYNTHETIC or name in DISCRETE:
        module_name, options = SYNTHETIC[name] if name in SYNTHETIC else DISCRETE[name]
        module = importlib.import_module(f"models.posteriors.{module_name}")
        model, args, kwargs = module.make(**options)
        return Posterior(
            name,
            module.kind(**options),
            model,
            tuple(args),
            dict(kwargs),
            module.reference(**options),
            source="analytic" if name in SYNTHETIC else "enumeration",
        )
    raise KeyError(
        f"unknown posterior {name!r}; choose one of {', '.join(list_models(True, True))}"
    )
