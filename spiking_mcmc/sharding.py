"""Chains split over devices: the chain axis of a stacked state on a one-axis mesh.

    every per-chain leaf: PartitionSpec("chains");  a shared warmup state: replicated
With cross-chain warmup the shared state's sums over chains become all-reduces (jax.sharding).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def check_devices(devices, num_chains: int):
    """The chains must split evenly over the devices."""
    if num_chains % len(devices):
        raise ValueError(
            f"{num_chains} chains cannot be split evenly over {len(devices)} devices: "
            "make num_chains a multiple of the number of chain_devices"
        )


def shardings(state, devices, shared_warmup: bool):
    """NamedShardings for a stacked SpikingState: chains split, a shared warmup replicated."""
    mesh = Mesh(np.array(devices), ("chains",))
    split = NamedSharding(mesh, PartitionSpec("chains"))
    copied = NamedSharding(mesh, PartitionSpec())
    per_chain = jax.tree.map(lambda _: split, state._replace(adapt_state=None))
    warmup = jax.tree.map(lambda _: copied if shared_warmup else split, state.adapt_state)
    return per_chain._replace(adapt_state=warmup)


def place(state, devices, shared_warmup: bool):
    """Put a stacked state on the devices."""
    return jax.device_put(state, shardings(state, devices, shared_warmup))


def constrain(state, devices, shared_warmup: bool):
    """Inside a traced step: keep the state's layout."""
    return jax.lax.with_sharding_constraint(state, shardings(state, devices, shared_warmup))
