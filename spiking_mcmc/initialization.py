"""From a NumPyro model (or a potential function) to starting points and a log density.

    model --(NumPyro's initialize_model: transforms to the unconstrained space)--> U(z) = -log p(z)
    l(x) = -U(unravel(x)),  x the flat position the network moves through

The checks here name what is wrong with a model and how to fix it.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import ParamInfo, _transforms_from_trace, initialize_model, transform_fn
from numpyro.util import is_prng_key

from spiking_mcmc import validation
from spiking_mcmc.discrete import model as discrete_model
from spiking_mcmc.dynamics.base import PositionState


class ModelDensity(NamedTuple):
    """What the kernel needs from a model: starting points, and U and the constraining map
    as functions of the model's arguments (None for a bare potential function).
    ``start`` is NumPyro's ParamInfo (z, U(z), grad U(z)) at the starting points when NumPyro
    computed it (no need to evaluate the model there again), else None. ``constrain`` maps
    unconstrained sites to constrained ones by the sites' transforms alone, without running
    the model (as HMC's ``get_constrain_fn``); None when a support depends on other values."""

    init_params: object
    potential_fn_gen: object
    postprocess_fn: object
    constrain: object = None
    start: ParamInfo | None = None
    # discrete units: DiscreteStart (layout, initial values), or None; then
    # potential_fn_gen(*args, **kwargs) is (x, v) -> U(x | v)
    discrete: Any = None


def initialize(kernel, key, init_params, model_args, model_kwargs):
    """Starting points (unconstrained; stacked when ``key`` is a batch of keys) and the density
    of a SpikingKernel's model or potential function."""
    model, potential_fn = kernel.model, kernel._potential_fn
    batch = not is_prng_key(key)
    if model is None:
        first = (
            jax.tree.map(lambda x: x[0], init_params)
            if init_params is not None and batch
            else init_params
        )
        validation.check_init_params(first, potential_fn)
        return ModelDensity(init_params, None, None)
    validation.check_dtype((model_args, model_kwargs), "the model's data")
    try:
        # unmarked discrete sites get spiking units, not enumeration: NumPyro's note is moot
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Some algorithms will automatically enumerate")
            info = initialize_model(
                key,
                model,
                dynamic_args=True,
                init_strategy=kernel._init_strategy,
                model_args=model_args,
                model_kwargs=model_kwargs,
                forward_mode_differentiation=kernel._forward_mode,
            )
    except (RuntimeError, ImportError) as error:
        # a discrete latent site makes NumPyro try enumeration: spiking units sample it
        trace = validation.model_trace(model, model_args, model_kwargs)
        validation.check_model_sites(trace)
        if discrete_model.discrete_sites(trace):
            return with_discrete_units(kernel, key, init_params, model_args, model_kwargs, trace)
        if "Cannot find valid initial parameters" not in str(error):
            raise
        raise validation.ModelError(
            "the model's log density (or its gradient) is not finite at any initial point "
            "tried (100 draws of the init strategy). Check the model for NaN or infinite "
            "log densities (impossible data under the priors, a zero scale, log of a "
            "negative number), or pass init_params / init_strategy=init_to_median()."
        ) from None
    validation.check_model_sites(info.model_trace)
    if discrete_model.discrete_sites(info.model_trace):  # enumerated by NumPyro (funsor)
        trace = info.model_trace
        return with_discrete_units(kernel, key, init_params, model_args, model_kwargs, trace)
    start = None
    if init_params is None:
        start = info.param_info
    elif isinstance(init_params, ParamInfo):
        start = init_params
    if start is not None:
        init_params = start.z
    transforms = _transforms_from_trace(info.model_trace, raise_warnings=False)
    constrain = None
    if not transforms.dynamic_support:
        constrain = functools.partial(transform_fn, transforms.inv_transforms)
    return ModelDensity(init_params, info.potential_fn, info.postprocess_fn, constrain, start)


def with_discrete_units(kernel, key, init_params, model_args, model_kwargs, trace):
    """The density of a model with discrete latent sites: the model conditioned on
    them, their layout and each chain's initial values (:mod:`spiking_mcmc.discrete.model`)."""
    batch = not is_prng_key(key)
    init_params, density, start = discrete_model.initialize(
        kernel.model,
        key,
        init_params,
        kernel._init_strategy,
        model_args,
        model_kwargs,
        batch,
        trace,
        discrete_model.discrete_sites(trace),
        kernel._forward_mode,
    )
    return ModelDensity(
        init_params, density.potential_fn_gen, density.postprocess_fn, discrete=start
    )


def check_start(potential_energy):
    """The density must be finite where each chain starts (when values are concrete)."""
    if validation.is_traced(potential_energy):
        return
    if not bool(jnp.all(jnp.isfinite(potential_energy))):
        raise validation.ModelError(
            f"the log density is not finite at the initial point(s) (potential energy "
            f"{potential_energy}). Pass init_params where the model's density is finite."
        )


def value_and_grad(f, forward_mode: bool = False):
    """x -> (f(x), grad f(x)); by forward-mode autodiff when ``forward_mode`` (models with
    ``lax.while_loop``, which reverse mode cannot differentiate), as NumPyro's HMC does.
    Further arguments (the discrete units' values) pass through; the gradient is in x."""
    if not forward_mode:
        return jax.value_and_grad(f)

    def value_twice(x, *rest):
        value = f(x, *rest)
        return value, value

    def both(x, *rest):
        grad, value = jax.jacfwd(value_twice, has_aux=True)(x, *rest)
        return value, grad

    return both


def log_density_and_grad(potential_fn, unravel, forward_mode: bool = False):
    """x -> (l(x), g(x)) with l(x) = -U(unravel(x)); with discrete units (x, v) ->
    (l(x, v), grad_x l(x, v))."""
    return value_and_grad(
        lambda position, *rest: -potential_fn(unravel(position), *rest), forward_mode
    )


class Chains(NamedTuple):
    """The chains' starting points, flat: positions (C, d), the map back to sites, one point."""

    positions: jax.Array
    unravel: object
    one_point: object


def flatten(init_params, batch: bool, num_chains: int) -> Chains:
    """Flat positions of the starting points (one chain's, or stacked ones when ``batch``)."""
    points = init_params if batch else jax.tree.map(lambda x: x[None], init_params)
    one_point = jax.tree.map(lambda x: x[0], points)
    if not jax.tree.leaves(points):  # no latent site: nothing to sample, as for NUTS
        # jax's unravel of an empty tree is a local lambda; this one pickles with the kernel
        unravel = functools.partial(jax.tree.unflatten, jax.tree.structure(one_point))
        return Chains(jnp.zeros((num_chains, 0)), unravel, one_point)
    positions = jax.vmap(lambda p: ravel_pytree(p)[0])(points)
    return Chains(positions, ravel_pytree(one_point)[1], one_point)


def start_states(density: ModelDensity, positions, batch: bool, logdensity_and_grad, units=None):
    """The chains' PositionState at their starting points: from NumPyro's ParamInfo when it
    has evaluated the model there (no further trace), else by evaluating the density (with
    discrete units: at each chain's values ``units`` (C, m))."""
    if units is not None:
        start = jax.vmap(lambda x, v: PositionState(x, *logdensity_and_grad(x, v)))
        return jax.jit(start)(positions, units)
    if density.start is None:
        return jax.jit(jax.vmap(lambda x: PositionState(x, *logdensity_and_grad(x))))(positions)
    potential_energy, z_grad = density.start.potential_energy, density.start.z_grad
    if not batch:
        # (a model without any sample site has a Python float 0.0 as its potential energy)
        potential_energy, z_grad = jax.tree.map(
            lambda x: jnp.asarray(x)[None], (potential_energy, z_grad)
        )
    flat_grad = jax.vmap(lambda g: ravel_pytree(g)[0], axis_size=positions.shape[0])(z_grad)
    return PositionState(positions, -potential_energy, -flat_grad)


def kernel_log_density(kernel, model_args=None, model_kwargs=None):
    """A SpikingKernel's x -> (l(x), g(x)) for these model arguments (default: the last run's)."""
    if kernel._unravel is None:
        raise ValueError("run the kernel (MCMC.run) before asking for its log density")
    stored_args, stored_kwargs = kernel._model_args or ((), {})
    args = stored_args if model_args is None else model_args
    kwargs = stored_kwargs if model_kwargs is None else model_kwargs
    potential_fn = kernel.get_potential_fn(args, kwargs)
    return log_density_and_grad(potential_fn, kernel._unravel, kernel._forward_mode)


def split_keys(rng_key, batch: bool):
    """(chain keys (C,), the model's init key(s), the sampler's keys (C,)) from MCMC's key:
    one key (a single chain) or C stacked keys (vectorised chains)."""
    split = jax.vmap(lambda k: jax.random.split(k, 3))(rng_key if batch else rng_key[None])
    keys, key_init, key_sampler = jnp.swapaxes(split, 0, 1)
    return keys, key_init if batch else key_init[0], key_sampler
