"""Small targets with analytic answers, shared by the tests."""

import numpy as np
import numpyro
import numpyro.distributions as dist


def correlated_gaussian(dim=5, rho=0.6, seed=0):
    """Mean and covariance: mean ~ N(0, 4), Sigma_ij = s_i s_j rho^|i-j|."""
    rng = np.random.default_rng(seed)
    mean = 2.0 * rng.normal(size=dim)
    scales = np.exp(rng.uniform(-1.0, 1.0, size=dim))
    lags = np.abs(np.subtract.outer(np.arange(dim), np.arange(dim)))
    return mean, np.outer(scales, scales) * rho**lags


def gaussian_model(mean, cov):
    def model():
        numpyro.sample("x", dist.MultivariateNormal(mean, covariance_matrix=cov))

    return model


def gaussian_reference(mean, cov):
    return {
        f"x[{i + 1}]": {"mean": m, "sd": s}
        for i, (m, s) in enumerate(zip(mean, np.sqrt(np.diag(cov)), strict=True))
    }


def tiny_model(y):
    """mu ~ N(0, 10), sigma ~ half-N(5), y ~ N(mu, sigma): a constrained site and a plate-free
    likelihood, for the quick user-level tests."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


Y = np.array([1.2, 0.4, 2.2, 1.9, 0.1, 1.1])


def run_split_and_whole(make_kernel, num_warmup=200, num_samples=400):
    """Run ``num_samples`` draws at once, and in two halves continued from the first half's
    pickled ``last_state``; returns (joined halves, whole run, the pickled state) for ``mu``."""
    import pickle

    import jax
    from numpyro.infer import MCMC

    def mcmc(n):
        return MCMC(
            make_kernel(),
            num_warmup=num_warmup,
            num_samples=n,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )

    whole, first, second = mcmc(num_samples), mcmc(num_samples // 2), mcmc(num_samples // 2)
    whole.run(jax.random.PRNGKey(0), y=Y)
    first.run(jax.random.PRNGKey(0), y=Y)
    state = pickle.loads(pickle.dumps(jax.device_get(first.last_state)))
    second.post_warmup_state = state
    second.run(state.rng_key, y=Y)
    halves = [m.get_samples(group_by_chain=True)["mu"] for m in (first, second)]
    return np.concatenate(halves, axis=1), whole.get_samples(group_by_chain=True)["mu"], state


def run_chains(kernel, num_warmup, num_samples, num_chains, method="vectorized", seed=0, **kw):
    """MCMC(kernel).run with the given chains (NumPyro's "parallel falls back to sequential on
    one CPU" warning silenced); returns the MCMC object."""
    import warnings

    import jax
    from numpyro.infer import MCMC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mcmc = MCMC(
            kernel,
            num_warmup=num_warmup,
            num_samples=num_samples,
            num_chains=num_chains,
            chain_method=method,
            progress_bar=False,
        )
        mcmc.run(jax.random.PRNGKey(seed), **kw)
    return mcmc


def always_accept(key, log_accept_ratio, finite):
    """A broken Metropolis step that accepts every finite proposal (for checks that must fail)."""
    import jax.numpy as jnp

    accept_prob = jnp.exp(jnp.minimum(jnp.where(finite, log_accept_ratio, -jnp.inf), 0.0))
    return accept_prob, finite
