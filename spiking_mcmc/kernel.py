"""SpikingKernel: a NumPyro MCMC kernel whose Markov chain is a stochastic spiking network.

    mcmc = MCMC(SpikingKernel(model), num_warmup=1000, num_samples=1000, num_chains=4)
    mcmc.run(jax.random.PRNGKey(0), *data);  idata = az.from_numpyro(mcmc)

NumPyro glue only: NumPyro supplies the log density on the unconstrained space (its
transforms, as for NUTS); :mod:`spiking_mcmc.sampler` runs the network and its warmup; this
class converts states (:mod:`spiking_mcmc.state`) and keeps the per-draw fields that ArviZ puts
in ``sample_stats``.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import identity, is_prng_key

from spiking_mcmc import initialization, sampler, sharding, validation
from spiking_mcmc import network as net
from spiking_mcmc import settings as settings_
from spiking_mcmc import state as states
from spiking_mcmc.discrete import block as discrete_block
from spiking_mcmc.discrete import settings as discrete_settings
from spiking_mcmc.dynamics import registry
from spiking_mcmc.dynamics.base import InexactChainWarning
from spiking_mcmc.state import FIELDS, SpikingState
from spiking_mcmc.warmup import WarmupOptions, initial_metric

ADAPTATIONS = ("per_chain", "cross_chain")

__all__ = ["SpikingKernel", "SpikingState"]


class SpikingKernel(MCMCKernel):
    """Sample a NumPyro model (or a potential function) with a stochastic spiking network.

    :param model: a NumPyro model (constrained continuous sites are mapped to the unconstrained
        space by NumPyro's transforms, as for NUTS; discrete sites of finite support are sampled
        by spiking units, :mod:`spiking_mcmc.discrete`).
    :param potential_fn: alternatively, the negative log density of a pytree of parameters
        (then ``MCMC.run(..., init_params=...)`` is required).
    :param dynamics: ``"hamiltonian"`` (default: exact integrate-and-fire Hamiltonian network),
        ``"poisson"`` (exact Poisson network, Langevin family) or ``"lif"`` (biophysical leaky
        integrate-and-fire network, not exact); ``spiking_mcmc.dynamics.registry.names()``.
    :param step_size: initial step size: h in MALA units for ``"poisson"`` (h = 2 a |d|^2),
        the leapfrog step in whitened units for ``"hamiltonian"``; ignored by ``"lif"``.
    :param adapt_step_size: tune it by dual averaging during warmup.
    :param adapt_mass_matrix: learn the posterior covariance (the decoders) during warmup.
    :param dense_mass: learn a dense covariance (correlated decoders) instead of a diagonal one.
    :param inverse_mass_matrix: initial covariance Sigma (vector: diagonal; matrix: dense).
    :param target_accept_prob: acceptance rate dual averaging aims at (default per dynamics).
    :param find_heuristic_step_size: search a reasonable step size at each window's start.
    :param init_strategy: NumPyro initialisation strategy (default ``init_to_uniform``).
    :param adaptation: ``"per_chain"`` (each chain learns its own network, as NumPyro's NUTS
        does) or ``"cross_chain"`` (one network learned from all chains at once; needs
        ``chain_method="vectorized"``).
    :param chain_batch_size: advance vectorised chains this many at a time (``lax.map``) to
        bound the memory of a transition; the draws are the same.
    :param chain_devices: shard vectorised chains over these devices (``jax.sharding``).
    :param discrete: settings of the spiking units that sample the model's discrete latent
        sites (a dict, e.g. ``{"refractory_steps": 5}``, or a
        :class:`~spiking_mcmc.discrete.settings.DiscreteSettings`); see
        :mod:`spiking_mcmc.discrete`.
    :param dynamics_options: the dynamics' settings (``spiking_mcmc.dynamics.registry
        .get(name).settings`` lists them with their defaults).
    """

    def __init__(
        self,
        model=None,
        potential_fn=None,
        dynamics: str = "hamiltonian",
        step_size: float = 1.0,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        dense_mass: bool = False,
        inverse_mass_matrix=None,
        target_accept_prob: float | None = None,
        find_heuristic_step_size: bool = False,
        init_strategy=init_to_uniform,
        adaptation: str = "per_chain",
        chain_batch_size: int | None = None,
        chain_devices=None,
        discrete=None,
        **dynamics_options,
    ):
        if (model is None) == (potential_fn is None):
            raise ValueError("give exactly one of model= or potential_fn=")
        spec = registry.get(dynamics)
        self.dynamics_name = dynamics
        self.settings = settings_.make(spec.settings, dynamics_options, f"dynamics={dynamics!r}")
        validation.check_positive("step_size", step_size)
        if target_accept_prob is None:
            target_accept_prob = spec.target_accept_prob
        validation.check_probability("target_accept_prob", target_accept_prob)
        if not isinstance(dense_mass, bool):
            raise TypeError("dense_mass must be True or False")
        if adaptation not in ADAPTATIONS:
            raise ValueError(f"adaptation must be one of {ADAPTATIONS}, got {adaptation!r}")
        if chain_batch_size is not None:
            if isinstance(chain_batch_size, bool) or not isinstance(chain_batch_size, int):
                raise TypeError(f"chain_batch_size must be an integer, got {chain_batch_size!r}")
            validation.check_positive("chain_batch_size", chain_batch_size)
        if chain_devices is not None and not list(chain_devices):
            raise ValueError("chain_devices is empty: pass a list of jax devices or None")
        if not spec.exact:
            warnings.warn(
                f"dynamics={dynamics!r} is NOT an exact MCMC kernel: it has no Metropolis step "
                "(accept_prob is always 1), so its draws are biased (by the time step, the spike "
                "size and the membrane leak). Use it to study the network; use "
                "dynamics='hamiltonian' or 'poisson' for inference.",
                InexactChainWarning,
                stacklevel=2,
            )
        self.discrete_settings = discrete_settings.from_options(discrete)  # issue 16
        self.discrete_layout = None  # the model's discrete sites, known after init
        self._model, self._potential_fn = model, potential_fn
        self._step_size = step_size
        self._inverse_mass_matrix = inverse_mass_matrix
        self._init_strategy = init_strategy
        self._options = dict(
            target_accept_prob=target_accept_prob,
            adapt_step_size=adapt_step_size,
            adapt_mass_matrix=adapt_mass_matrix,
            dense_mass=dense_mass,
            find_heuristic_step_size=find_heuristic_step_size,
            pooled=adaptation == "cross_chain",
        )
        self.adaptation = adaptation
        self._chain_batch_size = chain_batch_size
        self._chain_devices = None if chain_devices is None else list(chain_devices)
        self._sample_fn = self._sampler = self._unravel = None
        self._potential_fn_gen = self._postprocess_fn = self._model_args = None
        self._num_warmup = 0

    # -- NumPyro's MCMCKernel interface -------------------------------------------------------
    @property
    def model(self):
        return self._model

    @property
    def dynamics(self):
        return registry.get(self.dynamics_name)

    @property
    def sample_field(self):
        return "z"

    @property
    def default_fields(self):
        return FIELDS

    def get_diagnostics_str(self, state):
        step_size = float(jnp.mean(state.adapt_state.step_size))
        accept = float(jnp.mean(state.mean_accept_prob))
        spikes = int(jnp.sum(state.num_spikes))
        return f"{self.dynamics_name} h={step_size:.2e} acc={accept:.2f} spikes={spikes}"

    def postprocess_fn(self, model_args, model_kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*model_args, **model_kwargs)

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):
        model_kwargs = {} if model_kwargs is None else model_kwargs
        if not isinstance(num_warmup, int) or num_warmup < 0:
            raise ValueError(f"num_warmup must be a non-negative integer, got {num_warmup!r}")
        batch = not is_prng_key(rng_key)
        keys = rng_key if batch else rng_key[None]
        keys, key_init, key_sampler = jnp.swapaxes(
            jax.vmap(lambda k: jax.random.split(k, 3))(keys), 0, 1
        )
        density = initialization.initialize(
            self._model,
            self._potential_fn,
            key_init if batch else key_init[0],
            init_params,
            self._init_strategy,
            model_args,
            model_kwargs,
            batch,
        )
        self._potential_fn_gen, self._postprocess_fn = (
            density.potential_fn_gen,
            density.postprocess_fn,
        )
        if not validation.is_traced((model_args, model_kwargs)):
            self._model_args = (model_args, model_kwargs)
        points = (
            density.init_params if batch else jax.tree.map(lambda x: x[None], density.init_params)
        )
        start = density.discrete  # discrete units (issue 16): layout and initial values
        units = None if start is None else (start.values if batch else start.values[None])
        if start is not None and not jax.tree.leaves(points):  # only discrete sites: d = 0
            positions = jnp.zeros((units.shape[0], 0), jnp.result_type(float))
        else:
            positions = jax.vmap(lambda p: ravel_pytree(p)[0])(points)
        self._unravel = ravel_pytree(jax.tree.map(lambda x: x[0], points))[1]
        if positions.shape[-1] == 0 and start is None:
            raise validation.ModelError("the parameters are empty: nothing to sample")
        potential_fn = self._potential(model_args, model_kwargs)
        if start is None:  # (with discrete sites the start was checked with their values)
            initialization.check_start(potential_fn, points)
        self.discrete_layout = None if start is None else start.layout
        block = (
            None if start is None else discrete_block.build(start.layout, self.discrete_settings)
        )
        self._num_warmup = num_warmup
        options = WarmupOptions(num_warmup=num_warmup, **self._options)
        self._sampler = sampler.build(
            self.dynamics, self.settings, options, self._chain_batch_size, block
        )
        if options.pooled and not batch:
            warnings.warn(
                "adaptation='cross_chain' with a single chain, or with sequential or parallel "
                "chains: each chain adapts alone (pooling needs chain_method='vectorized' and "
                "num_chains > 1)",
                UserWarning,
                stacklevel=2,
            )
        if self._chain_devices is not None:
            sharding.check_devices(self._chain_devices, positions.shape[0])
        logdensity_and_grad = initialization.log_density_and_grad(potential_fn, self._unravel)
        metric = initial_metric(
            positions.shape[-1], options.dense_mass, self._inverse_mass_matrix, positions.dtype
        )

        def init_all(positions, key, values):
            chain_units = None
            if values is not None:  # discrete units: clocks drawn from their stationary law
                unit_keys = jax.random.split(jax.random.fold_in(key, 16), values.shape[0])
                chain_units = jax.vmap(
                    lambda v, k: discrete_block.init(block, v, k, positions.dtype)
                )(values, unit_keys)
            sampler_state = self._sampler.init(
                positions, logdensity_and_grad, key, self._step_size, metric, chain_units
            )
            return states.initial(sampler_state, self._unravel, keys, self._decode)

        state = jax.jit(init_all)(positions, key_sampler[0], units)
        self._sample_fn = self._sample
        if self._chain_devices is not None:
            state = sharding.place(state, self._chain_devices, options.pooled)
        return state if batch else states.as_single(state, options.pooled)

    def sample(self, state, model_args, model_kwargs):
        return self._sample_fn(state, model_args, model_kwargs)

    # -- the network --------------------------------------------------------------------------
    def logdensity_and_grad(self, model_args=None, model_kwargs=None):
        """x -> (log p(x), grad log p(x)) on the flat unconstrained space, for the last run's
        model arguments (or the ones given); with discrete sites (x, v) -> (l(x, v), grad_x)."""
        if self._unravel is None:
            raise ValueError("run the kernel (MCMC.run) before asking for its log density")
        stored_args, stored_kwargs = self._model_args or ((), {})
        args = stored_args if model_args is None else model_args
        kwargs = stored_kwargs if model_kwargs is None else model_kwargs
        joint = initialization.log_density_and_grad(self._potential(args, kwargs), self._unravel)
        if self.discrete_layout is None:
            return joint

        def given_units(position, values=None):  # discrete units (issue 16): l(x | v)
            if values is None:
                raise ValueError(
                    "this model has discrete sites: its log density is l(x, v), v the discrete "
                    "units' value indices (state.discrete.values); call f(x, values). The "
                    "discrete units' spikes are per-draw fields (spiking_mcmc.discrete.neural)."
                )
            return joint(position, values)

        return given_units

    def network_params(self, state: SpikingState):
        """The network of one chain's state (the dynamics' params: decoders, step, ...)."""
        return sampler.network_params(self.dynamics, self.settings, states.chain(state).adapt_state)

    def get_network(self, state: SpikingState, hessian: bool = True):
        """(Network, W): decoders and rates of one chain's network and, at its position, the
        recurrent weights W = -1/2 D^T H D (H = Hessian of -log p); W is None without
        ``hessian``."""
        return net.describe(self, states.chain(state), hessian)

    def save_network(self, path, state: SpikingState):
        """Save what warmup learned (decoders, step size, covariance) for a later kernel."""
        net.save_kernel(path, self, states.chain(state))

    @classmethod
    def from_saved(cls, path, model=None, potential_fn=None, **kwargs):
        """A kernel that starts from a saved network: its step size and covariance (run with
        ``num_warmup=0``, or warm up further)."""
        return cls(model=model, potential_fn=potential_fn, **net.saved_kernel_options(path, kwargs))

    def chain(self, state: SpikingState, index: int = 0) -> SpikingState:
        """Chain ``index`` of a vectorised state (for get_network or recording)."""
        return states.chain(state, index)

    # -- internals ----------------------------------------------------------------------------
    def _potential(self, model_args, model_kwargs):
        if self._model is not None:
            return self._potential_fn_gen(*model_args, **model_kwargs)
        return self._potential_fn

    def _decode(self, values):
        """Discrete units' value indices -> the discrete sites' values (issue 16)."""
        return self.discrete_layout.decode(values)

    def _sample(self, state: SpikingState, model_args, model_kwargs) -> SpikingState:
        """One transition of every chain in ``state`` (one chain, or a stack of them)."""
        pooled = self._options["pooled"]
        batch = states.as_batch(state, pooled)
        logdensity_and_grad = initialization.log_density_and_grad(
            self._potential(model_args, model_kwargs), self._unravel
        )
        split = jax.vmap(jax.random.split)(batch.rng_key)
        keys, keys_step = split[:, 0], split[:, 1]
        new, infos = self._sampler.step(keys_step, states.to_sampler(batch), logdensity_and_grad)
        batch = states.from_sampler(
            new, infos, keys, self._unravel, batch.mean_accept_prob, self._num_warmup, self._decode
        )
        if self._chain_devices is not None:
            batch = sharding.constrain(batch, self._chain_devices, pooled)
        return batch if states.is_batch(state) else states.as_single(batch, pooled)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = None
        state["_sampler"] = None
        return state
