"""AR(K) time series (posteriordb ``arK-arK``).

y_t ~ N(alpha + sum_{k=1..K} beta_k y_{t-k}, sigma),  t = K+1..T
alpha, beta_k ~ N(0, 10),  sigma ~ half-Cauchy(0, 2.5)
"""

import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "autoregressive AR(5) time series (T=200)"


def model(lags, y):
    """``lags[i, k] = y_{t-k-1}`` for the observed ``y[i] = y_t`` (t = K+1..T)."""
    K = lags.shape[1]
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([K]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    with numpyro.plate("T", y.shape[0]):
        numpyro.sample("y", dist.Normal(alpha + lags @ beta, sigma), obs=y)


def make(data):
    K, T = int(data["K"]), int(data["T"])
    y = np.asarray(data["y"], dtype=float)
    # lag matrix: row t (0-based, t = K..T-1) holds y[t-1], ..., y[t-K]
    lags = np.stack([y[K - k : T - k] for k in range(1, K + 1)], axis=1)
    return model, (lags, y[K:]), {}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 1000, "num_chains": 4}
