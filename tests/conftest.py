import jax
import pytest


@pytest.fixture(params=["float32", "float64"])
def precision(request):
    """Run the test body in float32 and again in float64 (jax's x64 mode)."""
    with jax.enable_x64(request.param == "float64"):
        yield request.param


@pytest.fixture(autouse=True, scope="module")
def fresh_compilation_caches():
    """Each test module starts with jax's compilation caches cleared (bounded memory over the
    whole suite on a small CI machine)."""
    jax.clear_caches()
    yield
