"""NumPyro glue for discrete latent sites: the model conditioned on their values.

    l(x, v) = -U(x | s = decode(v))      U: NumPyro's potential of the model conditioned on s
    z       = {continuous sites (unconstrained): x,  discrete sites: their values}

The discrete sites are observed in a conditioned copy of the model (``handlers.condition``
with the values passed through a private keyword argument, as NumPyro's HMCGibbs does), so
NumPyro's ``initialize_model`` gives the continuous sites' transforms, starting points and the
potential U(x | s), and the discrete sites' log probabilities enter U. The discrete values
live in the kernel's state as value indices v (:mod:`spiking_mcmc.discrete.layout`); ``z`` holds
the decoded values, so ``mcmc.get_samples()`` and ``az.from_numpyro`` see every site.

Starting points: each chain's discrete values come from its init strategy's trace (a prior
draw for ``init_to_uniform``), or from ``init_params``; the continuous sites start from
NumPyro's initialisation given one chain's discrete values, and a chain whose own (x, s)
has no finite density takes those values.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer.util import initialize_model

from spiking_mcmc import validation
from spiking_mcmc.discrete.layout import Layout, from_trace

VALUES_KWARG = "_spiking_discrete_values"
MAX_TRIES = 10


def _conditioned_model(model, *args, **kwargs):
    values = kwargs.pop(VALUES_KWARG, {})
    with handlers.condition(data=values):
        return model(*args, **kwargs)


def conditioned(model):
    """The model with its discrete sites observed at ``model_kwargs[VALUES_KWARG]``."""
    return partial(_conditioned_model, model)


class DiscreteStart(NamedTuple):
    """The discrete sites' layout and each chain's initial value indices ((C, m) or (m,))."""

    layout: Layout
    values: jax.Array


class ConditionedDensity(NamedTuple):
    """U(x | s) and the constraining map of the conditioned model, for given model arguments."""

    layout: Layout
    base_potential_fn_gen: object
    base_postprocess_fn: object

    def potential_fn_gen(self, *args, **kwargs):
        """(x as a dict of continuous sites, v) -> U(x | decode(v))."""
        base, layout = self.base_potential_fn_gen, self.layout

        def potential_fn(z, values):
            return base(*args, **kwargs, **{VALUES_KWARG: layout.decode(values)})(z)

        return potential_fn

    def postprocess_fn(self, *args, **kwargs):
        """z (continuous sites unconstrained, discrete sites' values) -> every site constrained
        (deterministic sites included, computed with the discrete values)."""
        base, names = self.base_postprocess_fn, self.layout.names

        def postprocess(z):
            discrete = {name: z[name] for name in names}
            continuous = {name: value for name, value in z.items() if name not in names}
            out = base(*args, **kwargs, **{VALUES_KWARG: discrete})(continuous)
            return {**out, **discrete}

        return postprocess


def _strategy_values(model, key, init_strategy, model_args, model_kwargs, layout: Layout):
    """Value indices of the discrete sites in the init strategy's trace (a prior draw)."""
    seeded = handlers.substitute(handlers.seed(model, key), substitute_fn=init_strategy)
    with handlers.block():
        trace = handlers.trace(seeded).get_trace(*model_args, **model_kwargs)
    return layout.encode({name: trace[name]["value"] for name in layout.names})


def _given_values(init_params, layout: Layout, num_chains, batch):
    """Value indices from ``init_params``' discrete sites, or None when it has none."""
    if not isinstance(init_params, dict) or not any(n in init_params for n in layout.names):
        return None
    missing = [n for n in layout.names if n not in init_params]
    if missing:
        raise validation.ModelError(
            f"init_params gives some discrete sites but not {missing}; give every discrete "
            f"site's value ({list(layout.names)}) or none of them"
        )
    given = {name: init_params[name] for name in layout.names}
    if not batch:
        given = jax.tree.map(lambda x: jnp.asarray(x)[None], given)
    values = jax.vmap(layout.encode)(given)
    inside = jax.vmap(layout.contains)(given)
    if not validation.is_traced(inside) and not bool(jnp.all(inside)):
        raise validation.ModelError(
            "init_params holds a discrete value outside its site's support; give values from "
            "the distribution's enumerate_support()"
        )
    return jnp.broadcast_to(values, (num_chains, layout.num_units))


def initialize(
    model,
    key,
    init_params,
    init_strategy,
    model_args,
    model_kwargs,
    batch,
    trace,
    names,
    forward_mode=False,
):
    """Starting points (continuous part, stacked when ``batch``), the conditioned density and
    each chain's discrete values. Returns (init_params, ConditionedDensity, DiscreteStart)."""
    layout = from_trace(trace, names)
    keys = key if batch else key[None]
    num_chains = keys.shape[0]
    key_values = jax.vmap(lambda k: jax.random.fold_in(k, 16))(keys)
    model_kwargs = dict(model_kwargs)
    values = _given_values(init_params, layout, num_chains, batch)
    if values is None:

        def draw(k):
            return _strategy_values(model, k, init_strategy, model_args, model_kwargs, layout)

        try:
            values = jax.jit(jax.vmap(draw))(key_values)  # one compilation, not op by op
        except jax.errors.JAXTypeError:  # Python control flow on values: one chain at a time
            values = jnp.stack([draw(k) for k in key_values])
    conditioned_model = conditioned(model)
    info = None
    decode = jax.jit(layout.decode)
    for attempt in range(min(MAX_TRIES, num_chains)):
        kwargs = {**model_kwargs, VALUES_KWARG: decode(values[attempt])}
        try:
            info = initialize_model(
                key,
                conditioned_model,
                dynamic_args=True,
                init_strategy=init_strategy,
                model_args=model_args,
                model_kwargs=kwargs,
                forward_mode_differentiation=forward_mode,
            )
        except RuntimeError as error:
            if "Cannot find valid initial parameters" not in str(error):
                raise
            continue
        reference = attempt
        break
    if info is None:
        raise validation.ModelError(
            "the model's log density (or its gradient) is not finite at any initial point "
            f"tried, given the discrete sites' starting values of {min(MAX_TRIES, num_chains)} "
            "chain(s). Check the model for NaN or infinite log densities, or pass init_params "
            "with every site's value (discrete sites: values from enumerate_support())."
        )
    density = ConditionedDensity(layout, info.potential_fn, info.postprocess_fn)
    continuous = info.param_info.z
    if isinstance(init_params, dict):
        given = {k: v for k, v in init_params.items() if k not in layout.names}
        continuous = given or continuous
    stacked = continuous if batch else jax.tree.map(lambda x: jnp.asarray(x)[None], continuous)
    potential_fn = density.potential_fn_gen(*model_args, **model_kwargs)
    values = _finite_values(potential_fn, stacked, values, reference, num_chains)
    return continuous, density, DiscreteStart(layout, values if batch else values[0])


def _finite_values(potential_fn, stacked, values, reference, num_chains):
    """Each chain's values, or the reference chain's where (x_c, s_c) has no finite density."""
    if jax.tree.leaves(stacked):
        energy = jax.jit(jax.vmap(potential_fn))  # one compilation, not op by op
        energies = energy(stacked, values)
        fallback = energy(stacked, jnp.broadcast_to(values[reference], values.shape))
    else:
        energies = jax.jit(jax.vmap(lambda v: potential_fn({}, v)))(values)
        fallback = jnp.broadcast_to(energies[reference], energies.shape)
    if validation.is_traced(energies):
        return values
    finite, fallback_finite = np.isfinite(energies), np.isfinite(fallback)
    if not np.all(finite | fallback_finite):
        raise validation.ModelError(
            f"the log density is not finite at the initial point(s) (potential energy "
            f"{energies}). Pass init_params where the model's density is finite."
        )
    return jnp.where(jnp.asarray(finite)[:, None], values, values[reference][None])


def discrete_sites(trace: dict) -> list:
    """Names of the latent sites with finite discrete support, in trace order."""
    return [
        name
        for name, site in trace.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and site["fn"].support.is_discrete
        and site["infer"].get("enumerate") != "parallel"
    ]
