"""Run one method on one posterior and time it honestly.

NumPyro's ``MCMC.run`` compiles on every call, so the harness drives every MCMC kernel (NUTS
and the spiking kernel alike) through the kernel's own ``init`` / ``sample`` in loops compiled
ahead of time (``jax.jit(...).lower(...).compile()``), chains vectorised, and times only the
execution of the compiled warmup loop and of the compiled sampling loop. VI's optimisation
loop is compiled and timed the same way. Compilation is reported separately.
"""

import time
import warnings
from dataclasses import dataclass, field

import jax
import numpy as np

from benchmarks import metrics

TIMING_METHOD = (
    "every method: loops compiled ahead of time (jax lower().compile()), execution timed; "
    "MCMC chains vectorised; compilation reported separately"
)

MCMC_METHODS = ("spiking-poisson", "spiking-hamiltonian", "spiking-lif", "nuts")
VI_METHODS = ("vi-normal", "vi-mvn")
METHODS = MCMC_METHODS + VI_METHODS
# no Metropolis step: biased by construction, run on request only (its max |z| and |sd - 1|
# are its bias); not in the default method lists of ``spiking-mcmc bench`` and compare_all.py
INEXACT_METHODS = ("spiking-lif",)
DEFAULT_METHODS = tuple(x for x in METHODS if x not in INEXACT_METHODS)


@dataclass
class Settings:
    num_chains: int = 4
    num_warmup: int = 1000
    num_samples: int = 1000
    seed: int = 0
    # the Poisson network makes one gradient per draw: give it more draws and warmup steps
    poisson_draws_factor: int = 10
    poisson_warmup_factor: int = 5
    vi_steps: int = 5000
    vi_learning_rate: float = 0.01
    vi_draws: int = 4000
    chain_method: str = "vectorized"
    error_fractions: tuple = (0.05, 0.1, 0.2, 0.5, 1.0)
    # keyword arguments of SpikingKernel for the spiking methods (e.g. adaptation="cross_chain")
    spiking_options: dict = field(default_factory=dict)


def nuts_options(name: str) -> dict:
    """NUTS settings known to pass the posterior's reference check (its ``NUTS_CHECK``)."""
    from models.nuts_check import nuts_settings

    settings = nuts_settings(name)
    return {
        k: settings[k]
        for k in ("dense_mass", "target_accept_prob", "max_tree_depth")
        if k in settings
    }


def make_kernel(method: str, posterior, dense_mass: bool, spiking_options=None):
    from numpyro.infer import NUTS

    from models.nuts_check import init_strategy
    from spiking_mcmc import SpikingKernel

    start = init_strategy(posterior.name)  # the module's INIT_VALUES, else init_to_uniform
    if method == "nuts":  # the same mass-matrix structure as the spiking kernels get
        options = {**nuts_options(posterior.name), "dense_mass": dense_mass}
        return NUTS(posterior.model, init_strategy=start, **options)
    dynamics = method.removeprefix("spiking-")
    return SpikingKernel(
        posterior.model,
        dynamics=dynamics,
        dense_mass=dense_mass,
        init_strategy=start,
        **(spiking_options or {}),
    )


def exact_by_construction(method: str) -> bool:
    """Whether a method's chain targets the posterior exactly (False for the LIF network)."""
    if not method.startswith("spiking-"):
        return True
    from spiking_mcmc.dynamics import registry

    return registry.get(method.removeprefix("spiking-")).exact


def available_methods(default_only: bool = False) -> list[str]:
    """Methods whose dynamics are registered; ``default_only`` leaves out INEXACT_METHODS."""
    from spiking_mcmc.dynamics import registry

    names = DEFAULT_METHODS if default_only else METHODS
    return [
        x
        for x in names
        if not x.startswith("spiking-") or x.removeprefix("spiking-") in registry.names()
    ]


def _ratio(numerator, denominator):
    """numerator / denominator, or None when the denominator is 0 (a chain that never moved:
    no gradient after a move, no effective draw)."""
    return None if not denominator else numerator / denominator


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return out, time.perf_counter() - start


def _compiled(fn, *args):
    """(compiled fn, seconds to compile) via jax's ahead-of-time API."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


NUTS_FIELDS = ("accept_prob", "num_steps", "diverging", "potential_energy")
SPIKING_FIELDS = (
    "accept_prob",
    "num_steps",
    "num_grad_evals",
    "num_spikes",
    "biological_time_ms",
    "diverging",
    "potential_energy",
)


def run_mcmc(method: str, posterior, settings: Settings):
    """Warmup and sampling loops, compiled ahead of time; returns (record, idata).

    The LIF network warns that it is not exact (InexactChainWarning) whenever it is traced;
    here the warning is silenced and the record says so instead (``exact_by_construction``).
    """
    from spiking_mcmc.dynamics.lif import InexactChainWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactChainWarning)
        return _run_mcmc(method, posterior, settings)


def _run_mcmc(method: str, posterior, settings: Settings):
    dense_mass = nuts_options(posterior.name).get("dense_mass", posterior.dimension <= 64)
    kernel = make_kernel(method, posterior, dense_mass, settings.spiking_options)
    poisson = method == "spiking-poisson"
    num_samples = settings.num_samples * (settings.poisson_draws_factor if poisson else 1)
    num_warmup = settings.num_warmup * (settings.poisson_warmup_factor if poisson else 1)
    fields = NUTS_FIELDS if method == "nuts" else SPIKING_FIELDS
    args, kwargs = posterior.args, posterior.kwargs
    keys = jax.random.split(jax.random.PRNGKey(settings.seed), settings.num_chains)
    state = kernel.init(keys, num_warmup, None, args, kwargs)

    def step(state):
        return kernel.sample(state, args, kwargs)

    def warmup(state):
        return jax.lax.fori_loop(0, num_warmup, lambda _, s: step(s), state)

    def sample(state):
        def body(state, _):
            state = step(state)
            return state, (state.z, {f: getattr(state, f) for f in fields})

        return jax.lax.scan(body, state, None, length=num_samples)

    warmup_compiled, warmup_compile_s = _compiled(warmup, state)
    state, warmup_s = _timed(warmup_compiled, state)
    sample_compiled, sample_compile_s = _compiled(sample, state)
    (state, (z, extra)), sampling_s = _timed(sample_compiled, state)

    constrain = kernel.postprocess_fn(args, kwargs)
    samples = jax.vmap(jax.vmap(constrain))(z)  # (draw, chain, ...)
    samples = {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in samples.items()}
    extra = {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in extra.items()}
    draws = posterior.stan_draws(samples)
    grads = int(np.sum(extra["num_steps"] if method == "nuts" else extra["num_grad_evals"]))
    record = metrics.summarize(draws, posterior.reference)
    min_ess = record["min_ess_bulk"]
    record.update(
        exact_by_construction=exact_by_construction(method),
        num_warmup=num_warmup,
        num_samples=num_samples,
        dense_mass=bool(dense_mass),
        grad_evals=grads,
        ess_per_grad=_ratio(min_ess, grads),
        ess_per_s=min_ess / sampling_s,
        compile_s=warmup_compile_s + sample_compile_s,
        sampling_s=sampling_s,
        warmup_s=warmup_s,
        divergences=int(np.sum(extra["diverging"])),
        mean_accept_prob=float(np.mean(extra["accept_prob"])),
    )
    if method.startswith("spiking"):
        spikes = float(np.sum(extra["num_spikes"]))
        record.update(
            spikes_per_ess=_ratio(spikes, min_ess),
            biological_ms_per_ess=_ratio(float(np.sum(extra["biological_time_ms"])), min_ess),
            spikes_per_draw=spikes / extra["num_spikes"].size,
        )
    record["error_curve"] = [
        [
            warmup_s + sampling_s * n / num_samples,
            *metrics.error_of({k: v[:, :n] for k, v in draws.items()}, posterior.reference),
        ]
        for n in (max(2, int(f * num_samples)) for f in settings.error_fractions)
    ]
    return record, _idata(samples, extra)


def _idata(samples, extra):
    """An ArviZ DataTree with the names az.from_numpyro would give."""
    import arviz as az

    stats = {
        {"accept_prob": "acceptance_rate", "num_steps": "n_steps"}.get(k, k): v
        for k, v in extra.items()
        if k != "potential_energy"
    }
    groups = {"posterior": samples}
    if extra:
        stats["lp"] = -extra["potential_energy"]
        groups["sample_stats"] = stats
    return az.from_dict(groups)


def run_vi(method: str, posterior, settings: Settings):
    """SVI with an AutoNormal or AutoMultivariateNormal guide; returns (record, idata)."""
    from numpyro import optim
    from numpyro.infer import SVI, Predictive, Trace_ELBO
    from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

    guide_class = AutoNormal if method == "vi-normal" else AutoMultivariateNormal
    guide = guide_class(posterior.model)
    svi = SVI(posterior.model, guide, optim.Adam(settings.vi_learning_rate), Trace_ELBO())
    args, kwargs = posterior.args, posterior.kwargs
    key_init, key_draws = jax.random.split(jax.random.PRNGKey(settings.seed))
    state = svi.init(key_init, *args, **kwargs)
    checkpoints = len(settings.error_fractions)
    chunk = max(1, settings.vi_steps // checkpoints)

    def run_chunk(svi_state):
        def body(_, carry):
            svi_state, _ = carry
            return svi.update(svi_state, *args, **kwargs)

        return jax.lax.fori_loop(0, chunk, body, (svi_state, 0.0))

    start = time.perf_counter()
    compiled = jax.jit(run_chunk).lower(state).compile()
    compile_s = time.perf_counter() - start
    sites = sorted({site for site, _ in posterior.param_map.values()})
    elapsed, curve = 0.0, []
    for _ in range(checkpoints):
        (state, loss), seconds = _timed(compiled, state)
        elapsed += seconds
        predictive = Predictive(
            posterior.model,
            guide=guide,
            params=svi.get_params(state),
            num_samples=settings.vi_draws,
            return_sites=sites,
        )
        samples = predictive(key_draws, *args, **kwargs)
        draws = {k: v[None, :] for k, v in posterior.stan_draws(samples, sample_ndim=1).items()}
        curve.append([elapsed, *metrics.error_of(draws, posterior.reference)])
    record = metrics.summarize(draws, posterior.reference)
    record.update(
        vi_steps=chunk * checkpoints,
        final_loss=float(loss),
        compile_s=compile_s,
        sampling_s=elapsed,
        warmup_s=0.0,
        grad_evals=chunk * checkpoints,
        ess_per_grad=None,
        ess_per_s=None,
        error_curve=curve,
    )
    return record, _idata({k: np.asarray(v)[None] for k, v in samples.items()}, {})
