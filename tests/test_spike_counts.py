"""The spike-count sampler draws exact Poisson counts (chi-square against the pmf)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from spiking_mcmc.dynamics.spike_counts import poisson_counts

# chi-square critical value at p = 1e-4: a correct sampler fails one run in 10,000
P_VALUE = 1e-4


def chi_square_p_value(counts, rate):
    """Pearson's test with cells {<= lo}, lo+1, ..., hi-1, {>= hi}, each expecting >= 5."""
    k = np.arange(int(rate + 20 * np.sqrt(rate) + 20))
    expected = stats.poisson.pmf(k, rate) * counts.size
    lo, hi = k[expected >= 5][[0, -1]]
    observed = [np.sum(counts <= lo)] + [np.sum(counts == i) for i in range(lo + 1, hi)]
    observed.append(np.sum(counts >= hi))
    probs = [stats.poisson.cdf(lo, rate)] + list(stats.poisson.pmf(np.arange(lo + 1, hi), rate))
    probs.append(stats.poisson.sf(hi - 1, rate))
    return stats.chisquare(observed, np.array(probs) * counts.size).pvalue


@pytest.mark.parametrize("rate", [0.05, 0.5, 3.0, 19.0, 25.0, 400.0])
def test_counts_follow_poisson_pmf(rate, precision):
    counts = poisson_counts(jax.random.PRNGKey(1), jnp.full((200_000,), rate))
    assert counts.dtype == jnp.int32
    assert chi_square_p_value(np.asarray(counts), rate) > P_VALUE


def test_mixed_rates_and_zero_rate():
    rates = jnp.array([0.0, 0.5, 50.0] * 50_000)
    counts = np.asarray(poisson_counts(jax.random.PRNGKey(2), rates)).reshape(-1, 3)
    assert np.all(counts[:, 0] == 0)
    for column, rate in ((1, 0.5), (2, 50.0)):
        assert chi_square_p_value(counts[:, column], rate) > P_VALUE


def test_wrong_sampler_fails_the_check():
    """The check has power: counts drawn at a 5% higher rate are refused."""
    counts = jax.random.poisson(jax.random.PRNGKey(3), 0.525, (200_000,))
    assert chi_square_p_value(np.asarray(counts), 0.5) < P_VALUE


def test_vectorises_over_chains():
    keys = jax.random.split(jax.random.PRNGKey(4), 8)
    counts = jax.vmap(poisson_counts)(keys, jnp.full((8, 10), 0.5).at[3, 2].set(100.0))
    assert counts.shape == (8, 10)
    assert 50 < int(counts[3, 2]) < 150  # 5 sd of Poisson(100)
