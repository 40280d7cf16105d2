"""Settings of a dynamics: a frozen dataclass whose fields carry their own validator.

    @dataclasses.dataclass(frozen=True)
    class PoissonSettings(Settings):
        window_ms: float = setting(10.0, check_positive)

Every dynamics' settings are checked in one place (:meth:`Settings.__post_init__`) by the
shared validators of :mod:`spiking_mcmc.validation`; traced values (a kernel built inside
``jax.jit``) pass unchecked. :func:`make` builds settings from keyword options and names the
valid ones when an option is unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def setting(default: Any, check: Callable[[str, Any], None] | None = None, **check_options):
    """A dataclass field with a default and a validator ``check(name, value, **check_options)``."""
    return dataclasses.field(default=default, metadata={"check": check, "options": check_options})


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base class: validates every field that declares a check."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check = field.metadata.get("check")
            if check is not None:
                check(field.name, getattr(self, field.name), **field.metadata["options"])
        self.check()

    def check(self):
        """Checks that involve several fields (override)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def names(settings_class) -> list[str]:
    """The option names a settings class accepts."""
    return [field.name for field in dataclasses.fields(settings_class)]


def make(settings_class, options: dict, what: str):
    """``settings_class(**options)``, with a TypeError that lists the valid options."""
    unknown = sorted(set(options) - set(names(settings_class)))
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for {what}; valid: {sorted(names(settings_class))}"
        )
    return settings_class(**options)
