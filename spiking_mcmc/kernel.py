"""SpikingKernel: a NumPyro MCMC kernel whose Markov chain is a stochastic spiking network.

    mcmc = MCMC(SpikingKernel(model), num_warmup=1000, num_samples=1000, num_chains=4)
    mcmc.run(jax.random.PRNGKey(0), *data);  idata = az.from_numpyro(mcmc)

NumPyro glue only: NumPyro supplies the log density on the unconstrained space (its
transforms, as for NUTS); :mod:`spiking_mcmc.sampler` runs the network and its warmup; this
class converts states (:mod:`spiking_mcmc.state`) and keeps the per-draw fields that ArviZ puts
in ``sample_stats``. It offers the interface NumPyro's HMC offers to its wrappers (``refresh``,
``wrap_model``, ``get_potential_fn``, ``get_constrain_fn``) and is registered as a virtual
subclass of ``numpyro.infer.HMC``, so HMCGibbs, DiscreteHMCGibbs, HMCECS and Gibbs take it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from numpyro.infer import HMC
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import is_prng_key

from spiking_mcmc import initialization, mass, sampler, sharding, validation
from spiking_mcmc import settings as settings_
from spiking_mcmc import state as states
from spiking_mcmc.discrete import block as discrete_block
from spiking_mcmc.discrete import settings as discrete_settings
from spiking_mcmc.dynamics import registry
from spiking_mcmc.dynamics.base import STILL
from spiking_mcmc.network import NetworkAccess
from spiking_mcmc.state import FIELDS, SpikingState
from spiking_mcmc.warmup import ESTIMATORS, WarmupOptions, initial_metric
from spiking_mcmc.wrappers import WrapperInterface

__all__ = ["SpikingKernel", "SpikingState"]


class SpikingKernel(WrapperInterface, NetworkAccess, MCMCKernel):
    """Sample a NumPyro model (or a potential function) with a stochastic spiking network.

    :param model: a NumPyro model (sites are mapped to the unconstrained space, as for NUTS;
        discrete sites of finite support are sampled by spiking units, ``spiking_mcmc.discrete``).
    :param potential_fn: or the negative log density of a pytree (needs ``init_params``).
    :param dynamics: ``"hamiltonian"`` (default: the exact integrate-and-fire Hamiltonian
        network), ``"poisson"`` (exact Poisson network) or ``"lif"`` (leaky integrate-and-fire,
        not exact); ``spiking_mcmc.dynamics.registry.names()`` lists them.
    :param step_size: initial step size (Langevin h for "poisson", whitened leapfrog step).
    :param adapt_step_size: tune it in warmup (dual averaging toward ``target_accept_prob``).
    :param adapt_mass_matrix: learn the posterior covariance (the decoders) in warmup.
    :param dense_mass: dense, diagonal, ``"low_rank"`` (diagonal with a low-rank correction),
        or NumPyro's list of site tuples (dense blocks); None (default): dense up to 200
        unconstrained dimensions, diagonal beyond.
    :param inverse_mass_matrix: initial covariance (vector, matrix, or dict by site tuples).
    :param target_accept_prob: acceptance to aim at (default: the dynamics').
    :param find_heuristic_step_size: search a step size at each warmup window's start.
    :param init_strategy: NumPyro initialisation strategy (default ``init_to_uniform``).
    :param forward_mode_differentiation: forward-mode gradients (``lax.while_loop`` models).
    :param regularize_mass_matrix: shrink the learned covariance toward 1e-3 I (Stan's).
    :param metric_estimator: ``"fisher"`` (positions and gradients), ``"positions"``, ``"halfway"``.
    :param adaptation: ``"per_chain"`` (as NUTS) or ``"cross_chain"`` (one network learned
        from all vectorised chains).
    :param chain_batch_size: advance vectorised chains this many at a time (less memory).
    :param chain_devices: shard vectorised chains over these devices (``jax.sharding``).
    :param discrete: settings of the spiking units of discrete sites (a dict, e.g.
        ``{"refractory_steps": 5}``, or a ``spiking_mcmc.discrete.DiscreteSettings``).
    :param dynamics_options: the dynamics' settings (``registry.get(name).settings``).
    """

    def __init__(
        self,
        model=None,
        potential_fn=None,
        dynamics: str = "hamiltonian",
        step_size: float = 1.0,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        dense_mass=None,
        inverse_mass_matrix=None,
        target_accept_prob: float | None = None,
        find_heuristic_step_size: bool = False,
        init_strategy=init_to_uniform,
        forward_mode_differentiation: bool = False,
        regularize_mass_matrix: bool = True,
        metric_estimator: str = "fisher",
        adaptation: str = "per_chain",
        chain_batch_size: int | None = None,
        chain_devices=None,
        discrete=None,
        **dynamics_options,
    ):
        if (model is None) == (potential_fn is None):
            raise ValueError("give exactly one of model= or potential_fn=")
        spec = registry.get(dynamics)
        self.dynamics_name, self.adaptation = dynamics, adaptation
        self.settings = settings_.make(spec.settings, dynamics_options, f"dynamics={dynamics!r}")
        if target_accept_prob is None:
            target_accept_prob = spec.target_accept_prob
        validation.check_kernel_options(
            step_size, target_accept_prob, dense_mass, adaptation, chain_batch_size, chain_devices
        )
        validation.check_choice("metric_estimator", metric_estimator, ESTIMATORS)
        if not spec.exact:
            validation.warn_inexact(dynamics)
        self.discrete_settings = discrete_settings.from_options(discrete)
        self._model, self._potential_fn = model, potential_fn
        self._step_size, self._init_strategy = step_size, init_strategy
        self._mass = (dense_mass, inverse_mass_matrix)
        self._forward_mode = forward_mode_differentiation
        self._options = dict(
            target_accept_prob=target_accept_prob,
            adapt_step_size=adapt_step_size,
            adapt_mass_matrix=adapt_mass_matrix,
            find_heuristic_step_size=find_heuristic_step_size,
            regularize=regularize_mass_matrix,
            pooled=adaptation == "cross_chain",
            estimator=metric_estimator,
        )
        self._chain_batch_size = chain_batch_size
        self._chain_devices = None if chain_devices is None else list(chain_devices)
        self._reset()

    def _reset(self):
        """Forget what ``init`` built from the model (after ``wrap_model``)."""
        self._sample_fn = self._sampler = self._unravel = self._model_args = None
        self._potential_fn_gen = self._postprocess_fn = self._constrain = None
        self._num_warmup = self._chains_started = 0
        self.discrete_layout = None  # the model's discrete sites, known after init

    # -- NumPyro's MCMCKernel interface -------------------------------------------------------
    model = property(lambda self: self._model)
    sample_field = property(lambda self: "z")
    default_fields = property(lambda self: FIELDS)
    dynamics = property(lambda self: registry.get(self.dynamics_name))

    def get_diagnostics_str(self, state):
        step_size = float(jnp.mean(state.adapt_state.step_size))
        accept, spikes = float(jnp.mean(state.mean_accept_prob)), int(jnp.sum(state.num_spikes))
        return f"{self.dynamics_name} h={step_size:.2e} acc={accept:.2f} spikes={spikes}"

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):
        model_kwargs = {} if model_kwargs is None else model_kwargs
        if not isinstance(num_warmup, int) or num_warmup < 0:
            raise ValueError(f"num_warmup must be a non-negative integer, got {num_warmup!r}")
        batch = not is_prng_key(rng_key)
        keys, key_init, key_sampler = initialization.split_keys(rng_key, batch)
        density = initialization.initialize(self, key_init, init_params, model_args, model_kwargs)
        self._potential_fn_gen, self._postprocess_fn, self._constrain = density[1:4]
        if not validation.is_traced((model_args, model_kwargs)):
            self._model_args = (model_args, model_kwargs)
        positions, self._unravel, one_point = initialization.flatten(
            density.init_params, batch, len(keys)
        )
        self.discrete_layout, block, units = discrete_block.start(
            density.discrete, self.discrete_settings, batch
        )
        dim = positions.shape[-1]
        structure = mass.structure(self._mass[0], dim)
        low_rank, structure = structure == "low_rank", structure != "low_rank" and structure
        layout = None if self._model is None else mass.layout(one_point, structure, self._mass[1])
        dense = layout.any_dense if layout is not None else bool(structure)
        self._num_warmup = num_warmup if dim else 0
        options = WarmupOptions(
            self._num_warmup, dense_mass=dense, layout=layout, low_rank=low_rank, **self._options
        )
        if options.pooled and not batch:
            validation.warn_cross_chain_alone()
        if self._chain_devices is not None:
            sharding.check_devices(self._chain_devices, positions.shape[0])
        spec, settings = (self.dynamics, self.settings) if dim else (STILL, STILL.settings())
        # warnings name sequential chains by their number (read then, not traced)
        self._chain_offset = 0 if batch else self._chains_started
        self._chains_started += 1
        offset = functools.partial(getattr, self, "_chain_offset")
        self._sampler = sampler.build(
            spec, settings, options, self._chain_batch_size, offset, discrete=block
        )
        logdensity_and_grad = self._joint_log_density(model_args, model_kwargs)
        metric = initial_metric(dim, dense, self._mass[1], positions.dtype, layout)
        starts = initialization.start_states(density, positions, batch, logdensity_and_grad, units)
        chain_ids = jnp.arange(len(keys))  # in the batch: the state depends on no earlier run

        def init_all(starts, key, values):
            chain_units = discrete_block.init_chains(block, values, key, positions.dtype)
            first = self._sampler.init(
                starts, logdensity_and_grad, key, self._step_size, metric, chain_ids, chain_units
            )
            return states.initial(first, self._unravel, keys, self._decode)

        state = jax.jit(init_all)(starts, key_sampler[0], units)
        initialization.check_start(state.potential_energy)
        self._sample_fn = self._sample
        if self._chain_devices is not None:
            state = sharding.place(state, self._chain_devices, options.pooled)
        return state if batch else states.as_single(state, options.pooled)

    def sample(self, state, model_args, model_kwargs):
        return self._sample_fn(state, model_args, model_kwargs)

    # -- internals ----------------------------------------------------------------------------
    def _sample(self, state: SpikingState, model_args, model_kwargs) -> SpikingState:
        """One transition of every chain in ``state`` (one chain, or a stack of them)."""
        pooled = self._options["pooled"]
        batch = states.as_batch(state, pooled)
        logdensity_and_grad = self._joint_log_density(model_args, model_kwargs)
        split = jax.vmap(jax.random.split)(batch.rng_key)
        new, infos = self._sampler.step(split[:, 1], states.to_sampler(batch), logdensity_and_grad)
        batch = states.from_sampler(
            new,
            infos,
            split[:, 0],
            self._unravel,
            batch.mean_accept_prob,
            self._num_warmup,
            self._decode,
        )
        if self._chain_devices is not None:
            batch = sharding.constrain(batch, self._chain_devices, pooled)
        return batch if states.is_batch(state) else states.as_single(batch, pooled)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = state["_sampler"] = None
        return state


# NumPyro's HMC wrappers (HMCGibbs, DiscreteHMCGibbs, HMCECS, Gibbs blocks) check
# isinstance(kernel, HMC) and then use only the interface above.
HMC.register(SpikingKernel)
