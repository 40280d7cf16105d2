"""spiking_mcmc.compare: a user's model beside NUTS, timed and judged by the same yardsticks."""

import jax.numpy as jnp
import numpy as np
import pytest
from targets import Y, tiny_model

from spiking_mcmc import SpikingKernel, compare, diagnostics


def test_compare_puts_the_spiking_kernel_beside_nuts():
    result = compare(
        tiny_model,
        model_kwargs={"y": jnp.asarray(Y)},
        num_warmup=150,
        num_samples=200,
        num_chains=2,
        more_kernels={"poisson": SpikingKernel(tiny_model, dynamics="poisson")},
    )
    assert list(result.records) == ["nuts", "spiking", "poisson"]
    for name, record in result.records.items():
        assert record["grad_evals"] > 0 and record["warmup_grad_evals"] > 0, name
        assert record["conservative_ess"] == min(
            record["min_ess_bulk"], record["min_ess_tail"], record["min_ess_squared"]
        )
        total = record["warmup_s"] + record["sampling_s"]
        assert record["ess_per_s"] == pytest.approx(record["conservative_ess"] / total)
    spiking = result.records["spiking"]
    assert spiking["spikes_per_ess"] > 0 and "max_abs_z" in spiking
    assert spiking["max_abs_z"] < 6 and spiking["max_sd_error"] < 0.3  # both sample it
    assert result.ratio("spiking", "ess_per_grad") == pytest.approx(
        spiking["ess_per_grad"] / result.records["nuts"]["ess_per_grad"]
    )
    table = str(result)
    assert "spiking" in table and "xNUTS" in table


def test_conservative_ess_sees_antithetic_draws():
    """Anti-correlated draws (x_t = -0.9 x_{t-1} + noise) have a bulk ESS of the mean above the
    number of draws; the squared deviations are positively correlated and cap the count."""
    rng = np.random.default_rng(0)
    x = np.zeros((4, 4000))
    noise = rng.normal(size=x.shape)
    for t in range(1, x.shape[1]):
        x[:, t] = -0.9 * x[:, t - 1] + noise[:, t]
    record = diagnostics.efficiency({"x": x})
    assert record["min_ess_bulk"] > x.size
    assert record["conservative_ess"] < 0.5 * x.size
