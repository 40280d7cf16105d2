"""A Laplace approximation used as a preconditioner: the mode of l(x) and its curvature there.

    mode:   x* = argmax l(x), by L-BFGS (optax) from several default starts (the highest)
    factor: P with P P^T = H^-1, H = -Hessian of l at x* (eigenvalues floored, see below)

VI optimises its guide in the coordinates u = P^-1 (m - x*) (samplers/vi.py): there the
ELBO's curvature in the mean is about the identity, so Adam converges on regressions whose
predictors make l(x) ill-conditioned. The guide family is unchanged by this choice of
coordinates. Where the mode is not found (a funnel whose density is unbounded, a search that
does not settle within its budget) or the curvature is not positive, the factor is the
identity and the start is the first default one: the plain parameterisation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

MAX_ITERATIONS = 2000
NEWTON_DECREMENT = 1.0  # g^T H^-1 g at the mode found: within about one sd of the mode
EIGENVALUE_FLOOR = 1e-12  # relative to the largest: rounding in the (float64) Hessian


class Preconditioner(NamedTuple):
    """Where the guide starts and the coordinates it is optimised in."""

    centre: jax.Array  # (d,) x*, or the default start
    factor: jax.Array  # (d, d) P, or the identity
    marginal_sd: jax.Array  # (d,) 1 / sqrt(H_ii): the mean-field optimum for a Gaussian
    found: bool  # a mode with positive curvature was found
    reason: str  # why not, when not
    iterations: int  # L-BFGS iterations of the longest search


def find_mode(logdensity, start, max_iterations: int = MAX_ITERATIONS):
    """(x, gradient of -l at x, iterations): L-BFGS on -l(x) from ``start``, until an
    iteration no longer lowers -l by more than the float type resolves."""
    import optax

    def loss(x):
        return -logdensity(x)

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)
    resolution = 10 * jnp.finfo(start.dtype).eps

    def step(carry):
        x, state, value, _, iteration = carry
        new_value, grad = value_and_grad(x, state=state)
        updates, state = solver.update(grad, state, x, value=new_value, grad=grad, value_fn=loss)
        return optax.apply_updates(x, updates), state, new_value, value, iteration + 1

    def going(carry):
        _, _, value, previous, iteration = carry
        progress = previous - value > resolution * (1 + jnp.abs(value))
        settled = (iteration >= 2) & ~(progress & jnp.isfinite(value))
        return (iteration < max_iterations) & ~settled

    inf = jnp.asarray(jnp.inf, start.dtype)
    init = (start, solver.init(start), inf, inf, jnp.zeros((), jnp.int32))
    x, _, _, _, iterations = jax.lax.while_loop(going, step, init)
    return x, jax.grad(loss)(x), iterations


def _float64():
    """jax's float64 context: ``jax.enable_x64``, or ``jax.experimental``'s in older jax."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()


def preconditioner(logdensity, starts) -> tuple[Preconditioner, float, float]:
    """(the Laplace factor at the highest of the modes found from ``starts`` (S, d), or the
    identity at the first start where none is; seconds; compile seconds).

    Several starts because a posterior can have local modes far from its mass (lotka_volterra
    from one of its default starts: a mode 40 nats below the one the others reach). The search
    and the Hessian run in float64 whatever the precision of the run (float32 cannot resolve
    kilpisjarvi's curvature, condition number 7e11); the factor comes back in ``starts``'
    dtype. jax's caches are cleared around the float64 block: a jaxpr traced inside it must
    not be reused outside (a model's ``lax.scan`` then fails on mixed dtypes)."""
    from spiking_mcmc.timing import compile_ahead, time_call

    def search(x0):
        x, grad, iterations = jax.vmap(lambda s: find_mode(logdensity, s))(x0)
        values = jax.vmap(logdensity)(x)
        best = jnp.argmax(jnp.where(jnp.isfinite(values), values, -jnp.inf))
        hessian = jax.hessian(lambda y: -logdensity(y))(x[best])
        return x[best], grad[best], jnp.max(iterations), hessian

    start = starts[0]
    jax.clear_caches()
    with _float64():
        starts64 = jnp.asarray(starts, jnp.float64)
        compiled, compile_s = compile_ahead(search, starts64)
        (x, grad, iterations, hessian), seconds = time_call(compiled, starts64)
        x, grad, hessian = (np.asarray(a, np.float64) for a in (x, grad, hessian))
    jax.clear_caches()
    iterations = int(iterations)
    dim, dtype = start.shape[-1], start.dtype
    identity = Preconditioner(
        start, jnp.eye(dim, dtype=dtype), jnp.ones_like(start), False, "", iterations
    )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(hessian))):
        reason = "the mode search reached non-finite values"
        return identity._replace(reason=reason), seconds, compile_s
    hessian = 0.5 * (hessian + hessian.T)
    eigenvalues, vectors = np.linalg.eigh(hessian)
    if eigenvalues[0] <= 0:
        reason = f"curvature not positive (smallest eigenvalue {eigenvalues[0]:.3g})"
        return identity._replace(reason=reason), seconds, compile_s
    eigenvalues = np.maximum(eigenvalues, EIGENVALUE_FLOOR * eigenvalues[-1])
    decrement = float(np.sum((vectors.T @ grad) ** 2 / eigenvalues))
    if not decrement <= NEWTON_DECREMENT:
        reason = f"no mode found: Newton decrement {decrement:.3g}"
        return identity._replace(reason=reason), seconds, compile_s
    factor = vectors / np.sqrt(eigenvalues)  # P P^T = V diag(1/lambda) V^T = H^-1
    found = Preconditioner(
        centre=jnp.asarray(x, dtype),
        factor=jnp.asarray(factor, dtype),
        marginal_sd=jnp.asarray(1.0 / np.sqrt(np.diag(hessian)), dtype),
        found=True,
        reason="",
        iterations=iterations,
    )
    return found, seconds, compile_s
