"""From a NumPyro model (or a potential function) to starting points and a log density.

    model --(NumPyro's initialize_model: transforms to the unconstrained space)--> U(z) = -log p(z)
    l(x) = -U(unravel(x)),  x the flat position the network moves through

The checks here name what is wrong with a model and how to fix it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from numpyro.infer.util import ParamInfo, initialize_model

from spiking_mcmc import validation
from spiking_mcmc.discrete import model as discrete_model


class ModelDensity(NamedTuple):
    """What the kernel needs from a model: starting points, and U and the constraining map
    as functions of the model's arguments (None for a bare potential function)."""

    init_params: object
    potential_fn_gen: object
    postprocess_fn: object
    # discrete units (issue 16): DiscreteStart (layout, initial values), or None; then
    # potential_fn_gen(*args, **kwargs) is (x, v) -> U(x | v)
    discrete: Any = None


def initialize(
    model, potential_fn, key, init_params, init_strategy, model_args, model_kwargs, batch
):
    """Starting points (unconstrained; stacked when ``batch``) and the model's density."""
    if model is None:
        first = (
            jax.tree.map(lambda x: x[0], init_params)
            if init_params is not None and batch
            else init_params
        )
        validation.check_init_params(first, potential_fn)
        return ModelDensity(init_params, None, None)
    trace = validation.check_model_sites(model, model_args, model_kwargs)
    validation.check_dtype((model_args, model_kwargs), "the model's data")
    names = discrete_model.discrete_sites(trace)
    if names:  # discrete units (issue 16): the model conditioned on the discrete sites
        init_params, density, start = discrete_model.initialize(
            model, key, init_params, init_strategy, model_args, model_kwargs, batch, trace, names
        )
        return ModelDensity(init_params, density.potential_fn_gen, density.postprocess_fn, start)
    try:
        info = initialize_model(
            key,
            model,
            dynamic_args=True,
            init_strategy=init_strategy,
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
    if init_params is None:
        init_params = info.param_info.z
    elif isinstance(init_params, ParamInfo):
        init_params = init_params.z
    return ModelDensity(init_params, info.potential_fn, info.postprocess_fn)


def check_start(potential_fn, points, *rest):
    """The density must be finite where each chain starts (when values are concrete);
    ``rest``: further per-chain arguments of the potential (the discrete values)."""
    try:
        values = jax.vmap(potential_fn)(points, *rest)
    except jax.errors.ConcretizationTypeError:
        return
    if validation.is_traced(values):
        return
    if not bool(jnp.all(jnp.isfinite(values))):
        raise validation.ModelError(
            f"the log density is not finite at the initial point(s) (potential energy "
            f"{values}). Pass init_params where the model's density is finite."
        )


def log_density_and_grad(potential_fn, unravel):
    """x -> (l(x), g(x)) with l(x) = -U(unravel(x)); with discrete units (x, v) -> (l(x, v),
    grad_x l(x, v)) (the gradient is always with respect to x)."""
    return jax.value_and_grad(lambda position, *rest: -potential_fn(unravel(position), *rest))
