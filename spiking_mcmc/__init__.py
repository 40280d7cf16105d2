"""spiking_mcmc: exact MCMC with stochastic spiking neural networks, as a NumPyro kernel."""

import sys as _sys

import numpyro.infer as _numpyro_infer

from spiking_mcmc.comparison import Comparison, compare
from spiking_mcmc.kernel import SpikingKernel
from spiking_mcmc.network import Network
from spiking_mcmc.state import SpikingState

# arviz_base registers numpyro.infer.initialization as a lazy module; when arviz is imported
# before numpyro, the submodule never becomes an attribute of numpyro.infer and
# az.from_numpyro fails on models with plates. Bind it, as a normal import would.
if not hasattr(_numpyro_infer, "initialization"):
    _numpyro_infer.initialization = _sys.modules["numpyro.infer.initialization"]

__all__ = ["Comparison", "Network", "SpikingKernel", "SpikingState", "compare"]
__version__ = "0.2.0"
