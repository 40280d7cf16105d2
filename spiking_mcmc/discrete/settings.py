"""Settings of the discrete units (``SpikingKernel(model, discrete={...})``).

refractory_steps: tau, the steps a spike holds a unit's value (1: a heat-bath update)
step_ms: biological duration of one step of every unit (one sweep, one draw)
update: "sequential" (exact: one unit at a time) or "synchronous" (NOT exact: all at once)
"""

from __future__ import annotations

import dataclasses
import warnings

from spiking_mcmc.discrete import sweep
from spiking_mcmc.dynamics.base import InexactChainWarning
from spiking_mcmc.settings import Settings, make, setting
from spiking_mcmc.validation import check_choice, check_positive, check_positive_int


@dataclasses.dataclass(frozen=True)
class DiscreteSettings(Settings):
    """refractory_steps: tau (a spike holds the value tau steps; 1 = heat-bath / Gibbs);
    step_ms: biological duration of one step (one sweep of the units per draw);
    update: "sequential" (exact) or "synchronous" (inexact negative control)."""

    refractory_steps: int = setting(1, check_positive_int)
    step_ms: float = setting(1.0, check_positive)
    update: str = setting("sequential", check_choice, choices=tuple(sweep.RULES))


def from_options(options) -> DiscreteSettings:
    """``None``, a dict of options, or a :class:`DiscreteSettings`; warns for an inexact rule."""
    if options is None:
        settings = DiscreteSettings()
    elif isinstance(options, DiscreteSettings):
        settings = options
    elif isinstance(options, dict):
        settings = make(DiscreteSettings, options, "discrete=")
    else:
        raise TypeError(
            f"discrete= takes a dict of options or a DiscreteSettings, got {options!r}; valid "
            "options: refractory_steps, step_ms, update"
        )
    if not sweep.EXACT[settings.update]:
        warnings.warn(
            f"discrete update={settings.update!r} is NOT exact: every unit steps from the same "
            "membrane potentials, so coupled units are sampled from the wrong distribution. "
            "It is the negative control of the exactness check; use update='sequential'.",
            InexactChainWarning,
            stacklevel=3,
        )
    return settings
