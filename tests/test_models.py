"""Benchmark posteriors: the registry, and NUTS against each reference (the translation check)."""

import jax
import numpy as np
import pytest
from numpyro.infer.util import initialize_model

import models
from models.nuts_check import run_nuts_check
from models.registry import POSTERIORDB

# unconstrained dimension of each posteriordb posterior (shared/reference/README.md)
DIMENSIONS = {
    "eight_schools-eight_schools_noncentered": 10,
    "eight_schools-eight_schools_centered": 10,
    "kidiq-kidscore_momiq": 3,
    "kidiq-kidscore_interaction": 5,
    "earnings-logearn_interaction": 5,
    "mesquite-logmesquite_logvash": 7,
    "nes2000-nes": 10,
    "diamonds-diamonds": 26,
    "kilpisjarvi_mod-kilpisjarvi": 3,
    "sblrc-blr": 6,
    "arK-arK": 7,
    "arma-arma11": 4,
    "garch-garch11": 4,
    "gp_pois_regr-gp_pois_regr": 13,
    "gp_pois_regr-gp_regr": 3,
    "low_dim_gauss_mix-low_dim_gauss_mix": 5,
    "hmm_example-hmm_example": 4,
    "hudson_lynx_hare-lotka_volterra": 8,
}


def test_registry_lists_every_posterior():
    names = models.list_models()
    assert set(DIMENSIONS) <= set(names) and len(POSTERIORDB) == 18
    assert {"gaussian_corr_d2", "gaussian_corr_d64", "gaussian_ill_d100"} <= set(names)
    with pytest.raises(KeyError, match="unknown posterior 'nope'"):
        models.load("nope")


@pytest.mark.parametrize("name", list(DIMENSIONS) + ["gaussian_corr_d8", "gaussian_ill_d100"])
def test_load_gives_model_reference_and_site_map(name):
    posterior = models.load(name)
    if name in DIMENSIONS:
        assert posterior.dimension == DIMENSIONS[name]
    for stats in posterior.reference.values():
        assert {"mean", "sd"} <= set(stats) and stats["sd"] > 0
    # every reference parameter is a site of the model (latent or deterministic), at a valid index
    info = initialize_model(
        jax.random.PRNGKey(0),
        posterior.model,
        model_args=posterior.args,
        model_kwargs=posterior.kwargs,
    )
    values = info.postprocess_fn(info.param_info.z)
    point = {k: np.asarray(v)[None] for k, v in values.items()}
    draws = posterior.stan_draws(point, sample_ndim=1)
    assert set(draws) == set(posterior.reference)
    assert all(np.isfinite(v).all() for v in draws.values())


def test_stan_names_map_to_zero_based_sites():
    assert models.stan_to_site("theta[3]") == ("theta", (2,))
    assert models.stan_to_site("L[2,1]") == ("L", (1, 0))
    assert models.stan_to_site("sigma") == ("sigma", ())


def test_synthetic_references_are_analytic():
    posterior = models.load("gaussian_ill_d100")
    scale_tril = np.asarray(posterior.args[0])
    covariance = scale_tril @ scale_tril.T
    eigenvalues = np.linalg.eigvalsh(covariance)
    assert eigenvalues.max() / eigenvalues.min() == pytest.approx(1000.0, rel=1e-6)
    sds = np.array([posterior.reference[f"x[{i + 1}]"]["sd"] for i in range(100)])
    np.testing.assert_allclose(sds, np.sqrt(np.diag(covariance)))
    corr = models.load("gaussian_corr_d8").args[0]
    c = np.asarray(corr @ corr.T)
    assert c[0, 1] == pytest.approx(0.75) and c[3, 3] == pytest.approx(1.0)


def test_hmm_example_has_no_float32_wall_where_mu_ties():
    """log(mu_2 - mu_1) = -16.34 rounds mu_2 to mu_1 in float32 at z_1 = 2; the density there
    is the smooth tail (Stan's positive_ordered never rejects), not a zero-density wall that
    pinned a chain of the benchmark for 2000 iterations."""
    from jax.flatten_util import ravel_pytree

    p = models.load("hmm_example-hmm_example")
    info = initialize_model(
        jax.random.PRNGKey(0), p.model, model_args=p.args, model_kwargs=p.kwargs
    )
    unravel = ravel_pytree(info.param_info.z)[1]
    point = {
        "mu": np.array([2.0, -16.34], np.float32),
        "theta1": np.array([2.589], np.float32),
        "theta2": np.array([-2.529], np.float32),
    }
    near = {**point, "mu": np.array([1.99, -16.34], np.float32)}
    energy = jax.vmap(lambda x: info.potential_fn(unravel(x)))
    values = energy(np.stack([ravel_pytree(point)[0], ravel_pytree(near)[0]]))
    assert np.all(np.isfinite(values)), values


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DIMENSIONS) + ["gaussian_corr_d32", "gaussian_ill_d100"])
def test_nuts_matches_reference(name):
    """Every mean within 4 MCSE and every sd within 10% of the reference, with NUTS."""
    _, result, _ = run_nuts_check(name, seed=0)
    assert result.passed, result.table()


@pytest.mark.slow
def test_a_wrong_translation_fails_its_check(monkeypatch):
    """Eight schools with the measurement sd doubled (a variance-for-sd kind of slip) fails."""
    from models.posteriors import eight_schools_noncentered as module

    make = module.make

    def wrong_make(data):
        model, (J, sigma), kwargs = make(data)
        return model, (J, 2.0 * sigma), kwargs

    monkeypatch.setattr(module, "make", wrong_make)
    _, result, _ = run_nuts_check("eight_schools-eight_schools_noncentered", seed=0)
    assert not result.passed
