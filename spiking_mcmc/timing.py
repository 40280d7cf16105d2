"""Time an MCMC kernel as a user waits for it: warmup and sampling, compilation apart.

    compiled = jax.jit(loop).lower(state).compile()      (compilation: timed, reported apart)
    warmup_s  = time(compiled_warmup(state));  sampling_s = time(compiled_sampling(state))

NumPyro's ``MCMC.run`` compiles inside the timed call, so this drives any NumPyro kernel (NUTS,
SpikingKernel) through its own ``init`` / ``sample``, chains vectorised, in loops compiled
ahead of time, and counts the gradient evaluations of each phase (the ``num_grad_evals`` field
where the kernel has one, else ``num_steps``: NUTS's leapfrog steps).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class TimedRun(NamedTuple):
    """A run's draws and what it cost."""

    samples: dict  # constrained sites, (chain, draw, ...)
    fields: dict  # per-draw fields, (chain, draw)
    warmup_s: float
    sampling_s: float
    compile_s: float
    warmup_grad_evals: int
    grad_evals: int  # of the sampling phase
    last_state: object


def gradient_field(state) -> str:
    """The per-transition gradient count of a kernel's state."""
    return "num_grad_evals" if hasattr(state, "num_grad_evals") else "num_steps"


def _compiled(fn, *args):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def _timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def timed_run(
    kernel,
    key,
    num_warmup: int,
    num_samples: int,
    num_chains: int,
    model_args=(),
    model_kwargs=None,
    fields=("accept_prob", "diverging"),
) -> TimedRun:
    """Warm up and sample ``num_chains`` vectorised chains of ``kernel`` (a NumPyro kernel)."""
    model_kwargs = {} if model_kwargs is None else model_kwargs
    keys = jax.random.split(key, num_chains)
    state = kernel.init(keys, num_warmup, None, model_args, model_kwargs)
    grad_field = gradient_field(state)
    fields = tuple(dict.fromkeys((*fields, grad_field)))

    def step(state):
        return kernel.sample(state, model_args, model_kwargs)

    def warmup(state):
        def body(_, carry):
            state, grads = carry  # per chain: int32 does not overflow
            state = step(state)
            return state, grads + getattr(state, grad_field)

        grads = jnp.zeros((num_chains,), jnp.int32)
        return jax.lax.fori_loop(0, num_warmup, body, (state, grads))

    def sample(state):
        def body(state, _):
            state = step(state)
            return state, (state.z, {f: getattr(state, f) for f in fields})

        return jax.lax.scan(body, state, None, length=num_samples)

    warmup_compiled, warmup_compile_s = _compiled(warmup, state)
    (state, warmup_grads), warmup_s = _timed(warmup_compiled, state)
    sample_compiled, sample_compile_s = _compiled(sample, state)
    (state, (z, extra)), sampling_s = _timed(sample_compiled, state)

    constrain = kernel.postprocess_fn(model_args, model_kwargs)
    samples = jax.vmap(jax.vmap(constrain))(z)  # (draw, chain, ...)
    samples = {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in samples.items()}
    extra = {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in extra.items()}
    return TimedRun(
        samples=samples,
        fields=extra,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        compile_s=warmup_compile_s + sample_compile_s,
        warmup_grad_evals=int(np.sum(np.asarray(warmup_grads, np.int64))),
        grad_evals=int(np.sum(extra[grad_field], dtype=np.int64)),
        last_state=state,
    )
