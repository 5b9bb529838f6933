"""Test configuration: pytester for the plugin tests; data-file digests cached in a temporary
folder, never in the user's cache."""

import pytest
import torch

pytest_plugins = ["pytester", "plugin_toys"]

# Switching deterministic algorithms imports torch._inductor, whose operator library cannot be
# registered twice: import it once here, before pytester's in-process runs snapshot sys.modules
# (they drop the modules a run imported, so a second run would import it again).
torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled())


@pytest.fixture(autouse=True, scope="session")
def temporary_digest_cache(tmp_path_factory):
    """``$LCSUITE_CACHE`` points at a fresh folder for the whole session (subprocesses too)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("LCSUITE_CACHE", str(tmp_path_factory.mktemp("lcsuite-cache")))
    yield
    patch.undo()
