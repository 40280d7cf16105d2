"""A benchmark posterior as a flat log density: what a sampler outside NumPyro is given.

    l(x) = -U(unravel(x)),  x in R^d the model's unconstrained parameters (NumPyro's transforms)
    constrain(x) = the model's sites at x, constrained, with its deterministic sites

Every peer (nutpie, BlackJAX) samples the same l(x) as NUTS and the spiking kernel, and starts
its chains where they do (the posterior's init strategy, one draw per chain).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
from jax.flatten_util import ravel_pytree


class FlatDensity(NamedTuple):
    """l(x) and where each chain starts; ``constrain`` maps one x to the model's sites."""

    logdensity: Callable  # x (d,) -> l(x)
    positions: jax.Array  # (chains, d)
    constrain: Callable  # x (d,) -> {site: value}

    @property
    def dim(self) -> int:
        return self.positions.shape[-1]


def flat_density(posterior, key, num_chains: int, init_strategy=None) -> FlatDensity:
    """The posterior's unconstrained log density and ``num_chains`` starting points, drawn by
    ``init_strategy`` (default: NumPyro's MCMC default, ``init_to_uniform``, as for every
    MCMC method)."""
    from numpyro.infer import init_to_uniform
    from numpyro.infer.util import initialize_model

    keys = jax.random.split(key, num_chains)
    info = initialize_model(
        keys,
        posterior.model,
        init_strategy=init_to_uniform if init_strategy is None else init_strategy,
        model_args=posterior.args,
        model_kwargs=posterior.kwargs,
    )
    z = info.param_info.z
    unravel = ravel_pytree(jax.tree.map(lambda v: v[0], z))[1]
    positions = jax.vmap(lambda tree: ravel_pytree(tree)[0])(z)

    def logdensity(x):
        return -info.potential_fn(unravel(x))

    def constrain(x):
        return info.postprocess_fn(unravel(x))

    return FlatDensity(logdensity, positions, constrain)


def constrained_draws(density: FlatDensity, positions) -> dict:
    """{site: (chain, draw, ...)} from flat positions (chain, draw, d)."""
    import numpy as np

    samples = jax.vmap(jax.vmap(density.constrain))(positions)
    return {k: np.asarray(v) for k, v in samples.items()}


def blackjax_run(
    density, positions, fields, grad_field, warmup_s, sampling_s, compile_s, warmup_grads
):
    """The TimedRun of a BlackJAX sampler timed by ``spiking_mcmc.timing``: draws (T, C, d)
    and per-draw fields (T, C) from its scan, gradients counted by ``fields[grad_field]``."""
    import jax.numpy as jnp
    import numpy as np

    from spiking_mcmc.timing import TimedRun, by_chain

    fields = by_chain(fields)
    return TimedRun(
        samples=constrained_draws(density, jnp.swapaxes(positions, 0, 1)),
        fields=fields,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        compile_s=compile_s,
        warmup_grad_evals=warmup_grads,
        grad_evals=int(np.sum(fields[grad_field], dtype=np.int64)),
        last_state=None,
    )
