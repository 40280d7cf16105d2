"""Network dynamics, each a :class:`~spiking_mcmc.dynamics.base.Dynamics`: pure
``transition(key, state, logdensity_and_grad, params, shared_key) -> (state, info)`` functions
with their settings, parameters and optional warmup tuner; :mod:`.registry` holds them by name.
"""
