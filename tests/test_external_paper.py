"""A second paper plugs in from outside lcsuite, through entry points alone.

``tests/tiny_paper`` is a package (``tinypaper``) with its own paper file, one experiment, one
check, one model and one data set (with its data file), and a claim folder with one claim that
names the model and the data set by their registered names. The test copies it out of the test
tree, writes an installed distribution's metadata naming its entry points, and runs pytest on
the claim folder and ``lcsuite report`` on the run: the verdict table and a report titled by that
paper come out, with no change to lcsuite. The data set is also resolved in this process, under
each data policy a claim can set, and its stored provenance is checked for reuse.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lcsuite.data import DATASETS, DataNotFoundError, load_dataset, stale_data_reasons

TINY = Path(__file__).with_name("tiny_paper")
ENTRY_POINTS = """[lcsuite.papers]
tiny = tinypaper
[lcsuite.experiments]
tiny = tinypaper.experiments
[lcsuite.checks]
at_most = tinypaper.checks:AtMost
[lcsuite.models]
tiny_linear = tinypaper.models:tiny_linear
[lcsuite.datasets]
tiny_points = tinypaper.data:tiny_points
"""


def _install(site: Path) -> None:
    """The package and its metadata on a folder that goes on PYTHONPATH (what pip would write)."""
    shutil.copytree(TINY / "tinypaper", site / "tinypaper")
    info = site / "tinypaper-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypaper\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def _run(command: list[str], cwd: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("LCSUITE_PLUGINS", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _pytest_claims(work: Path, site: Path, *extra: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "pytest", "claims", "--lc-tier", "smoke", "--lc-results", "res",
                 "--lc-run-id", "r", "-p", "no:cacheprovider", *extra], work, site)


@pytest.fixture
def tiny_work(tmp_path):
    """``(site, work)``: the tiny paper installed on ``site``; its claims and data under ``work``."""
    site, work = tmp_path / "site", tmp_path / "work"
    site.mkdir()
    _install(site)
    shutil.copytree(TINY / "claims", work / "claims")
    shutil.copytree(TINY / "data", work / "data")
    return site, work


def test_a_tiny_paper_registered_by_entry_points_gives_a_table_and_a_titled_report(tiny_work):
    from lcsuite.harness.store import read_item

    site, work = tiny_work
    done = _pytest_claims(work, site, "--lc-data", "data")
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index("lcsuite claims (tier smoke, run r)"):]
    assert "| tiny_descent_lowers_loss | Sec. 1" in table and "PASS" in table
    stored = read_item(work / "res" / "r" / "tiny" / "tiny_descent_lowers_loss" / "default.h5")
    (data,) = stored.data
    assert (data["name"], data["status"], data["source"]) == ("tiny_points", "verified", str((work / "data").resolve()))
    assert {"tinypaper.experiments", "tinypaper.models", "tinypaper.data"} <= set(stored.provenance["code"])
    assert "tinypaper.checks" not in stored.provenance["code"]  # judging code never invalidates a measurement
    report = _run([sys.executable, "-m", "lcsuite.cli", "report", "res/r", "-o", "report.md"], work, site)
    assert report.returncode == 0, report.stderr
    text = (work / "report.md").read_text()
    assert text.startswith("# lcsuite report: Gradient Descent Lowers the Loss of a Tiny Linear Model")
    assert "Example et al., *Gradient Descent Lowers the Loss of a Tiny Linear Model* (Tiny Workshop 2026)" in text
    assert "final loss below 0.5 of the initial one" in text  # the paper file's summary


def test_an_unregistered_data_set_named_in_the_claim_is_a_collection_error_naming_the_file(tiny_work):
    site, work = tiny_work
    claim = work / "claims" / "tiny_descent_lowers_loss.toml"
    claim.write_text(claim.read_text().replace('dataset = "tiny_points"', 'dataset = "tiny_pointz"'))
    done = _pytest_claims(work, site, "--lc-data", "data")
    assert done.returncode != 0
    assert ("claims/tiny_descent_lowers_loss.toml: params.dataset: unknown data set 'tiny_pointz' "
            "(did you mean 'tiny_points'?); registered: ") in done.stdout, done.stdout


@pytest.fixture
def tiny_points(monkeypatch):
    """The tiny paper's data set registered in this process as ``tiny_points`` (undone after)."""
    spec = importlib.util.spec_from_file_location("tiny_paper_data", TINY / "tinypaper" / "data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(DATASETS._entries, "tiny_points", module.tiny_points)
    monkeypatch.setitem(DATASETS._owners, "tiny_points", "tiny_paper_data")
    monkeypatch.delenv("LCSUITE_DATA", raising=False)
    return module


def test_the_claims_data_policy_reaches_a_plugin_data_set(tiny_points, tmp_path):
    with pytest.raises(DataNotFoundError, match="tiny_points required: no tiny_points.csv"):
        load_dataset("tiny_points", tmp_path, requires_real_data=True)
    substitute = load_dataset("tiny_points", tmp_path, requires_real_data=False)
    assert substitute.provenance.status == "substitute" and substitute.inputs.shape == (64, 4)
    real = load_dataset("tiny_points", TINY / "data", requires_real_data=True)
    assert real.provenance.status == "verified" and real.inputs.shape == (64, 4)


def test_a_plugin_data_sets_files_are_compared_on_reuse(tiny_points, tmp_path):
    shutil.copy(TINY / "data" / "tiny_points.csv", tmp_path / "tiny_points.csv")
    entry = load_dataset("tiny_points", tmp_path).provenance.to_dict()
    assert stale_data_reasons(entry, tmp_path) == []
    with open(tmp_path / "tiny_points.csv", "a") as handle:
        handle.write("0.0,0.0,0.0,0.0,1\n")
    assert stale_data_reasons(entry, tmp_path) == [f"data file {tmp_path.resolve() / 'tiny_points.csv'} changed (sha256)"]
    (tmp_path / "tiny_points.csv").unlink()
    assert stale_data_reasons(entry, tmp_path) == [f"data file {tmp_path.resolve() / 'tiny_points.csv'} is gone"]


def test_the_tiny_paper_is_outside_lcsuite():
    import lcsuite

    assert not any(Path(lcsuite.__file__).parent in p.parents for p in TINY.rglob("*.py"))
    assert "tinypaper" not in "".join(p.read_text() for p in Path(lcsuite.__file__).parent.rglob("*.py"))
