"""Discrete latent sites sampled by spiking units (neural sampling), beside the continuous network.

binary site     one neuron, membrane potential u = log p(s = 1, rest) - log p(s = 0, rest);
                a spike holds s = 1 for a refractory period (Buesing et al. 2011)
K-valued site   a winner-take-all group of K neurons, neuron k's potential l(s = k, rest)
one draw        the units step one at a time (random order), then the continuous network
                moves x given them

layout    the discrete sites as a flat vector of units (value indices) and back
neuron    one unit's time step and why it keeps p(s_j | rest) invariant
sweep     all units one at a time (exact) or all at once (not exact: the negative control)
block     the alternation with the continuous network, and why the joint chain is exact
settings  refractory_steps, step_ms, update
model     NumPyro glue: the model conditioned on the discrete values
neural    spikes, rates, ISI and correlations of the units from per-draw fields
"""

from spiking_mcmc.discrete.block import DiscreteState
from spiking_mcmc.discrete.settings import DiscreteSettings

__all__ = ["DiscreteSettings", "DiscreteState"]
