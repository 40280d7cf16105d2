"""Lotka-Volterra predator-prey ODE (posteriordb ``hudson_lynx_hare-lotka_volterra``).

    du/dt = (theta_1 - theta_2 v) u,  dv/dt = (-theta_3 + theta_4 u) v,  z(0) = z_init
    y_init_k ~ LogN(log z_init_k, sigma_k),  y_nk ~ LogN(log z_k(t_n), sigma_k)
    theta_{1,3} ~ N(1, 0.5),  theta_{2,4} ~ N(0.05, 0.05) (all > 0),  z_init ~ LogN(log 10, 1),
    sigma ~ LogN(-1, 1)

ODE solver.  Stan uses adaptive rk45 (rtol 1e-5, atol 1e-3, at most 500 steps) and rejects a
draw where it fails.  Here: the same Dormand-Prince 5(4) pair with a fixed step (3 steps per
observation interval, h = 1/3) in ``lax.scan``, on w = log z (so z stays positive).  Against
a reference solve (odeint, rtol = atol = 1e-12) at 40 reference posterior draws its largest
error in log z is 6e-6 (Stan-like odeint with rtol 1e-5, atol 1e-3: 2e-3), far below the
measurement sd sigma ~ 0.25.  Like Stan's failure, a draw whose largest local error estimate
exceeds ``MAX_LOCAL_ERROR`` (1e-3 in log z, i.e. the fixed step is too coarse: only far out
in the tails, where the dynamics are stiff) gets zero density; over all 10,000 reference draws
the estimate stays below 2e-5.  Without this, such regions (which random initialisation
reaches) give a garbage, very rough density that traps NUTS.  A fixed-step ``scan`` is also
cheaper than ``jax.experimental.ode.odeint``, whose gradient solves an adjoint ODE and which
becomes very slow in the stiff tails.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

KIND = "ODE model, predator-prey (N=20)"

SUBSTEPS = 3  # Dormand-Prince steps per observation interval
MAX_LOCAL_ERROR = 1e-3  # largest accepted local error estimate in log z (else zero density)
LOG_CLIP = 50.0  # |log population| cap inside the right-hand side (overflow guard)

# Dormand-Prince 5(4): stage coefficients, 5th-order weights (the 7th stage is the new point,
# so its derivative is the next step's first stage), and 5th minus 4th-order weights.
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_E = (
    35 / 384 - 5179 / 57600,
    0.0,
    500 / 1113 - 7571 / 16695,
    125 / 192 - 393 / 640,
    -2187 / 6784 + 92097 / 339200,
    11 / 84 - 187 / 2100,
    -1 / 40,
)


def _rhs_log(w, theta):
    """ODE for w = log z: d log u/dt = theta_1 - theta_2 v, d log v/dt = -theta_3 + theta_4 u."""
    u, v = jnp.exp(jnp.clip(w, -LOG_CLIP, LOG_CLIP))
    return jnp.stack([theta[0] - theta[1] * v, -theta[2] + theta[3] * u])


def solve_log(z0, theta, dts, substeps=SUBSTEPS):
    """(log z at the observation times [N, 2], largest local error estimate) from z(0) = z0.

    ``dts`` are the time steps between observation times (the first from t = 0).
    """

    def step(carry, h):
        w, k1, err = carry
        ks = [k1]
        for a in _A[1:]:
            ks.append(
                _rhs_log(w + h * sum(c * k for c, k in zip(a, ks, strict=False) if c != 0.0), theta)
            )
        w_new = w + h * sum(
            c * k for c, k in zip(_A[6], ks, strict=False) if c != 0.0
        )  # stage 7 = new point
        local = h * sum(c * k for c, k in zip(_E, ks, strict=False) if c != 0.0)
        local = jnp.abs(local)  # (jnp.max here gives NaN gradients under jit in jax 0.12)
        return (w_new, ks[6], jnp.maximum(err, jnp.maximum(local[0], local[1]))), None

    def interval(carry, dt):
        carry, _ = jax.lax.scan(step, carry, jnp.full(substeps, dt / substeps))
        return carry, carry[0]

    w0 = jnp.log(z0)
    (_, _, err), ws = jax.lax.scan(
        interval, (w0, _rhs_log(w0, theta), jnp.zeros((), w0.dtype)), dts
    )
    return ws, err


def model(dts, y_init, y=None):
    theta = numpyro.sample(
        "theta",
        dist.TruncatedNormal(
            jnp.array([1.0, 0.05, 1.0, 0.05]), jnp.array([0.5, 0.05, 0.5, 0.05]), low=0.0
        ).to_event(1),
    )
    z_init = numpyro.sample("z_init", dist.LogNormal(jnp.log(10.0), 1.0).expand([2]).to_event(1))
    sigma = numpyro.sample("sigma", dist.LogNormal(-1.0, 1.0).expand([2]).to_event(1))
    log_z, err = solve_log(z_init, theta, dts)
    numpyro.deterministic("z", jnp.exp(log_z))
    ok = jnp.isfinite(err) & (err <= MAX_LOCAL_ERROR)
    numpyro.factor("ode_ok", jnp.where(ok, 0.0, -jnp.inf))  # Stan: the solver fails, reject
    log_z = jnp.where(ok, log_z, 0.0)
    numpyro.sample("y_init", dist.LogNormal(jnp.log(z_init), sigma).to_event(1), obs=y_init)
    numpyro.sample("y", dist.LogNormal(log_z, sigma).to_event(2), obs=y)


# A starting point read off the data (not the posterior): z_init = y_init; equilibria
# u* = theta_3/theta_4 ~ mean hares (35), v* = theta_1/theta_2 ~ mean lynx (20); period
# 2 pi / sqrt(theta_1 theta_3) ~ 10 years.  From random (init_to_uniform) starts, about 3-5% of
# chains end in a secondary mode (a shorter-period fit with sigma ~ 0.6, or a "noise" fit with
# sigma > 1), also with long warmup; from here 32 of 32 chains (seeds 0-7) reached the main mode
# with 500 warmup iterations.  Use with ``numpyro.infer.init_to_value(values=...)``.
INIT_VALUES = {
    "theta": [0.63, 0.031, 0.63, 0.018],
    "z_init": [30.0, 4.0],
    "sigma": [0.3, 0.3],
}


def make(data):
    ts = np.asarray(data["ts"], dtype=float)
    dts = np.diff(np.concatenate([[0.0], ts]))
    return (
        model,
        (dts, np.asarray(data["y_init"], dtype=float)),
        {"y": np.asarray(data["y"], dtype=float)},
    )


NUTS_CHECK = {"num_warmup": 5000, "num_samples": 750, "dense_mass": True}
