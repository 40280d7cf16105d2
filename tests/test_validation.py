"""Bad input gets an error that names the problem and the way out."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from spiking_mcmc import SpikingKernel
from spiking_mcmc.validation import ModelError

PoissonKernel = functools.partial(SpikingKernel, dynamics="poisson")


def mcmc_run(kernel, num_warmup=10, num_samples=10, **kwargs):
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), **kwargs)
    return mcmc


def discrete_model():
    numpyro.sample("mu", dist.Normal())
    numpyro.sample("cluster", dist.Bernoulli(0.3))


def test_infinite_discrete_site_is_named_with_the_way_out():
    # finite discrete sites are sampled by spiking units (issue 16); a Poisson site is not
    def model():
        numpyro.sample("mu", dist.Normal())
        numpyro.sample("count", dist.Poisson(3.0))

    with pytest.raises(ModelError, match=r"'count' .*infinite.*[Mm]arginalise.*trunc"):
        mcmc_run(PoissonKernel(model))


def test_nan_density_everywhere():
    def model():
        x = numpyro.sample("x", dist.Normal())
        numpyro.factor("broken", jnp.nan * x)

    with pytest.raises(ModelError, match="not finite at any initial point"):
        mcmc_run(PoissonKernel(model))


def test_infinite_density_everywhere():
    def model():
        numpyro.sample("x", dist.Normal())
        numpyro.factor("impossible", -jnp.inf)

    with pytest.raises(ModelError, match="not finite"):
        mcmc_run(PoissonKernel(model))


def test_potential_fn_without_init_params():
    with pytest.raises(ModelError, match="needs init_params"):
        mcmc_run(PoissonKernel(potential_fn=lambda x: jnp.sum(x**2)))


def test_init_params_of_the_wrong_shape():
    def potential(x):
        return 0.5 * x @ jnp.eye(3) @ x

    with pytest.raises(ModelError, match="init_params"):
        mcmc_run(PoissonKernel(potential_fn=potential), init_params=jnp.zeros(4))


def test_potential_fn_not_finite_at_init_params():
    def potential(x):
        return jnp.sum(jnp.log(x))  # -inf at 0

    with pytest.raises(ModelError, match="not finite at the initial point"):
        mcmc_run(PoissonKernel(potential_fn=potential), init_params=jnp.zeros(2))


def test_unknown_dynamics_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown dynamics 'langevin'.*'poisson'"):
        PoissonKernel(discrete_model, dynamics="langevin")


@pytest.mark.parametrize(
    "option, value",
    [
        ("base_rate_hz", 0.0),
        ("base_rate_hz", -5.0),
        ("window_ms", 0.0),
        ("window_ms", float("nan")),
        ("step_size", -1.0),
        ("step_size", float("inf")),
        ("max_potential", 0.0),
        ("jitter", 1.0),
        ("target_accept_prob", 1.0),
        ("num_pairs", 0),
    ],
)
def test_nonsense_settings(option, value):
    with pytest.raises(ValueError, match=option):
        PoissonKernel(discrete_model, **{option: value})


def test_unknown_option_is_named():
    with pytest.raises(TypeError, match="window_s"):
        PoissonKernel(discrete_model, window_s=10.0)


def test_num_pairs_below_dimension():
    def model():
        numpyro.sample("x", dist.Normal().expand([4]))

    with pytest.raises(ValueError, match="num_pairs=2 must be at least the dimension 4"):
        mcmc_run(PoissonKernel(model, num_pairs=2))


def test_float16_data_is_refused():
    def model(y):
        mu = numpyro.sample("mu", dist.Normal())
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    with pytest.raises(TypeError, match="float16.*astype"):
        mcmc_run(PoissonKernel(model), y=np.ones(3, dtype=np.float16))


def test_num_warmup_zero_skips_adaptation_and_still_samples():
    def model():
        numpyro.sample("x", dist.Normal(3.0, 2.0))

    mcmc = mcmc_run(PoissonKernel(model, step_size=1.0), num_warmup=0, num_samples=20000)
    assert float(mcmc.last_state.adapt_state.step_size) == 1.0
    x = np.asarray(mcmc.get_samples()["x"])
    assert abs(x.mean() - 3.0) < 0.2 and abs(x.std() - 2.0) < 0.2


def test_improper_flat_priors_are_accepted():
    """ImproperUniform sites cannot be sampled; the site check must not try to."""
    from numpyro.distributions import constraints

    def model(y):
        mu = numpyro.sample("mu", dist.ImproperUniform(constraints.real, (), ()))
        sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)

    mcmc = mcmc_run(
        PoissonKernel(model), num_warmup=50, num_samples=50, y=np.array([0.3, 1.2, -0.4])
    )
    assert np.all(np.asarray(mcmc.get_samples()["sigma"]) > 0)


def test_default_dynamics_is_the_one_the_benchmark_chose():
    assert SpikingKernel(discrete_model).dynamics_name == "hamiltonian"
