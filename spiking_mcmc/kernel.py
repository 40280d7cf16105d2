"""SpikingKernel: a NumPyro MCMC kernel whose Markov chain is a stochastic spiking network.

    mcmc = MCMC(SpikingKernel(model), num_warmup=1000, num_samples=1000, num_chains=4)
    mcmc.run(jax.random.PRNGKey(0), *data);  idata = az.from_numpyro(mcmc)

A thin adapter: NumPyro supplies the log density on the unconstrained space (its transforms,
as for NUTS) and the warmup schedule; the dynamics modules run the network; this class keeps
the state and the per-draw fields that ArviZ puts in ``sample_stats``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.infer.hmc_util import HMCAdaptState
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import ParamInfo, initialize_model
from numpyro.util import identity, is_prng_key

from spiking_mcmc import network as net
from spiking_mcmc import validation
from spiking_mcmc.adaptation import covariance_sqrt, make_warmup_adapter
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
        wa_init, self._wa_update = make_warmup_adapter(
            max(num_warmup, 1),
            self._dynamics.transition,
            make_params,
            logdensity_and_grad,
            self._target_accept_prob,
            # a network without a Metropolis step (lif) has no acceptance rate to tune toward
            adapt_step_size=self._adapt_step_size
            and adapt
            and getattr(self._dynamics, "EXACT", True),
            adapt_mass_matrix=self._adapt_mass_matrix and adapt,
            dense_mass=self._dense_mass,
            find_heuristic_step_size=self._find_heuristic_step_size,
        )

        init_tuning = getattr(self._dynamics, "init_tuning", None)  # optional warmup hook

        def init_one(params, key):
            key, key_adapt = jax.random.split(key)
            position = ravel_pytree(params)[0]
            log_density, grad = logdensity_and_grad(position)
            start = PositionState(position, log_density, grad)
            adapt_state = wa_init(
                start,
                key_adapt,
                jnp.asarray(self._step_size, position.dtype),
                inverse_mass_matrix=self._inverse_mass_matrix,
                mass_matrix_size=dim,
            )
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
                tuning=init_tuning(position, self.settings) if init_tuning else None,
            )

        self._check_start(init_params, potential_fn, vectorized)
        if vectorized:
            state = jax.jit(jax.vmap(init_one))(init_params, rng_key)
            self._sample_fn = jax.vmap(self._sample, in_axes=(0, None, None))
        else:
            state = jax.jit(init_one)(init_params, rng_key)
            self._sample_fn = self._sample
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

    def _sample(self, state: SpikingState, model_args, model_kwargs):
        potential_fn = self._potential(model_args, model_kwargs)
        logdensity_and_grad = self._logdensity_and_grad(potential_fn)
        key, key_transition = jax.random.split(state.rng_key)
        position = PositionState(
            ravel_pytree(state.z)[0],
            -state.potential_energy,
            -ravel_pytree(state.z_grad)[0],
        )
        adapt_state = state.adapt_state
        params = self._make_params(
            adapt_state.step_size, covariance_sqrt(adapt_state.mass_matrix_sqrt_inv)
        )
        tuning = state.tuning
        if tuning is not None:
            params = self._dynamics.tune_params(params, tuning)
        position, info = self._dynamics.transition(
            key_transition, position, logdensity_and_grad, params
        )
        if self._num_warmup > 0:
            adapt_state = jax.lax.cond(
                state.i < self._num_warmup,
                lambda a: self._wa_update(state.i, info.accept_prob, position, a),
                lambda a: a,
                adapt_state,
            )
        if tuning is not None and self._num_warmup > 0:
            next_cov_sqrt = covariance_sqrt(adapt_state.mass_matrix_sqrt_inv)
            tuning = jax.lax.cond(
                state.i < self._num_warmup,
                lambda t: self._dynamics.update_tuning(
                    t, state.i, self._num_warmup, position, info, next_cov_sqrt
                ),
                lambda t: t,
                tuning,
            )
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

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = None
        state["_wa_update"] = None
        return state
