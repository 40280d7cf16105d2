"""What NumPyro's HMC offers the kernels that wrap it, offered by SpikingKernel alike.

HMCGibbs, DiscreteHMCGibbs, HMCECS and Gibbs blocks hold an inner kernel they check with
``isinstance(kernel, HMC)`` and then call only these: ``postprocess_fn``, ``get_potential_fn``,
``get_constrain_fn`` (unconstrained -> constrained sites), ``refresh`` (U and its gradient
again after the conditioning sites moved) and ``wrap_model`` (the same kernel on
``wrapper(model)``). MixedHMC is refused, as it refuses NUTS: its discrete updates interleave
with the sub-trajectories of HMC's fixed-length leapfrog (it reads HMC's momentum and
trajectory length), which a spiking network does not have; SpikingKernel samples discrete
sites of finite support itself, with spiking units.
"""

from __future__ import annotations

import copy

from numpyro.util import identity

from spiking_mcmc import state as states


class WrapperInterface:
    """The HMC interface of a SpikingKernel (a mixin: it reads the kernel's model and density
    closures, which ``init`` builds)."""

    def postprocess_fn(self, model_args, model_kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*model_args, **model_kwargs)

    def get_potential_fn(self, model_args=(), model_kwargs=None):
        """U(z) = -log p(z) on NumPyro's unconstrained sites, for these model arguments."""
        if self._model is None:
            return self._potential_fn
        if self._potential_fn_gen is None:
            raise RuntimeError("get_potential_fn needs the kernel initialised: run init first")
        return self._potential_fn_gen(*model_args, **(model_kwargs or {}))

    def get_constrain_fn(self, model_args=(), model_kwargs=None, *, return_deterministic=False):
        """Unconstrained site values -> constrained ones (and deterministic sites if asked);
        without running the model unless asked for deterministic sites (as HMC)."""
        if self._model is None:
            return identity
        if not return_deterministic and self._constrain is not None:
            return self._constrain
        postprocess = self.postprocess_fn(model_args, model_kwargs or {})
        if return_deterministic:
            return postprocess
        return lambda z: {k: v for k, v in postprocess(z).items() if k in z}

    def refresh(self, state: states.SpikingState, model_args, model_kwargs):
        """The potential energy and its gradient at the state's position for new arguments
        (what Gibbs wrappers call when the sites a block is conditioned on have moved)."""
        potential_fn = self.get_potential_fn(model_args, model_kwargs)
        return states.refresh(state, potential_fn, self._forward_mode)

    def wrap_model(self, wrapper):
        """A copy bound to ``wrapper(model)``; it rebuilds its closures at its next ``init``."""
        if self._model is None:
            raise ValueError("wrap_model needs a kernel built from a model, not a potential_fn")
        kernel = copy.copy(self)
        kernel._model = wrapper(self._model)
        kernel._reset()
        return kernel

    @property
    def _adapt_step_size(self):
        """Read only by MixedHMC, among NumPyro's wrappers (HMC's private setting)."""
        raise TypeError(
            "MixedHMC needs HMC's fixed-length leapfrog (it refuses NUTS for the same reason). "
            "SpikingKernel samples discrete sites of finite support itself, with spiking "
            "units: use MCMC(SpikingKernel(model)) without the wrapper."
        )
