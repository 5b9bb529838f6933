"""A second paper plugs in from outside lcsuite, through entry points alone.

``tests/tiny_paper`` is a package (``tinypaper``) with its own paper file, one experiment, one
check and one model, and a claim folder with one claim. The test copies it out of the test tree,
writes an installed distribution's metadata naming its entry points, and runs pytest on the
claim folder and ``lcsuite report`` on the run: the verdict table and a report titled by that
paper come out, with no change to lcsuite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TINY = Path(__file__).with_name("tiny_paper")
ENTRY_POINTS = """[lcsuite.papers]
tiny = tinypaper
[lcsuite.experiments]
tiny = tinypaper.experiments
[lcsuite.checks]
at_most = tinypaper.checks:AtMost
[lcsuite.models]
tiny_linear = tinypaper.models:tiny_linear
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


def test_a_tiny_paper_registered_by_entry_points_gives_a_table_and_a_titled_report(tmp_path):
    site, work = tmp_path / "site", tmp_path / "work"
    site.mkdir()
    _install(site)
    shutil.copytree(TINY / "claims", work / "claims")
    done = _run([sys.executable, "-m", "pytest", "claims", "--lc-tier", "smoke", "--lc-results", "res",
                 "--lc-run-id", "r", "-p", "no:cacheprovider"], work, site)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index("lcsuite claims (tier smoke, run r)"):]
    assert "| tiny_descent_lowers_loss | Sec. 1" in table and "PASS" in table
    assert (work / "res" / "r" / "tiny" / "tiny_descent_lowers_loss" / "default.h5").is_file()
    report = _run([sys.executable, "-m", "lcsuite.cli", "report", "res/r", "-o", "report.md"], work, site)
    assert report.returncode == 0, report.stderr
    text = (work / "report.md").read_text()
    assert text.startswith("# lcsuite report: Gradient Descent Lowers the Loss of a Tiny Linear Model")
    assert "Example et al., *Gradient Descent Lowers the Loss of a Tiny Linear Model* (Tiny Workshop 2026)" in text
    assert "final loss below 0.5 of the initial one" in text  # the paper file's summary


def test_the_tiny_paper_is_outside_lcsuite():
    import lcsuite

    assert not any(Path(lcsuite.__file__).parent in p.parents for p in TINY.rglob("*.py"))
    assert "tinypaper" not in "".join(p.read_text() for p in Path(lcsuite.__file__).parent.rglob("*.py"))
