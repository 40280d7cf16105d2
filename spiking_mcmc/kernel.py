"""SpikingKernel: a NumPyro MCMC kernel whose Markov chain is a stochastic spiking network.

    mcmc = MCMC(SpikingKernel(model), num_warmup=1000, num_samples=1000, num_chains=4)
    mcmc.run(jax.random.PRNGKey(0), *data);  idata = az.from_numpyro(mcmc)

A thin adapter: NumPyro supplies the log density on the unconstrained space (its transforms,
as for NUTS) and the warmup schedule; the dynamics modules run the network; this class keeps
the state and the per-draw fields that ArviZ puts in ``sample_stats``.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer.hmc_util import HMCAdaptState
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import ParamInfo, initialize_model
from numpyro.util import identity, is_prng_key

from spiking_mcmc import network as net
from spiking_mcmc import validation
from spiking_mcmc.adaptation import covariance_sqrt, make_warmup_adapter
from spiking_mcmc.cross_chain import make_cross_chain_adapter
from spiking_mcmc.dynamics import registry
from spiking_mcmc.dynamics.base import PositionState


class SpikingState(NamedTuple):
    """State of one chain: a plain pytree (it pickles, and a run resumes from it)."""

    i: jax.Array  # transitions made so far, warmup included
    z: Any  # position in unconstrained space (dict of sites, as NumPyro's HMC)
    potential_energy: jax.Array  # -log p(z)
    z_grad: Any  # gradient of the potential energy (dict, as NumPyro's HMC)
    accept_prob: jax.Array
    mean_accept_prob: jax.Array  # running mean; restarts when sampling begins
    num_spikes: jax.Array  # spikes in the last transition (whole population)
    num_grad_evals: jax.Array  # gradient evaluations of the last transition
    num_steps: jax.Array  # integration steps of the last transition
    diverging: jax.Array  # the last proposal's density or gradient was not finite
    biological_time_ms: jax.Array  # duration of the last transition in network time
    adapt_state: HMCAdaptState  # step size, covariance (decoders) and warmup statistics
    rng_key: jax.Array
    tuning: Any = None  # warmup state of the dynamics' own tuning (hamiltonian: trajectory)


ADAPTATIONS = ("per_chain", "cross_chain")

FIELDS = (
    "z",
    "potential_energy",
    "accept_prob",
    "num_spikes",
    "num_grad_evals",
    "num_steps",
    "diverging",
    "biological_time_ms",
)


class SpikingKernel(MCMCKernel):
    """Sample a NumPyro model (or a potential function) with a stochastic spiking network.

    :param model: a NumPyro model with continuous latent sites (constrained sites are mapped to
        the unconstrained space by NumPyro's transforms, as for NUTS).
    :param potential_fn: alternatively, the negative log density of a pytree of parameters
        (then ``MCMC.run(..., init_params=...)`` is required).
    :param dynamics: ``"hamiltonian"`` (default: exact integrate-and-fire Hamiltonian
        network, DESIGN 1b; chosen by the benchmark in the README), ``"poisson"`` (exact
        Poisson network, Langevin family; DESIGN 1a) or
        ``"lif"`` (biophysical leaky integrate-and-fire network, NOT exact; DESIGN 1c).
        ``spiking_mcmc.dynamics.registry.names()`` lists what is available.
    :param step_size: initial step size: h in MALA units for ``"poisson"`` (h = 2 a |d|^2),
        the leapfrog step in whitened units for ``"hamiltonian"``; ignored by ``"lif"``.
    :param adapt_step_size: tune h by dual averaging during warmup.
    :param adapt_mass_matrix: learn the posterior covariance (the decoders) during warmup.
    :param dense_mass: learn a dense covariance (correlated decoders) instead of a diagonal one.
    :param inverse_mass_matrix: initial covariance Sigma (vector: diagonal; matrix: dense).
    :param target_accept_prob: acceptance rate that dual averaging aims at (default per dynamics).
    :param find_heuristic_step_size: search a reasonable h at the start of each warmup window.
    :param init_strategy: NumPyro initialisation strategy (default ``init_to_uniform``).
    :param adaptation: ``"per_chain"`` (default: each chain learns its own step size,
        covariance and trajectory length, as NumPyro's NUTS does) or ``"cross_chain"`` (one
        step size, covariance and trajectory length learned from all chains at once; needs
        ``chain_method="vectorized"``; the many-chain regime, :mod:`spiking_mcmc.cross_chain`).
    :param chain_batch_size: with vectorised chains, advance them this many at a time
        (``jax.lax.map`` with ``batch_size``) to bound the memory of one transition; ``None``
        advances all at once (``vmap``). The draws are the same either way.
    :param chain_devices: shard vectorised chains over these devices (``jax.sharding``: the
        chain axis is split over a one-axis mesh, cross-chain sums become all-reduces); the
        number of chains must be a multiple of their number. ``None``: no sharding.
    :param dynamics_options: settings of the dynamics, its module's ``DEFAULTS`` (for
        ``"poisson"``: ``base_rate_hz``, ``window_ms``, ``max_potential``, ``jitter``,
        ``num_pairs``; for ``"hamiltonian"``: ``spike_quantum``, ``trajectory_length``, ...).
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
        **dynamics_options,
    ):
        if (model is None) == (potential_fn is None):
            raise ValueError("give exactly one of model= or potential_fn=")
        self._dynamics = registry.get(dynamics)
        self.dynamics_name = dynamics
        validation.check_positive("step_size", step_size)
        unknown = set(dynamics_options) - set(self._dynamics.DEFAULTS)
        if unknown:
            raise TypeError(
                f"unknown option(s) {sorted(unknown)} for dynamics={dynamics!r}; valid: "
                f"{sorted(self._dynamics.DEFAULTS)}"
            )
        self.settings = {**self._dynamics.DEFAULTS, **dynamics_options}
        self._dynamics.check_settings(self.settings)
        if target_accept_prob is None:
            target_accept_prob = self._dynamics.TARGET_ACCEPT_PROB
        validation.check_probability("target_accept_prob", target_accept_prob)
        if not isinstance(dense_mass, bool):
            raise TypeError("dense_mass must be True or False")
        self._model = model
        self._potential_fn = potential_fn
        self._step_size = float(step_size)
        self._adapt_step_size = adapt_step_size
        self._adapt_mass_matrix = adapt_mass_matrix
        self._dense_mass = dense_mass
        self._inverse_mass_matrix = inverse_mass_matrix
        self._target_accept_prob = float(target_accept_prob)
        self._find_heuristic_step_size = find_heuristic_step_size
        self._init_strategy = init_strategy
        if adaptation not in ADAPTATIONS:
            raise ValueError(f"adaptation must be one of {ADAPTATIONS}, got {adaptation!r}")
        self.adaptation = adaptation
        if chain_batch_size is not None:
            if isinstance(chain_batch_size, bool) or not isinstance(chain_batch_size, int):
                raise TypeError(f"chain_batch_size must be an integer, got {chain_batch_size!r}")
            validation.check_positive("chain_batch_size", chain_batch_size)
        self._chain_batch_size = chain_batch_size
        self._chain_devices = None if chain_devices is None else list(chain_devices)
        if self._chain_devices is not None and not self._chain_devices:
            raise ValueError("chain_devices is empty: pass a list of jax devices or None")
        self._potential_fn_gen = None
        self._postprocess_fn = None
        self._sample_fn = None
        self._unravel = None
        self._num_warmup = 0
        self._frame = None

    # -- NumPyro's MCMCKernel interface -------------------------------------------------------
    @property
    def model(self):
        return self._model

    @property
    def sample_field(self):
        return "z"

    @property
    def default_fields(self):
        return FIELDS

    def get_diagnostics_str(self, state):
        return (
            f"{self.dynamics_name} h={float(state.adapt_state.step_size):.2e} "
            f"acc={float(state.mean_accept_prob):.2f} spikes={int(state.num_spikes)}"
        )

    def postprocess_fn(self, model_args, model_kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*model_args, **model_kwargs)

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):
        model_kwargs = {} if model_kwargs is None else model_kwargs
        if not isinstance(num_warmup, int) or num_warmup < 0:
            raise ValueError(f"num_warmup must be a non-negative integer, got {num_warmup!r}")
        vectorized = not is_prng_key(rng_key)
        if vectorized:
            rng_key, key_init = jnp.swapaxes(jax.vmap(jax.random.split)(rng_key), 0, 1)
        else:
            rng_key, key_init = jax.random.split(rng_key)
        init_params = self._init_model(key_init, init_params, model_args, model_kwargs)
        potential_fn = self._potential(model_args, model_kwargs)
        one_point = jax.tree.map(lambda x: x[0], init_params) if vectorized else init_params
        flat, self._unravel = ravel_pytree(one_point)
        dim = flat.size
        if dim == 0:
            raise validation.ModelError("the parameters are empty: nothing to sample")
        self._frame = self._dynamics.frame(dim, self.settings)
        self._num_warmup = num_warmup
        logdensity_and_grad = self._logdensity_and_grad(potential_fn)
        make_params = self._make_params
        adapt = num_warmup > 0
        what_to_adapt = {
            # a network without a Metropolis step (lif) has no acceptance rate to tune toward
            "adapt_step_size": self._adapt_step_size
            and adapt
            and getattr(self._dynamics, "EXACT", True),
            "adapt_mass_matrix": self._adapt_mass_matrix and adapt,
            "dense_mass": self._dense_mass,
        }
        wa_init, self._wa_update = make_warmup_adapter(
            max(num_warmup, 1),
            self._dynamics.transition,
            make_params,
            logdensity_and_grad,
            self._target_accept_prob,
            find_heuristic_step_size=self._find_heuristic_step_size,
            **what_to_adapt,
        )

        init_tuning = getattr(self._dynamics, "init_tuning", None)  # optional warmup hook

        def init_adaptation(start: PositionState, key):
            adapt_state = wa_init(
                start,
                key,
                jnp.asarray(self._step_size, start.position.dtype),
                inverse_mass_matrix=self._inverse_mass_matrix,
                mass_matrix_size=dim,
            )
            tuning = init_tuning(start.position, self.settings) if init_tuning else None
            return adapt_state, tuning

        def init_one(params, key, shared_adaptation=False):
            key, key_adapt = jax.random.split(key)
            position = ravel_pytree(params)[0]
            log_density, grad = logdensity_and_grad(position)
            start = PositionState(position, log_density, grad)
            adapt_state, tuning = (None, None)
            if not shared_adaptation:
                adapt_state, tuning = init_adaptation(start, key_adapt)
            zero_i = jnp.zeros((), jnp.int32)
            return SpikingState(
                i=zero_i,
                z=params,
                potential_energy=-log_density,
                z_grad=self._unravel(-grad),
                accept_prob=jnp.zeros((), position.dtype),
                mean_accept_prob=jnp.zeros((), position.dtype),
                num_spikes=zero_i,
                num_grad_evals=zero_i,
                num_steps=zero_i,
                diverging=jnp.array(False),
                biological_time_ms=jnp.zeros((), position.dtype),
                adapt_state=adapt_state,
                rng_key=key,
                tuning=tuning,
            )

        self._check_start(init_params, potential_fn, vectorized)
        if not vectorized:
            if self.adaptation == "cross_chain":
                warnings.warn(
                    "adaptation='cross_chain' pools chains only with chain_method='vectorized' "
                    "and num_chains > 1; with one chain per call (a single chain, sequential or "
                    "parallel chains) each chain adapts alone",
                    UserWarning,
                    stacklevel=2,
                )
            self._sample_fn = self._sample
            return jax.jit(init_one)(init_params, rng_key)
        num_chains = rng_key.shape[0]
        devices = self._chain_devices
        if devices is not None and num_chains % len(devices):
            raise ValueError(
                f"{num_chains} chains cannot be split evenly over {len(devices)} devices: "
                "make num_chains a multiple of the number of chain_devices"
            )
        if self.adaptation == "cross_chain":
            init_shared, self._cross_chain_update = make_cross_chain_adapter(
                num_warmup, self._target_accept_prob, **what_to_adapt
            )

            def init_all(params, keys):
                states = jax.vmap(lambda p, k: init_one(p, k, shared_adaptation=True))(params, keys)
                first = jax.tree.map(lambda x: x[0], states)
                first = self._position(first.z, first.potential_energy, first.z_grad)
                adapt_state, tuning = init_adaptation(first, jax.random.fold_in(keys[0], 1))
                adapt_state = init_shared(adapt_state, num_chains)
                if tuning is not None and hasattr(tuning, "center"):  # the chains' mean
                    center = jnp.mean(jax.vmap(lambda p: ravel_pytree(p)[0])(params), axis=0)
                    tuning = tuning._replace(center=center)
                return states._replace(adapt_state=adapt_state, tuning=tuning)

            state = jax.jit(init_all)(init_params, rng_key)
            self._sample_fn = self._sample_cross_chain
        else:
            state = jax.jit(jax.vmap(init_one))(init_params, rng_key)
            self._sample_fn = self._sample_per_chain
        if devices is not None:
            state = jax.device_put(state, self._chain_shardings(state))
        return state

    def sample(self, state, model_args, model_kwargs):
        return self._sample_fn(state, model_args, model_kwargs)

    # -- the network --------------------------------------------------------------------------
    def get_network(self, state: SpikingState, hessian: bool = True):
        """The network of a (single-chain) state: decoders, rates, window and, at the state's
        position, the recurrent weights W = -1/2 D^T H D (H = Hessian of -log p).

        Returns ``(Network, W)``; W is None when ``hessian`` is False.
        """
        params = self._make_params(
            state.adapt_state.step_size, covariance_sqrt(state.adapt_state.mass_matrix_sqrt_inv)
        )
        if hasattr(params, "network"):
            network = params.network
        elif hasattr(self._dynamics, "network"):
            network = self._dynamics.network(params)
        else:
            raise NotImplementedError(
                f"dynamics={self.dynamics_name!r} does not describe its network as decoders "
                "and rates; get_network supports 'poisson' and 'hamiltonian'"
            )
        if not hessian:
            return network, None
        potential_fn = self._potential(*self._last_args)
        position = ravel_pytree(state.z)[0]
        h = net.hessian_of_potential(lambda x: potential_fn(self._unravel(x)), position)
        return network, net.recurrent_weights(network.decoders, h)

    def save_network(self, path, state: SpikingState):
        """Save what warmup learned (decoders, step size, covariance) for a later kernel."""
        network, _ = self.get_network(state, hessian=False)
        net.save(
            path,
            network,
            step_size=state.adapt_state.step_size,
            inverse_mass_matrix=state.adapt_state.inverse_mass_matrix,
            dynamics=self.dynamics_name,
            settings={k: v for k, v in self.settings.items() if v is not None},
        )

    @classmethod
    def from_saved(cls, path, model=None, potential_fn=None, **kwargs):
        """A kernel that starts from a saved network: its step size and covariance, no warmup
        needed (run with ``num_warmup=0``) though more warmup may refine them."""
        _, saved = net.load(path)
        options = {**saved.get("settings", {}), **kwargs}
        options.setdefault("dynamics", saved.get("dynamics", "poisson"))
        return cls(
            model=model,
            potential_fn=potential_fn,
            step_size=float(saved["step_size"]),
            inverse_mass_matrix=saved["inverse_mass_matrix"],
            **options,
        )

    # -- internals ----------------------------------------------------------------------------
    def _make_params(self, step_size, cov_sqrt):
        return self._dynamics.make_params(step_size, cov_sqrt, self.settings, self._frame)

    def _potential(self, model_args, model_kwargs):
        self._last_args = (model_args, model_kwargs)
        if self._model is not None:
            return self._potential_fn_gen(*model_args, **model_kwargs)
        return self._potential_fn

    def _logdensity_and_grad(self, potential_fn):
        unravel = self._unravel

        def log_density(position):
            return -potential_fn(unravel(position))

        return jax.value_and_grad(log_density)

    def _init_model(self, key, init_params, model_args, model_kwargs):
        if self._model is None:
            validation.check_init_params(
                jax.tree.map(lambda x: x[0], init_params)
                if (init_params is not None and not is_prng_key(key))
                else init_params,
                self._potential_fn,
            )
            return init_params
        validation.check_model_sites(self._model, model_args, model_kwargs)
        validation.check_dtype((model_args, model_kwargs), "the model's data")
        try:
            info = initialize_model(
                key,
                self._model,
                dynamic_args=True,
                init_strategy=self._init_strategy,
                model_args=model_args,
                model_kwargs=model_kwargs,
            )
        except RuntimeError as error:
            if "Cannot find valid initial parameters" not in str(error):
                raise
            raise validation.ModelError(
                "the model's log density (or its gradient) is not finite at any initial point "
                "tried (100 draws of the init strategy). Check the model for NaN or infinite "
                "log densities (impossible data under the priors, a zero scale, log of a "
                "negative number), or pass init_params / init_strategy=init_to_median()."
            ) from None
        self._potential_fn_gen = info.potential_fn
        self._postprocess_fn = info.postprocess_fn
        if init_params is None:
            return info.param_info.z
        return init_params[0] if isinstance(init_params, ParamInfo) else init_params

    def _check_start(self, init_params, potential_fn, vectorized):
        """The density must be finite where each chain starts (when values are concrete)."""
        points = init_params if vectorized else jax.tree.map(lambda x: x[None], init_params)
        try:
            values = jax.vmap(potential_fn)(points)
        except jax.errors.ConcretizationTypeError:
            return
        if isinstance(values, jax.core.Tracer):
            return
        if not bool(jnp.all(jnp.isfinite(values))):
            raise validation.ModelError(
                f"the log density is not finite at the initial point(s) (potential energy "
                f"{values}). Pass init_params where the model's density is finite."
            )

    def _position(self, z, potential_energy, z_grad) -> PositionState:
        return PositionState(ravel_pytree(z)[0], -potential_energy, -ravel_pytree(z_grad)[0])

    def _params(self, adapt_state, tuning):
        params = self._make_params(
            adapt_state.step_size, covariance_sqrt(adapt_state.mass_matrix_sqrt_inv)
        )
        return params if tuning is None else self._dynamics.tune_params(params, tuning)

    def _next_state(self, state, key, position, info, adapt_state, tuning) -> SpikingState:
        """The chain's state after a transition to ``position`` with ``info``."""
        i = state.i + 1
        count = jnp.where(i <= self._num_warmup, i, i - self._num_warmup)
        mean_accept_prob = (
            state.mean_accept_prob + (info.accept_prob - state.mean_accept_prob) / count
        )
        return SpikingState(
            i=i,
            z=self._unravel(position.position),
            potential_energy=-position.log_density,
            z_grad=self._unravel(-position.grad_log_density),
            accept_prob=info.accept_prob,
            mean_accept_prob=mean_accept_prob,
            num_spikes=info.num_spikes.astype(jnp.int32),
            num_grad_evals=info.num_grad_evals.astype(jnp.int32),
            num_steps=info.num_steps.astype(jnp.int32),
            diverging=info.diverging,
            biological_time_ms=info.biological_time_ms,
            adapt_state=adapt_state,
            rng_key=key,
            tuning=tuning,
        )

    def _in_warmup(self, i, update, value):
        """``update(value)`` while transition ``i`` is a warmup one, else ``value``."""
        if self._num_warmup == 0:
            return value
        return jax.lax.cond(i < self._num_warmup, update, lambda v: v, value)

    def _sample(self, state: SpikingState, model_args, model_kwargs):
        """One transition of one chain, with its own warmup adaptation."""
        logdensity_and_grad = self._logdensity_and_grad(self._potential(model_args, model_kwargs))
        key, key_transition = jax.random.split(state.rng_key)
        position = self._position(state.z, state.potential_energy, state.z_grad)
        params = self._params(state.adapt_state, state.tuning)
        position, info = self._dynamics.transition(
            key_transition, position, logdensity_and_grad, params
        )
        adapt_state = self._in_warmup(
            state.i,
            lambda a: self._wa_update(state.i, info.accept_prob, position, a),
            state.adapt_state,
        )
        tuning = state.tuning
        if tuning is not None:
            next_cov_sqrt = covariance_sqrt(adapt_state.mass_matrix_sqrt_inv)
            tuning = self._in_warmup(
                state.i,
                lambda t: self._dynamics.update_tuning(
                    t, state.i, self._num_warmup, position, info, next_cov_sqrt
                ),
                tuning,
            )
        return self._next_state(state, key, position, info, adapt_state, tuning)

    def _over_chains(self, fn, xs):
        """fn mapped over the leading (chain) axis: vmap, or lax.map in chain_batch_size."""
        if self._chain_batch_size is None:
            return jax.vmap(fn)(xs)
        return jax.lax.map(fn, xs, batch_size=self._chain_batch_size)

    def _sample_per_chain(self, states: SpikingState, model_args, model_kwargs):
        """Vectorised chains, each with its own adaptation."""
        states = self._over_chains(lambda s: self._sample(s, model_args, model_kwargs), states)
        return self._constrain(states)

    def _sample_cross_chain(self, states: SpikingState, model_args, model_kwargs):
        """Vectorised chains that share one network: one step size, covariance and (for the
        IF network) trajectory length, adapted from all chains' statistics during warmup."""
        logdensity_and_grad = self._logdensity_and_grad(self._potential(model_args, model_kwargs))
        split = jax.vmap(jax.random.split)(states.rng_key)
        keys, keys_transition = split[:, 0], split[:, 1]
        positions = jax.vmap(self._position)(states.z, states.potential_energy, states.z_grad)
        params = self._params(states.adapt_state, states.tuning)
        if "draw_key" in getattr(params, "_fields", ()):
            params = params._replace(draw_key=jax.random.fold_in(keys_transition[0], 1))

        def transition(key_and_position):
            key, position = key_and_position
            return self._dynamics.transition(key, position, logdensity_and_grad, params)

        positions, infos = self._over_chains(transition, (keys_transition, positions))
        i = states.i[0]
        adapt_state = self._in_warmup(
            i,
            lambda a: self._cross_chain_update(i, infos.accept_prob, positions.position, a),
            states.adapt_state,
        )
        tuning = states.tuning
        if tuning is not None:
            next_cov_sqrt = covariance_sqrt(adapt_state.mass_matrix_sqrt_inv)
            pooled_info = infos._replace(chees_gradient=jnp.mean(infos.chees_gradient))
            mean_position = PositionState(jnp.mean(positions.position, axis=0), None, None)
            tuning = self._in_warmup(
                i,
                lambda t: self._dynamics.update_tuning(
                    t, i, self._num_warmup, mean_position, pooled_info, next_cov_sqrt
                ),
                tuning,
            )
        per_chain = states._replace(adapt_state=None, tuning=None)
        states = jax.vmap(self._next_state, in_axes=(0, 0, 0, 0, None, None))(
            per_chain, keys, positions, infos, None, None
        )
        return self._constrain(states._replace(adapt_state=adapt_state, tuning=tuning))

    def _chain_shardings(self, states: SpikingState):
        """NamedShardings: the chain axis split over ``chain_devices``, shared leaves copied."""
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.array(self._chain_devices), ("chains",))
        split, copied = (
            NamedSharding(mesh, PartitionSpec("chains")),
            NamedSharding(mesh, PartitionSpec()),
        )
        shared = self.adaptation == "cross_chain"
        return SpikingState(
            *(
                jax.tree.map(lambda _: copied if shared else split, value)
                if name in ("adapt_state", "tuning")
                else jax.tree.map(lambda _: split, value)
                for name, value in zip(SpikingState._fields, states, strict=True)
            )
        )

    def _constrain(self, states: SpikingState) -> SpikingState:
        if self._chain_devices is None:
            return states
        return jax.lax.with_sharding_constraint(states, self._chain_shardings(states))

    def chain(self, state: SpikingState, index: int = 0) -> SpikingState:
        """Chain ``index`` of a vectorised state (shared adaptation kept as it is), e.g. for
        :meth:`get_network` or :func:`spiking_mcmc.recording.record_kernel`."""
        if jnp.ndim(state.i) == 0:
            return state
        shared = jnp.ndim(state.adapt_state.step_size) == 0
        pick = jax.tree.map(lambda x: x[index], state._replace(adapt_state=None, tuning=None))
        if shared:
            return pick._replace(adapt_state=state.adapt_state, tuning=state.tuning)
        return pick._replace(
            adapt_state=jax.tree.map(lambda x: x[index], state.adapt_state),
            tuning=jax.tree.map(lambda x: x[index], state.tuning),
        )

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = None
        state["_wa_update"] = None
        state["_cross_chain_update"] = None
        return state
