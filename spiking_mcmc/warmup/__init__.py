"""Warmup: the step size (dual averaging), the metric (Welford covariance) and a dynamics' own
tuner, over a batch of chains; see :mod:`spiking_mcmc.warmup.adapter`."""

from spiking_mcmc.warmup.adapter import (
    WarmupOptions,
    WarmupState,
    build,
    initial_metric,
    restart,
)

__all__ = ["WarmupOptions", "WarmupState", "build", "initial_metric", "restart"]
