"""Test configuration: pytester for the plugin tests; the environment for executor jobs."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture
def executor_env(monkeypatch):
    """Job processes (submitit local or Slurm, and their spawned children) import the toy tasks
    of ``tests/executor_toys.py`` and this checkout's lcsuite: both go on PYTHONPATH, which
    submitit's local controller and sbatch pass on to the jobs."""
    paths = [str(TESTS_DIR), str(TESTS_DIR.parent)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
