"""Time an MCMC run as a user waits for it: warmup and sampling, compilation apart.

    compiled = jax.jit(loop).lower(state).compile()      (compilation: timed, reported apart)
    warmup_s  = time(compiled_warmup(state));  sampling_s = time(compiled_sampling(state))

NumPyro's ``MCMC.run`` compiles inside the timed call, so :func:`timed_run` drives any NumPyro
kernel (NUTS, SpikingKernel) through its own ``init`` / ``sample``, chains vectorised, in loops
compiled ahead of time, and counts the gradient evaluations of each phase (the
``num_grad_evals`` field where the kernel has one, else ``num_steps``: NUTS's leapfrog steps).
The two phases are :func:`timed_warmup` and :func:`timed_sampling`, which any jax sampler
(a BlackJAX algorithm, say) can use in the same way: a warmup ``state -> (state, gradients)``
and one transition of every chain ``state -> (state, (position, fields))``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
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


class BudgetExceeded(RuntimeError):
    """A phase ran past its time budget; carries what had been spent."""

    def __init__(self, phase: str, seconds: float, budget_s: float, spent: dict):
        super().__init__(f"{phase} took {seconds:.1f} s, past the budget of {budget_s:.0f} s")
        self.phase, self.seconds, self.budget_s, self.spent = phase, seconds, budget_s, spent


def compile_ahead(fn, *args):
    """(compiled ``fn``, seconds to compile) via jax's ahead-of-time API."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def time_call(fn, *args):
    """(``fn(*args)`` once it is ready, seconds)."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def gradient_field(state) -> str:
    """The per-transition gradient count of a kernel's state."""
    return "num_grad_evals" if hasattr(state, "num_grad_evals") else "num_steps"


def timed_warmup(warmup: Callable, state):
    """Run ``warmup(state) -> (state, gradients per chain)`` compiled ahead of time.

    Returns (state, gradients, warmup seconds, compile seconds)."""
    compiled, compile_s = compile_ahead(warmup, state)
    (state, grads), warmup_s = time_call(compiled, state)
    return state, int(np.sum(np.asarray(grads, np.int64))), warmup_s, compile_s


def timed_sampling(step: Callable, state, num_samples: int, budget_s: float | None = None):
    """``num_samples`` transitions ``step(state) -> (state, (position, fields))`` of every
    chain, scanned in a loop compiled ahead of time.

    With ``budget_s`` the loop runs in ten compiled chunks and raises :class:`BudgetExceeded`
    once the sampling time passes the budget. Returns (state, positions, fields (draw,
    chain, ...), sampling seconds, compile seconds)."""

    def loop(length):
        return lambda state: jax.lax.scan(lambda s, _: step(s), state, None, length=length)

    chunk = num_samples if budget_s is None else math.ceil(num_samples / 10)
    lengths = [chunk] * (num_samples // chunk) + (
        [num_samples % chunk] if num_samples % chunk else []
    )
    compiled, compile_s = {}, 0.0
    outputs, sampling_s = [], 0.0
    for i, length in enumerate(lengths):
        if length not in compiled:
            compiled[length], seconds = compile_ahead(loop(length), state)
            compile_s += seconds
        (state, out), seconds = time_call(compiled[length], state)
        sampling_s += seconds
        outputs.append(out)
        if budget_s is not None and sampling_s > budget_s and i + 1 < len(lengths):
            draws = sum(len(jax.tree.leaves(o)[0]) for o in outputs)
            raise BudgetExceeded(
                "sampling", sampling_s, budget_s, {"draws": draws, "compile_s": compile_s}
            )
    z, fields = jax.tree.map(lambda *parts: jnp.concatenate(parts), *outputs)
    return state, z, fields, sampling_s, compile_s


def by_chain(samples: dict) -> dict:
    """(draw, chain, ...) -> (chain, draw, ...) as numpy arrays."""
    return {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in samples.items()}


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

    def transition(state):
        state = step(state)
        return state, (state.z, {f: getattr(state, f) for f in fields})

    state, warmup_grads, warmup_s, warmup_compile_s = timed_warmup(warmup, state)
    state, z, extra, sampling_s, sample_compile_s = timed_sampling(transition, state, num_samples)
    constrain = kernel.postprocess_fn(model_args, model_kwargs)
    extra = by_chain(extra)
    return TimedRun(
        samples=by_chain(jax.vmap(jax.vmap(constrain))(z)),
        fields=extra,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        compile_s=warmup_compile_s + sample_compile_s,
        warmup_grad_evals=warmup_grads,
        grad_evals=int(np.sum(extra[grad_field], dtype=np.int64)),
        last_state=state,
    )
