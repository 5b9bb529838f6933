"""Test configuration: pytester for the plugin tests; data-file digests cached in a temporary
folder, never in the user's cache; the environment for executor jobs; a usable Slurm (the
integration tests skip without one, naming `.ci/slurm up`, unless LCSUITE_REQUIRE_SLURM=1)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

pytest_plugins = ["pytester", "plugin_toys"]

# The tiny external paper is a fixture package: its claim file is run from a copy, outside
# this tree, by test_external_paper.py.
collect_ignore = ["tiny_paper"]

TESTS_DIR = Path(__file__).resolve().parent

# Switching deterministic algorithms imports torch._inductor, whose operator library cannot be
# registered twice: import it once here, before pytester's in-process runs snapshot sys.modules
# (they drop the modules a run imported, so a second run would import it again).
torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled())

# Likewise the modules that hold registries: a pytester run that imported one first would drop
# it, and the next run would find that registry empty while its plugins count as loaded.
import lcsuite.conditioning  # noqa: E402,F401
import lcsuite.data  # noqa: E402,F401
import lcsuite.harness.checks  # noqa: E402,F401
import lcsuite.harness.experiments  # noqa: E402,F401
import lcsuite.harness.papers  # noqa: E402,F401
import lcsuite.models  # noqa: E402,F401


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


REQUIRE_ENV = "LCSUITE_REQUIRE_SLURM"


def _answer(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _slurm_problem() -> str | None:
    """Why there is no usable Slurm with accounting here, or None."""
    for tool in ("sbatch", "srun", "squeue", "sacct", "sinfo", "sacctmgr", "scontrol", "scancel"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    nodes = _answer(["sinfo", "-h", "-N", "-o", "%T"])
    if not nodes or not {"idle", "mixed", "allocated"} & set(nodes.split()):
        return f"sinfo shows no usable node ({(nodes or 'no answer').strip()})"
    if _answer(["sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"]) is None:
        return "accounting (slurmdbd) does not answer"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    problem = _slurm_problem()
    if problem:
        message = f"no usable Slurm here: {problem}; bring one up with `.ci/slurm up` (as root)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1 requires it)", pytrace=False)
        pytest.skip(message)
