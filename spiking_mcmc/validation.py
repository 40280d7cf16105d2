"""Checks of user input that name the problem and the way out."""

from __future__ import annotations

import math

import jax
import numpy as np


class ModelError(ValueError):
    """The model (or potential function) cannot be sampled by a spiking network as given."""


def is_traced(value) -> bool:
    """A value under a jax transformation (a kernel built inside ``jax.jit``): not checked."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def check_positive(name: str, value, allow_none: bool = False, allow_zero: bool = False):
    """A finite number > 0 (or >= 0 with ``allow_zero``); names the setting when it is not."""
    if (value is None and allow_none) or is_traced(value):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    ok = number >= 0 if allow_zero else number > 0
    if not (math.isfinite(number) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")


def check_non_negative(name: str, value):
    """A finite number >= 0."""
    check_positive(name, value, allow_zero=True)


def check_probability(name: str, value):
    """A number strictly between 0 and 1."""
    if is_traced(value):
        return
    if not (isinstance(value, int | float | np.floating) and 0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def check_fraction(name: str, value):
    """A number in [0, 1) (a relative jitter)."""
    if is_traced(value):
        return
    if not (isinstance(value, int | float | np.floating) and 0.0 <= float(value) < 1.0):
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")


def check_positive_int(name: str, value, allow_none: bool = False):
    """An integer >= 1 (not a bool); None when ``allow_none``."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive integer{extra}, got {value!r}")


def check_bool(name: str, value):
    """True or False."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_choice(name: str, value, choices):
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


def check_dtype(tree, what: str):
    """Refuse float16/bfloat16 inputs: membrane potentials and cosh terms overflow there."""
    for leaf in jax.tree.leaves(tree):
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and np.dtype(dtype).itemsize < 4 and np.issubdtype(dtype, np.floating):
            raise TypeError(
                f"{what} has dtype {dtype}; the spiking kernel computes in float32 or float64 "
                "(exp and cosh of membrane potentials overflow in 16-bit floats). Cast the "
                "inputs with .astype(jnp.float32)."
            )


def model_trace(model, model_args, model_kwargs):
    """One trace of the model at values from an init strategy (as NumPyro's own
    initialisation draws them: improper priors cannot be sampled)."""
    from numpyro import handlers
    from numpyro.infer.initialization import init_to_uniform

    seeded = handlers.substitute(handlers.seed(model, 0), substitute_fn=init_to_uniform)
    with handlers.block():
        return handlers.trace(seeded).get_trace(*model_args, **model_kwargs)


def check_model_sites(trace):
    """Refuse discrete latent sites (not marked for enumeration) of infinite support, or whose
    elements have different supports, in a model trace; finite ones are sampled by spiking
    units (:mod:`spiking_mcmc.discrete`)."""
    for name, site in trace.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        if site["infer"].get("enumerate") == "parallel":
            continue  # NumPyro's potential marginalises it, as for NUTS
        if site["fn"].support.is_discrete:
            check_finite_support(name, site["fn"])


def check_finite_support(name, fn):
    """A discrete latent site is sampled by spiking units only when its support is finite and
    the same for all of its elements (``enumerate_support``)."""
    from spiking_mcmc.discrete.layout import elementary

    fn = elementary(fn)
    kind = type(fn).__name__
    if not fn.has_enumerate_support:
        raise ModelError(
            f"latent site {name!r} is discrete with infinite support ({kind}); spiking units "
            "sample sites with finitely many values (Bernoulli, Categorical, Binomial, ...). "
            "Marginalise it out in the model (sum over its values with logsumexp and "
            "numpyro.factor), or truncate it: sample a Categorical over 0..N_max with the "
            "truncated, renormalised probabilities (e.g. probs = exp(dist.Poisson(rate)"
            ".log_prob(jnp.arange(N_max + 1))), normalised)."
        )
    try:
        fn.enumerate_support(expand=False)
    except (NotImplementedError, ValueError) as error:
        raise ModelError(
            f"latent site {name!r} ({kind}) has no common support over its elements "
            f"({error or 'enumerate_support is not available'}); give every element the same "
            "support (e.g. one total_count for a Binomial), or split it into sites that do."
        ) from None


def check_kernel_options(
    step_size, target_accept_prob, dense_mass, adaptation, chain_batch_size, chain_devices
):
    """The SpikingKernel's own options (the dynamics' settings check themselves)."""
    check_positive("step_size", step_size)
    check_probability("target_accept_prob", target_accept_prob)
    if not (
        dense_mass is None
        or dense_mass == "low_rank"
        or isinstance(dense_mass, bool)
        or (isinstance(dense_mass, list) and all(isinstance(b, tuple) for b in dense_mass))
    ):
        raise TypeError(
            "dense_mass must be True, False, 'low_rank', None (automatic) or a list of tuples of "
            "site names "
            "(dense blocks), "
            f"got {dense_mass!r}"
        )
    if adaptation not in ("per_chain", "cross_chain"):
        raise ValueError(
            f"adaptation must be one of ('per_chain', 'cross_chain'), got {adaptation!r}"
        )
    if chain_batch_size is not None:
        if isinstance(chain_batch_size, bool) or not isinstance(chain_batch_size, int):
            raise TypeError(f"chain_batch_size must be an integer, got {chain_batch_size!r}")
        check_positive("chain_batch_size", chain_batch_size)
    if chain_devices is not None and not list(chain_devices):
        raise ValueError("chain_devices is empty: pass a list of jax devices or None")


def check_init_params(init_params, potential_fn):
    """Evaluate a raw potential at ``init_params``: shapes must fit and the value be finite."""
    import jax.numpy as jnp

    if init_params is None:
        raise ModelError(
            "a potential_fn needs init_params: pass MCMC.run(key, init_params=...) with a "
            "starting point of the shape potential_fn expects (one per chain, stacked on a "
            "leading axis, for several chains)."
        )
    check_dtype(init_params, "init_params")
    try:
        value = potential_fn(init_params)
    except (TypeError, ValueError) as error:
        shapes = jax.tree.map(jnp.shape, init_params)
        raise ModelError(
            f"potential_fn fails at init_params of shapes {shapes}: {error}. Check that "
            "init_params has the structure and shapes potential_fn expects (for several "
            "chains, a leading axis of length num_chains)."
        ) from error
    if jnp.shape(value) != ():
        raise ModelError(
            f"potential_fn returned shape {jnp.shape(value)} at init_params; it must return "
            "a scalar (the negative log density). For several chains give init_params a "
            "leading axis of length num_chains."
        )
    return value


def warn_cross_chain_alone():
    """Cross-chain warmup asked for where each chain runs alone."""
    import warnings

    warnings.warn(
        "adaptation='cross_chain' with a single chain, or with sequential or parallel chains: "
        "each chain adapts alone (pooling needs chain_method='vectorized' and num_chains > 1)",
        UserWarning,
        stacklevel=3,
    )


def warn_inexact(dynamics: str):
    """A kernel built on a dynamics without a Metropolis step: say so once."""
    import warnings

    from spiking_mcmc.dynamics.base import InexactChainWarning

    warnings.warn(
        f"dynamics={dynamics!r} is NOT an exact MCMC kernel: it has no Metropolis step "
        "(accept_prob is always 1), so its draws are biased (by the time step, the spike size "
        "and the membrane leak). Use it to study the network; use dynamics='hamiltonian' or "
        "'poisson' for inference.",
        InexactChainWarning,
        stacklevel=3,
    )
