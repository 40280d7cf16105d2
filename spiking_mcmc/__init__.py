"""spiking_mcmc: exact MCMC with stochastic spiking neural networks, as a NumPyro kernel."""

from spiking_mcmc.kernel import SpikingKernel, SpikingState
from spiking_mcmc.network import Network

__all__ = ["Network", "SpikingKernel", "SpikingState"]
__version__ = "0.1.0"
