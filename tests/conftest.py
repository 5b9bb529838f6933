"""Test configuration: pytester for the plugin tests; data-file digests cached in a temporary
folder, never in the user's cache; the environment for executor jobs."""

import os
from pathlib import Path

import pytest
import torch

pytest_plugins = ["pytester", "plugin_toys"]

TESTS_DIR = Path(__file__).resolve().parent

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


@pytest.fixture
def executor_env(monkeypatch):
    """Job processes (submitit local or Slurm, and their spawned children) import the toy tasks
    of ``tests/executor_toys.py`` and this checkout's lcsuite: both go on PYTHONPATH, which
    submitit's local controller and sbatch pass on to the jobs."""
    paths = [str(TESTS_DIR), str(TESTS_DIR.parent)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
