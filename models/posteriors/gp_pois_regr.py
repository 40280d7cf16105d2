"""Latent GP with Poisson counts (posteriordb ``gp_pois_regr-gp_pois_regr``).

    K_ij = alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2)) (+ 1e-10 delta_ij in Stan),  f = chol(K) f_tilde
    f_tilde ~ N(0, I),  k_i ~ Poisson(exp(f_i)),  rho ~ Gamma(25, 4),  alpha ~ half-N(0, 2)

Cholesky: ``x`` is a regular grid (-10, -8, ..., 10), where K = alpha^2 D V D with
D = diag(exp(-s i^2 / 2)), V_ij = exp(s i j), s = (h / rho)^2, and V is a Vandermonde matrix in
the nodes exp(s i), whose LDL^T factors are products (see ``grid_cholesky``).  We compute
chol(K) from that closed form in log space: accurate to ~1e-6 relative in float32 and smooth in
rho, whereas ``jnp.linalg.cholesky`` in float32 fails (NaN) at Stan's 1e-10 jitter (the
last pivots of K are ~1e-4 alpha^2 at rho ~ 6 and ~1e-9 alpha^2 at rho = 12), and with a
jitter large enough to succeed (1e-6 alpha^2 to 1e-4 alpha^2) its round-off makes the log
density rough (errors of 0.03 to 5 nats), which stalls NUTS step-size adaptation.  So no jitter
is used, in either precision: Stan's 1e-10 changes the prior of f from N(0, K) to
N(0, K + 1e-10 I), i.e. the f sds (0.09-0.27) by < 1e-8 relative, far below anything measurable.
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "latent Gaussian process, Poisson counts (N=11)"


def _log_expm1(x):
    """log(exp(x) - 1) for x > 0, without overflow for large x."""
    big = x > 1.0
    return jnp.where(
        big,
        x + jnp.log1p(-jnp.exp(-jnp.where(big, x, 1.0))),
        jnp.log(jnp.expm1(jnp.where(big, 1.0, x))),
    )


def grid_cholesky(n, h, rho):
    """Cholesky factor of R_ij = exp(-(h (i - j))^2 / (2 rho^2)), i, j = 0..n-1 (closed form).

    R = D V D, D = diag(exp(-s i^2/2)), V_ij = w^(i j), w = exp(s), s = (h/rho)^2.  V is the
    Vandermonde matrix in the nodes a_i = w^i, so V = L diag(d) L^T with
    L_ij = prod_{k<j} (a_i - a_k) / (a_j - a_k) and d_j = prod_{k<j} (a_j - a_k), where
    a_i - a_k = w^k expm1((i - k) s).  With G(m) = sum_{m'=1..m} log expm1(m' s), this gives
    log chol(R)_ij = -s i^2/2 + G(i) - G(i - j) - G(j)/2 + s j (j - 1)/4   for i >= j.
    """
    s = (h / rho) ** 2
    g = _log_expm1(jnp.arange(1, n) * s)
    big_g = jnp.concatenate([jnp.zeros(1, dtype=g.dtype), jnp.cumsum(g)])  # G(0..n-1)
    idx = np.arange(n)
    i, j = idx[:, None], idx[None, :]
    lower = i >= j
    diff = np.where(lower, i - j, 0)
    log_c = -0.5 * s * i**2 + big_g[i] - big_g[diff] - 0.5 * big_g[j] + 0.25 * s * j * (j - 1)
    return jnp.where(lower, jnp.exp(jnp.where(lower, log_c, 0.0)), 0.0)


def model(n, h, k=None):
    rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
    f_tilde = numpyro.sample("f_tilde", dist.Normal(0.0, 1.0).expand([n]).to_event(1))
    f = numpyro.deterministic("f", alpha * (grid_cholesky(n, h, rho) @ f_tilde))
    numpyro.sample("k", dist.Poisson(jnp.exp(f)).to_event(1), obs=k)


def make(data):
    x = np.asarray(data["x"], dtype=float)
    h = x[1] - x[0]
    if not np.allclose(np.diff(x), h):
        raise ValueError("gp_pois_regr: the closed-form Cholesky needs x on a regular grid")
    return model, (len(x), float(h)), {"k": np.asarray(data["k"], dtype=float)}


NUTS_CHECK = {"num_warmup": 500, "num_samples": 750, "dense_mass": True, "target_accept_prob": 0.99}
