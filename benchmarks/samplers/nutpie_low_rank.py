"""nutpie's NUTS with its low-rank mass-matrix adaptation, on NumPyro's log density.

    nutpie.sample(from_pyfunc(d, logp, ...), adaptation="low_rank", cores=1)
    logp(x) = jitted jax value_and_grad of l(x) (benchmarks.density), one Python call a gradient

nutpie (Seyboldt, Carlson & Carpenter 2026; github.com/pymc-devs/nutpie) adapts
Sigma = S (I + U diag(lambda - 1) U^T) S by minimising a Fisher divergence. Its sampler is
Rust, and it calls the log density back through Python, so the time a gradient costs here is
bound by that callback: its ESS per gradient is the fair algorithmic figure, its ESS per
second is reported and marked ``callback_bound``.

Timing: chains run one after another (``cores=1``); nutpie asks for one log-density function
per chain, so every call is stamped in its chain's list. A chain's sampling phase is its last
sum(n_steps) calls (n_steps: leapfrog steps of each draw, one gradient each); everything
before, from its first call, is its warmup. Warmup gradients are the warmup draws' n_steps.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from benchmarks.density import constrained_draws, flat_density
from spiking_mcmc.timing import TimedRun, compile_ahead


def _stamped(compiled, dtype, calls: list):
    """nutpie's ``make_logp_fn``: each call makes a chain's logp(x) -> (l, g) that stamps
    (start, end) of every evaluation into a fresh list of ``calls``."""

    def make_logp_fn():
        stamps = []
        calls.append(stamps)

        def logp(x, **_):
            start = time.perf_counter()
            value, grad = compiled(np.asarray(x, dtype))
            value, grad = float(value), np.asarray(grad, np.float64)
            stamps.append((start, time.perf_counter()))
            return value, grad

        return logp

    return make_logp_fn


def _phases(stamps: list, sampling_calls: int, warmup_steps: int):
    """(warmup seconds, sampling seconds) of one chain from its call stamps."""
    if len(stamps) < sampling_calls + warmup_steps:
        raise RuntimeError(
            f"nutpie made {len(stamps)} log-density calls for a chain that reports "
            f"{warmup_steps} + {sampling_calls} leapfrog steps: the calls cannot be assigned to "
            "chains (run with cores=1)"
        )
    boundary = stamps[-sampling_calls - 1][1]  # end of the last warmup call
    return boundary - stamps[0][0], stamps[-1][1] - boundary


def run(posterior, settings, nuts_options: dict) -> tuple[TimedRun, dict]:
    """Warm up and sample ``settings.num_chains`` chains, one after another."""
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    density = flat_density(posterior, jax.random.PRNGKey(settings.seed), settings.num_chains)
    starts = np.asarray(density.positions, np.float64)
    dtype = density.positions.dtype
    compiled, compile_s = compile_ahead(
        jax.value_and_grad(density.logdensity), density.positions[0]
    )
    calls = []
    chain_of_seed = {}

    def initial_point(seed):  # nutpie passes each chain a seed; chain c starts at starts[c]
        chain = chain_of_seed.setdefault(seed, len(chain_of_seed) % len(starts))
        return starts[chain]

    model = from_pyfunc(
        density.dim,
        _stamped(compiled, dtype, calls),
        lambda *_: lambda x, **__: {"x": np.asarray(x, np.float64)},
        [np.dtype("float64")],
        [(density.dim,)],
        ["x"],
        make_initial_point_fn=initial_point,
    )
    trace = nutpie.sample(
        model,
        draws=settings.num_samples,
        tune=settings.num_warmup,
        chains=settings.num_chains,
        cores=1,
        seed=settings.seed,
        adaptation="low_rank",
        target_accept=nuts_options.get("target_accept_prob", 0.8),
        maxdepth=nuts_options.get("max_tree_depth", 10),
        progress_bar=False,
    )
    stats, warmup_stats = trace["sample_stats"], trace["warmup_sample_stats"]
    n_steps = np.asarray(stats["n_steps"], np.int64)  # (chain, draw)
    warmup_steps = np.asarray(warmup_stats["n_steps"], np.int64).sum(axis=1)
    chains = [stamps for stamps in calls if stamps]
    if len(chains) != settings.num_chains:
        raise RuntimeError(f"nutpie used {len(chains)} log-density functions, expected one a chain")
    phases = [
        _phases(stamps, int(n.sum()), int(w))
        for stamps, n, w in zip(chains, n_steps, warmup_steps, strict=True)
    ]
    positions = np.asarray(trace["posterior"]["x"])  # (chain, draw, d)
    fields = {
        "accept_prob": np.asarray(stats["mean_tree_accept"]),
        "diverging": np.asarray(stats["diverging"]),
        "num_steps": n_steps,
    }
    timed = TimedRun(
        samples=constrained_draws(density, positions.astype(dtype)),
        fields=fields,
        warmup_s=sum(w for w, _ in phases),
        sampling_s=sum(s for _, s in phases),
        compile_s=compile_s,
        warmup_grad_evals=int(warmup_steps.sum()),
        grad_evals=int(n_steps.sum()),
        last_state=None,
    )
    notes = {
        "num_warmup": settings.num_warmup,
        "logdensity_calls": sum(len(stamps) for stamps in chains),
        "adaptation": "low_rank",
    }
    return timed, notes
