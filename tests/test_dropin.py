"""Drop-in for NumPyro kernel workflows: what NUTS accepts, SpikingKernel accepts, and does
the same with. Every test runs both kernels on the same model and compares."""

import pickle
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import HMC, HMCECS, MCMC, NUTS, DiscreteHMCGibbs, Gibbs, HMCGibbs, MixedHMC
from numpyro.infer.gibbs import DiscreteGibbs, discrete_latent_sites

from spiking_mcmc import SpikingKernel
from spiking_mcmc.neural import recording
from spiking_mcmc.warmup import step_size as step_sizes

KERNELS = [NUTS, SpikingKernel]


def run(kernel, *args, num_warmup=200, num_samples=300, num_chains=1, seed=0, **kwargs):
    method = "vectorized" if num_chains > 1 else "sequential"
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=method,
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), *args, **kwargs)
    return mcmc


def chain_of_three():
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.Normal(a, 1.0))
    numpyro.sample("c", dist.Normal(b, 1.0).expand([2]).to_event(1))


def within_mcse(draws, truth, z=4.0):
    """|mean - truth| <= z MCSE (ArviZ's, from the draws' own ESS)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[None] if draws.ndim == 1 else draws
    return abs(draws.mean() - truth) <= z * float(az.mcse(draws, method="mean"))


# -- pickling ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel_class", KERNELS)
def test_kernel_and_mcmc_pickle_and_resume(kernel_class):
    pickle.loads(pickle.dumps(kernel_class(chain_of_three)))
    mcmc = run(kernel_class(chain_of_three), num_warmup=50, num_samples=50)
    again = pickle.loads(pickle.dumps(mcmc))
    np.testing.assert_array_equal(again.get_samples()["a"], mcmc.get_samples()["a"])
    again.post_warmup_state = again.last_state
    again.run(again.last_state.rng_key)  # the unpickled kernel rebuilds itself
    assert again.get_samples()["a"].shape == (50,)


def coin_only():
    numpyro.sample("coin", dist.Bernoulli(0.3))


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_mcmc_pickles_when_the_inner_kernel_has_no_continuous_site(kernel_class):
    """DiscreteHMCGibbs on a model whose only latent is discrete: the inner kernel has an
    empty position, and the MCMC object still pickles and resumes."""
    mcmc = run(DiscreteHMCGibbs(kernel_class(coin_only)), num_warmup=20, num_samples=400)
    again = pickle.loads(pickle.dumps(mcmc))
    np.testing.assert_array_equal(again.get_samples()["coin"], mcmc.get_samples()["coin"])
    again.post_warmup_state = again.last_state
    again.run(again.last_state.rng_key)
    coin = np.concatenate([mcmc.get_samples()["coin"], again.get_samples()["coin"]])
    assert within_mcse(coin.astype(float), 0.3)


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_one_kernel_in_two_mcmc_objects_gives_the_same_warmed_up_state(kernel_class):
    """The state depends on the key, the model and the data, not on how often the kernel was
    initialised before (sequential chains are still named by their number in warnings)."""
    kernel = kernel_class(chain_of_three)
    first = MCMC(kernel, num_warmup=30, num_samples=10, progress_bar=False)
    first.warmup(jax.random.PRNGKey(2))
    second = MCMC(kernel, num_warmup=30, num_samples=10, progress_bar=False)
    second.run(jax.random.PRNGKey(5))
    second.warmup(jax.random.PRNGKey(2))
    jax.tree.map(np.testing.assert_array_equal, first.post_warmup_state, second.post_warmup_state)


# -- models with nothing (or nothing continuous) to sample ------------------------------------
def observed_only(y=1.0):
    numpyro.sample("y", dist.Normal(), obs=y)


def deterministic_only(y=1.0):
    numpyro.deterministic("d", 3.0 * jnp.ones(2))
    numpyro.sample("y", dist.Normal(), obs=y)


def no_site_at_all():
    pass


def one_category():
    numpyro.sample("p", dist.Dirichlet(jnp.ones(1)))  # unconstrained size 0


@pytest.mark.parametrize("model", [no_site_at_all, observed_only, deterministic_only, one_category])
@pytest.mark.parametrize("num_chains", [1, 2])
def test_models_without_latent_dimensions_sample_as_nuts_does(model, num_chains):
    draws = [
        run(k(model), num_warmup=10, num_samples=5, num_chains=num_chains).get_samples(True)
        for k in KERNELS
    ]
    assert draws[0].keys() == draws[1].keys()
    for name in draws[0]:
        np.testing.assert_array_equal(draws[0][name], draws[1][name])


def location_and_scale(y):
    loc = numpyro.sample("loc", dist.Normal(0.0, 10.0))
    scale = numpyro.sample("scale", dist.HalfNormal(10.0))
    numpyro.sample("y", dist.Normal(loc, scale), obs=y)


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_a_ten_transition_warmup_leaves_a_chain_that_moves(kernel_class):
    """2000 observations (posterior sd ~0.05) and only 10 warmup transitions, none of which
    learns a metric: the step size found must still let the chain move in 10 draws."""
    y = 1.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(1), (2000,))
    draws = run(kernel_class(location_and_scale), y, num_warmup=10, num_samples=10)
    assert len(np.unique(np.asarray(draws.get_samples()["loc"]))) > 1


# -- structured mass --------------------------------------------------------------------------
@pytest.mark.parametrize("kernel_class", KERNELS)
def test_block_dense_mass_is_reported_by_site_blocks(kernel_class):
    mcmc = run(kernel_class(chain_of_three, dense_mass=[("a",), ("b", "c")]), num_warmup=150)
    adapt = mcmc.last_state.adapt_state
    for field in ("inverse_mass_matrix", "mass_matrix_sqrt", "mass_matrix_sqrt_inv"):
        shapes = {k: v.shape for k, v in getattr(adapt, field).items()}
        assert shapes == {("a",): (1, 1), ("b", "c"): (3, 3)}, (field, shapes)


def test_block_dense_metric_has_no_entries_between_blocks():
    mcmc = run(SpikingKernel(chain_of_three, dense_mass=[("a",), ("b", "c")]), num_warmup=150)
    covariance = np.asarray(mcmc.last_state.adapt_state.metric.covariance())
    # flat order: a, b, c[0], c[1]; the blocks are {a} and {b, c}
    np.testing.assert_array_equal(covariance[0, 1:], 0.0)
    assert np.all(np.abs(covariance[1, 2:]) > 0)  # learned within the dense block


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_inverse_mass_matrix_given_by_site_blocks(kernel_class):
    given = {("a",): jnp.array([2.0]), ("b", "c"): jnp.diag(jnp.array([1.0, 3.0, 4.0]))}
    kernel = kernel_class(
        chain_of_three, inverse_mass_matrix=given, dense_mass=[("b", "c")], adapt_mass_matrix=False
    )
    adapt = run(kernel, num_warmup=10, num_samples=5).last_state.adapt_state
    for block, value in given.items():
        np.testing.assert_allclose(adapt.inverse_mass_matrix[block], value, rtol=1e-6)


def test_unknown_site_in_dense_mass_is_named():
    with pytest.raises(ValueError, match=r"\['z'\].*not latent sites"):
        run(SpikingKernel(chain_of_three, dense_mass=[("a", "z")]), num_warmup=5, num_samples=5)


# -- forward-mode gradients, regularisation, traced settings ----------------------------------
GAIN = 1.1**3


def while_loop_model():
    """y = 1.1^3 x computed by lax.while_loop, which reverse-mode autodiff cannot differentiate."""
    x = numpyro.sample("x", dist.Normal(0.0, 1.0))
    _, y = jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 1.1), (0, x))
    numpyro.sample("obs", dist.Normal(y, 1.0), obs=1.0)


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_forward_mode_differentiation_samples_a_while_loop_model(kernel_class):
    posterior_mean = GAIN / (1.0 + GAIN**2)  # Gaussian prior x Gaussian likelihood
    kernel = kernel_class(while_loop_model, forward_mode_differentiation=True)
    x = run(kernel, num_samples=2000, num_chains=2).get_samples(group_by_chain=True)["x"]
    assert within_mcse(x, posterior_mean)
    with pytest.raises(ValueError, match="[Rr]everse-mode"):
        run(kernel_class(while_loop_model), num_warmup=5, num_samples=5)


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_regularize_mass_matrix_is_accepted(kernel_class):
    mcmc = run(kernel_class(chain_of_three, regularize_mass_matrix=False), num_warmup=150)
    assert np.isfinite(mcmc.get_samples()["a"]).all()


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_settings_traced_inside_jit(kernel_class):
    @jax.jit
    def draws(key, step_size, target_accept_prob):
        kernel = kernel_class(
            chain_of_three, step_size=step_size, target_accept_prob=target_accept_prob
        )
        mcmc = MCMC(kernel, num_warmup=50, num_samples=50, progress_bar=False)
        mcmc.run(key)
        return mcmc.get_samples()

    assert draws(jax.random.PRNGKey(0), 0.5, 0.8)["a"].shape == (50,)


# -- tracing and model arguments --------------------------------------------------------------
@pytest.mark.parametrize("find_heuristic_step_size", [False, True])
@pytest.mark.parametrize("with_deterministic", [False, True])
def test_model_is_traced_no_more_often_than_by_nuts(find_heuristic_step_size, with_deterministic):
    """A model with side effects sees as many traces under SpikingKernel as under NUTS, with
    the heuristic step-size search too (it traces the model once per place it runs)."""
    calls = []

    def model(y):
        calls.append(1)
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
        if with_deterministic:
            numpyro.deterministic("precision", sigma**-2)
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)

    counts = []
    for kernel_class in KERNELS:
        calls.clear()
        kernel = kernel_class(model, find_heuristic_step_size=find_heuristic_step_size)
        run(kernel, jnp.array([1.0, 2.0, 0.5]), num_warmup=20, num_samples=20)
        counts.append(len(calls))
    assert counts[1] <= counts[0], counts


def test_heuristic_step_size_search_halves_or_doubles_to_the_target():
    """Hoffman and Gelman's search on a known acceptance curve exp(-h), target 0.8, with the
    acceptance function called at one place (so traced once)."""
    calls = []

    def accept_prob(h, key):
        calls.append(1)
        return jnp.exp(-h)

    key = jax.random.PRNGKey(0)
    assert float(step_sizes.find_reasonable(accept_prob, 1.0, key, 0.8)) == 0.125
    assert float(step_sizes.find_reasonable(accept_prob, 0.01, key, 0.8)) == pytest.approx(0.16)
    assert len(calls) == 2


def test_jit_model_args_then_network_and_recording():
    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    kernel = SpikingKernel(model, dynamics="poisson")
    mcmc = MCMC(kernel, num_warmup=50, num_samples=20, progress_bar=False, jit_model_args=True)
    mcmc.run(jax.random.PRNGKey(0), jnp.array([1.0, 2.0, 0.5]))
    network, weights = kernel.get_network(mcmc.last_state)
    # W = -1/2 D^T H D with H = 3 (three unit-variance observations) + 1/100 (the prior)
    expected = -0.5 * float(network.decoders[0, 0]) ** 2 * 3.01
    assert float(weights[0, 0]) == pytest.approx(expected, rel=1e-4)
    rec = recording.record_kernel(kernel, mcmc.last_state, 10)
    assert rec.spike_counts.shape == (10, 2, 1)


# -- inside NumPyro's wrappers ----------------------------------------------------------------
def two_normals():
    x = numpyro.sample("x", dist.Normal(0.0, 2.0))
    y = numpyro.sample("y", dist.Normal(0.0, 2.0))
    numpyro.sample("obs", dist.Normal(x + y, 1.0), obs=jnp.array([1.0]))


def gibbs_x(rng_key, gibbs_sites, hmc_sites):
    """The exact conditional of x given y in ``two_normals``."""
    y = hmc_sites["y"]
    return {"x": dist.Normal(0.8 * (1 - y), jnp.sqrt(0.8)).sample(rng_key)}


TWO_NORMALS_MEAN = 4.0 / 9.0  # each of x and y: the posterior mean of a symmetric pair


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_inner_kernel_of_hmc_gibbs(kernel_class):
    mcmc = run(
        HMCGibbs(kernel_class(two_normals), gibbs_fn=gibbs_x, gibbs_sites=["x"]), num_samples=3000
    )
    samples = mcmc.get_samples(group_by_chain=True)
    assert within_mcse(samples["x"], TWO_NORMALS_MEAN)
    assert within_mcse(samples["y"], TWO_NORMALS_MEAN)


def two_normals_and_their_sum():
    x = numpyro.sample("x", dist.Normal(0.0, 2.0))
    y = numpyro.sample("y", dist.Normal(0.0, 2.0))
    numpyro.deterministic("total", x + y)
    numpyro.sample("obs", dist.Normal(x + y, 1.0), obs=jnp.array([1.0]))


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_inner_kernel_of_hmc_gibbs_with_a_deterministic_site(kernel_class):
    """HMCGibbs constrains each block with the block kernel's get_constrain_fn before it
    replays the model for deterministic sites: that map must use the sites' transforms only
    (the model, run alone, would meet the Gibbs site unconditioned)."""
    inner = kernel_class(two_normals_and_their_sum)
    mcmc = run(HMCGibbs(inner, gibbs_fn=gibbs_x, gibbs_sites=["x"]), num_samples=2000)
    samples = mcmc.get_samples()
    np.testing.assert_allclose(samples["total"], samples["x"] + samples["y"], atol=1e-5)
    assert within_mcse(samples["y"], TWO_NORMALS_MEAN)


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_get_constrain_fn_transforms_without_running_the_model(kernel_class):
    calls = []

    def model():
        calls.append(1)
        numpyro.sample("sigma", dist.HalfNormal(1.0))

    kernel = kernel_class(model)
    run(kernel, num_warmup=10, num_samples=10)
    before = len(calls)
    constrained = kernel.get_constrain_fn()({"sigma": jnp.array(0.0)})
    assert float(constrained["sigma"]) == pytest.approx(1.0)  # exp(0): HalfNormal's transform
    assert len(calls) == before


def two_component_mixture():
    c = numpyro.sample("c", dist.Categorical(jnp.array([0.3, 0.7])))
    numpyro.sample("x", dist.Normal(jnp.array([-0.5, 0.5])[c], 1.0))


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_inner_kernel_of_discrete_hmc_gibbs_and_gibbs_blocks(kernel_class):
    """No data: the marginal of c is its prior, P(c = 1) = 0.7."""
    for wrapper in (
        DiscreteHMCGibbs(kernel_class(two_component_mixture)),
        Gibbs(
            [
                (DiscreteGibbs(two_component_mixture), discrete_latent_sites),
                (kernel_class(two_component_mixture), None),
            ]
        ),
    ):
        c = run(wrapper, num_samples=3000).get_samples()["c"]
        assert within_mcse(np.asarray(c, float), 0.7), float(np.mean(c))


def subsampled(data):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    with numpyro.plate("N", data.shape[0], subsample_size=100):
        numpyro.sample("obs", dist.Normal(mu, 1.0), obs=numpyro.subsample(data, event_dim=0))


@pytest.mark.parametrize("kernel_class", KERNELS)
def test_inner_kernel_of_hmcecs(kernel_class):
    data = jax.random.normal(jax.random.PRNGKey(1), (1000,)) + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        proxy = HMCECS.taylor_proxy({"mu": jnp.mean(data)})  # a control variate: little bias
        kernel = HMCECS(kernel_class(subsampled), num_blocks=10, proxy=proxy)
        mu = run(kernel, data, num_samples=2000)
    posterior_mean = float(jnp.sum(data)) / (1000 + 1e-2)
    assert within_mcse(mu.get_samples()["mu"], posterior_mean, z=5.0)


def test_mixed_hmc_is_refused_as_for_nuts_and_the_kernel_samples_the_model_itself():
    """MixedHMC takes HMC and refuses NUTS; it refuses SpikingKernel with the way out, and
    SpikingKernel alone samples the same model (discrete site by spiking units) as
    MixedHMC(HMC) does: p(c = 1) = 0.3 N(0.5; 1, 1) / Z (4 MCSE, 1500 draws, fixed seed)."""

    def model():
        c = numpyro.sample("c", dist.Bernoulli(0.3))
        numpyro.sample("x", dist.Normal(jnp.where(c == 1, 1.0, -1.0), 1.0), obs=0.5)
        numpyro.sample("y", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="NUTS"):
        MixedHMC(NUTS(model))
    with pytest.raises(TypeError, match="MCMC\\(SpikingKernel\\(model\\)\\)"):
        run(MixedHMC(SpikingKernel(model)), num_warmup=10, num_samples=10)
    like = np.exp(-0.5 * np.array([1.5, 0.5]) ** 2) * np.array([0.7, 0.3])
    truth = like[1] / like.sum()
    reference = run(MixedHMC(HMC(model, trajectory_length=1.2)), num_samples=1500)
    spiking = run(SpikingKernel(model), num_samples=1500)
    for mcmc in (reference, spiking):
        assert within_mcse(mcmc.get_samples()["c"].astype(float), truth)
