import jax
import pytest


@pytest.fixture(params=["float32", "float64"])
def precision(request):
    """Run the test body in float32 and again in float64 (jax's x64 mode)."""
    with jax.enable_x64(request.param == "float64"):
        yield request.param
