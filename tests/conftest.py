"""Test configuration: pytester for the plugin tests; data-file digests cached in a temporary
folder, never in the user's cache."""

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True, scope="session")
def temporary_digest_cache(tmp_path_factory):
    """``$LCSUITE_CACHE`` points at a fresh folder for the whole session (subprocesses too)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("LCSUITE_CACHE", str(tmp_path_factory.mktemp("lcsuite-cache")))
    yield
    patch.undo()
