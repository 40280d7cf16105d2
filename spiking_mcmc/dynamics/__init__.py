"""Network dynamics: pure functions ``transition(key, state, logdensity_and_grad, params)``.

Each dynamics module defines ``Params`` (a NamedTuple), ``make_params(step_size,
covariance_sqrt, settings)`` and ``transition`` returning ``(PositionState, info)``, where
``info`` carries at least the fields of :class:`~spiking_mcmc.dynamics.base.TransitionInfo`.
"""
