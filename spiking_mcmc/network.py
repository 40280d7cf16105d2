"""The spiking network as data: decoders, base rate, window, membrane potentials, weights.

    u_j(x) = 1/2 d_j . grad log p(x)   (ON neuron j; the OFF neuron gets -u_j)
    W = -1/2 D^T H D,   H = -Hessian of log p   (recurrent weights of the linearised network)

A population of P ON/OFF neuron pairs encodes the latent state x in R^d (NumPyro's
unconstrained space). Pair j has decoder d_j (column j of the d x P matrix D): a spike of ON_j
moves the decoded state by +d_j, a spike of OFF_j by -d_j. Time is biological: rates in Hz,
windows in milliseconds; ``a = base_rate_hz * window_ms / 1000`` is the expected number of
spikes of one neuron in one window at zero membrane potential.
"""

from __future__ import annotations

import functools
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from spiking_mcmc import sampler
from spiking_mcmc import state as states


class Network(NamedTuple):
    """A Poisson spiking network (all fields are arrays or floats, so it is a pytree).

    decoders: (d, P) output synapses D; D D^T = h / (2a) * Sigma, Sigma the learned covariance.
    base_rate_hz: firing rate lam0 of a neuron at zero membrane potential.
    window_ms: duration T of one transition (one window of spikes).
    max_potential: membrane potentials saturate at +-max_potential (any value keeps the chain
        exact, since the ON and OFF rates still multiply to lam0^2).
    """

    decoders: jax.Array
    base_rate_hz: float
    window_ms: float
    max_potential: float

    @property
    def expected_spikes(self):
        """a = lam0 * T: expected spikes of one neuron per window at zero potential."""
        return self.base_rate_hz * self.window_ms / 1000.0

    @property
    def num_pairs(self) -> int:
        return self.decoders.shape[-1]


def expected_spikes(base_rate_hz, window_ms):
    """a = lam0 [Hz] * T [ms] / 1000."""
    return base_rate_hz * window_ms / 1000.0


def membrane_potential(decoders, grad_log_density, max_potential):
    """u = clip(1/2 D^T g, -u_max, u_max): the ON neurons' input (OFF neurons get -u)."""
    return jnp.clip(0.5 * (grad_log_density @ decoders), -max_potential, max_potential)


@functools.lru_cache(maxsize=64)
def tight_frame(dim: int, num_pairs: int, seed: int = 0):
    """A d x P matrix F with F F^T = I (identity when P = d): directions of an overcomplete code.

    Rows of a random P x P orthogonal matrix: every direction is covered equally, so the
    population's preconditioner D D^T stays the learned covariance, however many pairs.
    """
    if num_pairs < dim:
        raise ValueError(f"num_pairs={num_pairs} must be at least the dimension {dim}")
    if num_pairs == dim:
        return np.eye(dim)
    gaussian = np.random.default_rng(seed).normal(size=(num_pairs, num_pairs))
    orthogonal, _ = np.linalg.qr(gaussian)
    return orthogonal[:dim, :]


def decoder_scale(step_size, expected_spikes):
    """delta = sqrt(h / (2a)): the jump per spike that gives a Langevin step h (MALA units)."""
    return jnp.sqrt(step_size / (2.0 * expected_spikes))


def recurrent_weights(decoders, hessian_neg_log_density):
    """W = -1/2 D^T H D: for a Gaussian posterior u = W n + b, n the net spike counts."""
    return -0.5 * decoders.T @ hessian_neg_log_density @ decoders


def hessian_of_potential(potential_fn, position):
    """H = Hessian of -log p at ``position`` (flat), by forward-over-reverse autodiff."""
    return jax.hessian(potential_fn)(position)


def save(path, network: Network, step_size=None, inverse_mass_matrix=None, **extra):
    """Save a network (decoders, rates, window, and the adapted step size / covariance) to .npz."""
    arrays = {
        "decoders": np.asarray(network.decoders),
        "base_rate_hz": np.asarray(network.base_rate_hz),
        "window_ms": np.asarray(network.window_ms),
        "max_potential": np.asarray(network.max_potential),
    }
    if step_size is not None:
        arrays["step_size"] = np.asarray(step_size)
    if inverse_mass_matrix is not None:
        arrays["inverse_mass_matrix"] = np.asarray(inverse_mass_matrix)
    arrays["extra_json"] = np.asarray(json.dumps(extra))
    np.savez(path, **arrays)


def load(path):
    """Load what :func:`save` wrote: (Network, dict of the other saved fields)."""
    with np.load(path) as data:
        network = Network(
            jnp.asarray(data["decoders"]),
            float(data["base_rate_hz"]),
            float(data["window_ms"]),
            float(data["max_potential"]),
        )
        rest = {k: jnp.asarray(data[k]) for k in ("step_size", "inverse_mass_matrix") if k in data}
        rest.update(json.loads(str(data["extra_json"])) if "extra_json" in data else {})
    return network, rest


def describe(kernel, state, hessian: bool = True):
    """(Network, W) of one chain's ``state`` of a SpikingKernel (see ``get_network``)."""
    spec = kernel.dynamics
    if spec.network is None:
        raise NotImplementedError(
            f"dynamics={kernel.dynamics_name!r} does not describe its network as decoders and rates"
        )
    network = spec.network(kernel.network_params(state))
    if not hessian:
        return network, None
    from jax.flatten_util import ravel_pytree

    from spiking_mcmc.state import continuous_sites

    logdensity_and_grad = kernel.logdensity_and_grad()
    position = ravel_pytree(continuous_sites(state.z, state.z_grad))[0]
    units = () if state.discrete is None else (state.discrete.values,)  # W given the units
    h = hessian_of_potential(lambda x: -logdensity_and_grad(x, *units)[0], position)
    return network, recurrent_weights(network.decoders, h)


def save_kernel(path, kernel, state):
    """Save one chain's network and what warmup learned (step size, covariance, settings)."""
    network, _ = describe(kernel, state, hessian=False)
    save(
        path,
        network,
        step_size=state.adapt_state.step_size,
        inverse_mass_matrix=state.adapt_state.metric.covariance(),
        dynamics=kernel.dynamics_name,
        settings={k: v for k, v in kernel.settings.to_dict().items() if v is not None},
    )


def saved_kernel_options(path, overrides: dict) -> dict:
    """SpikingKernel options that start from a saved network (``overrides`` win)."""
    _, saved = load(path)
    options = {**saved.get("settings", {}), **overrides}
    options.setdefault("dynamics", saved.get("dynamics", "poisson"))
    options.setdefault("step_size", float(saved["step_size"]))
    options.setdefault("inverse_mass_matrix", saved["inverse_mass_matrix"])
    return options


class NetworkAccess:
    """What a SpikingKernel shows of its network: its density, decoders, weights, saving."""

    def logdensity_and_grad(self, model_args=None, model_kwargs=None):
        """x -> (log p(x), grad log p(x)) on the flat unconstrained space, for the last run's
        model arguments (or the ones given); with discrete sites (x, v) -> (l(x, v), grad_x),
        v the discrete units' value indices (``state.discrete.values``)."""
        joint = self._joint_log_density(model_args, model_kwargs)
        if self.discrete_layout is None:
            return joint

        def given_units(position, values=None):  # l(x | v)
            if values is None:
                raise ValueError(
                    "this model has discrete sites: its log density is l(x, v), v the discrete "
                    "units' value indices (state.discrete.values); call f(x, values). The "
                    "discrete units' spikes are per-draw fields (spiking_mcmc.discrete.neural)."
                )
            return joint(position, values)

        return given_units

    def _joint_log_density(self, model_args, model_kwargs):
        from spiking_mcmc.initialization import kernel_log_density

        return kernel_log_density(self, model_args, model_kwargs)

    def _decode(self, values):
        """Discrete units' value indices -> the discrete sites' values."""
        return self.discrete_layout.decode(values)

    def network_params(self, state):
        """The network of one chain's state (the dynamics' params: decoders, step, ...)."""

        return sampler.network_params(self.dynamics, self.settings, states.chain(state).adapt_state)

    def get_network(self, state, hessian: bool = True):
        """(Network, W): one chain's decoders and rates and, at its position, the recurrent
        weights W = -1/2 D^T H D (H = Hessian of -log p); W is None without ``hessian``."""
        return describe(self, states.chain(state), hessian)

    def save_network(self, path, state):
        """Save what warmup learned (decoders, step size, covariance) for a later kernel."""
        save_kernel(path, self, states.chain(state))

    @classmethod
    def from_saved(cls, path, model=None, potential_fn=None, **kwargs):
        """A kernel that starts from a saved network (run with ``num_warmup=0``, or more)."""
        return cls(model=model, potential_fn=potential_fn, **saved_kernel_options(path, kwargs))

    def chain(self, state, index: int = 0):
        """Chain ``index`` of a vectorised state (for get_network or recording)."""
        return states.chain(state, index)
