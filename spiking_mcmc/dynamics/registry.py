"""The dynamics a SpikingKernel can run, by name."""

from __future__ import annotations

import importlib

_MODULES = {
    "poisson": "spiking_mcmc.dynamics.poisson",
    "hamiltonian": "spiking_mcmc.dynamics.hamiltonian",
    "lif": "spiking_mcmc.dynamics.lif",  # research mode: not exact (DESIGN 1c)
}


def names() -> list[str]:
    """Names accepted by ``SpikingKernel(dynamics=...)``."""
    return list(_MODULES)


def get(name: str):
    """The module implementing dynamics ``name``."""
    if name not in _MODULES:
        valid = ", ".join(map(repr, names()))
        raise ValueError(f"unknown dynamics {name!r}; choose one of {valid}")
    return importlib.import_module(_MODULES[name])
