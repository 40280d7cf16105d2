"""The dynamics a SpikingKernel can run, by name; a dynamics is checked when it registers.

register(Dynamics(name=..., settings=..., build=..., transition=..., info=..., ...))
get("hamiltonian") -> Dynamics
"""

from __future__ import annotations

import dataclasses

from spiking_mcmc.dynamics import cortical, hamiltonian, lif, poisson
from spiking_mcmc.dynamics.base import Dynamics, TransitionInfo, Tuner
from spiking_mcmc.settings import Settings

_REGISTRY: dict[str, Dynamics] = {}


def check(dynamics: Dynamics) -> None:
    """Raise TypeError / ValueError naming what a dynamics lacks to meet the protocol."""
    if not isinstance(dynamics, Dynamics):
        raise TypeError(
            f"a dynamics must be a spiking_mcmc.dynamics.base.Dynamics, got {dynamics!r}"
        )
    name = dynamics.name
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"a dynamics' name must be an identifier, got {name!r}")
    settings = dynamics.settings
    if not (
        isinstance(settings, type)
        and issubclass(settings, Settings)
        and dataclasses.is_dataclass(settings)
        and settings.__dataclass_params__.frozen
    ):
        raise TypeError(f"dynamics {name!r}: settings must be a frozen Settings dataclass")
    settings()  # its defaults must be valid
    for field in ("build", "transition"):
        if not callable(getattr(dynamics, field)):
            raise TypeError(f"dynamics {name!r}: {field} must be callable")
    info_fields = getattr(dynamics.info, "_fields", ())
    if tuple(info_fields[: len(TransitionInfo._fields)]) != TransitionInfo._fields:
        raise TypeError(
            f"dynamics {name!r}: its info must be a NamedTuple whose fields begin with "
            f"{TransitionInfo._fields}"
        )
    if not 0.0 < float(dynamics.target_accept_prob) < 1.0:
        raise ValueError(f"dynamics {name!r}: target_accept_prob must lie in (0, 1)")
    if dynamics.tuner is not None and not isinstance(dynamics.tuner, Tuner):
        raise TypeError(f"dynamics {name!r}: tuner must be a Tuner or None")
    for field in ("network", "record_transition"):
        value = getattr(dynamics, field)
        if value is not None and not callable(value):
            raise TypeError(f"dynamics {name!r}: {field} must be callable or None")


def register(dynamics: Dynamics) -> Dynamics:
    """Add a dynamics (after :func:`check`); a name can be registered once."""
    check(dynamics)
    if dynamics.name in _REGISTRY and _REGISTRY[dynamics.name] is not dynamics:
        raise ValueError(f"a dynamics called {dynamics.name!r} is already registered")
    _REGISTRY[dynamics.name] = dynamics
    return dynamics


def names() -> list[str]:
    """Names accepted by ``SpikingKernel(dynamics=...)``."""
    return list(_REGISTRY)


def get(name: str) -> Dynamics:
    """The dynamics called ``name``."""
    if name not in _REGISTRY:
        valid = ", ".join(map(repr, names()))
        raise ValueError(f"unknown dynamics {name!r}; choose one of {valid}")
    return _REGISTRY[name]


for _module in (hamiltonian, poisson, lif, cortical):
    register(_module.DYNAMICS)
