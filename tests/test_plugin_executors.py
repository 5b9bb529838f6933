"""Claim items measured by an executor (``--lc-executor local|slurm``), judged by pytest.

Every test runs with submitit's local executor; the same tests run as Slurm job-array tasks on
a real Slurm (marked ``slurm``: they skip without one, naming ``.ci/slurm up``, and fail instead
under ``LCSUITE_REQUIRE_SLURM=1``, as in CI).
"""

from __future__ import annotations

import subprocess
import sys
import time

import h5py
import pytest
from plugin_toys import LINE_FAIL, LINE_PASS, calls, run_dir, spawn_pytest, verdicts, write_claim

from lcsuite.harness import runs, store
from lcsuite.pytest_plugin import EXIT_ERRORED

GRID = LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0]\n[tier.smoke]')
BOUND_S = 90  # a killed job must become an item error well within this


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def executor(request, executor_env):
    if request.param == "slurm":
        request.getfixturevalue("slurm_cluster")
    return request.param


def _run(pytester, *args, timeout=300):
    process = spawn_pytest(pytester, "claims", "--lc-tier", "smoke", "--lc-results", "res", "-p", "no:cacheprovider",
                           *args)
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def _float_datasets(run: str, pytester) -> dict[str, bytes]:
    found = {}
    for path in sorted(run_dir(pytester, run).rglob("*.h5")):
        with h5py.File(path, "r") as f:
            f["quantities"].visititems(lambda name, obj, path=path: found.__setitem__(
                f"{path.name}:{name}", obj[()].tobytes()) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_items_measured_by_the_executor_equal_an_inline_run(toy, executor):
    write_claim(toy, "toy_grid", GRID)
    write_claim(toy, "toy_fail", LINE_FAIL)
    inline_rc, _ = _run(toy, "--lc-run-id", "inline")
    rc, out = _run(toy, "--lc-run-id", "exec", "--lc-executor", executor)
    assert rc == inline_rc == 1, out
    assert verdicts(toy, "exec") == verdicts(toy, "inline") == {
        "toy_grid/slope=1.0": "pass", "toy_grid/slope=2.0": "pass", "toy_fail/default": "fail"}
    assert _float_datasets("exec", toy) == _float_datasets("inline", toy)
    provenance = store.read_item(run_dir(toy, "exec") / "toy" / "toy_fail" / "default.h5").provenance
    assert provenance["executor"] == executor and provenance["job"].startswith(executor + "-")


def test_a_killed_job_becomes_an_item_error_within_a_bounded_time(toy, executor, monkeypatch):
    write_claim(toy, "toy_ok", LINE_PASS)
    write_claim(toy, "toy_crash", LINE_PASS.replace('name = "line"', 'name = "crash"'))
    monkeypatch.setenv("TOY_CRASH_ITEM", "crash")
    start = time.monotonic()
    rc, out = _run(toy, "--lc-run-id", "r", "--lc-executor", executor)
    assert time.monotonic() - start < BOUND_S, out
    assert rc == EXIT_ERRORED, out
    record = runs.read_verdict(run_dir(toy, "r"), "toy/toy_crash/default")
    assert record.verdict == "error" and "(job " in record.message and "log " in record.message
    assert verdicts(toy, "r")["toy_ok/default"] == "pass"


def test_submit_only_then_collect_gives_the_table_of_a_full_run(toy, executor, monkeypatch, tmp_path):
    write_claim(toy, "toy_grid", GRID)
    write_claim(toy, "toy_slow", LINE_FAIL.replace('name = "line"', 'name = "slow"'))
    monkeypatch.setenv("TOY_SLEEP_ITEM", "slow")
    monkeypatch.setenv("TOY_SLEEP_S", "8")
    rc, out = _run(toy, "--lc-run-id", "r", "--lc-executor", executor, "--lc-submit-only")
    assert rc == 0 and "3 items submitted" in out, out
    status = _cli("status", str(run_dir(toy, "r")))
    assert "toy/toy_slow/default" in status and ("running" in status or "pending" in status), status
    assert "jobs/" in status  # log paths
    collected = _cli("collect", str(run_dir(toy, "r")))
    assert verdicts(toy, "r") == {"toy_grid/slope=1.0": "pass", "toy_grid/slope=2.0": "pass",
                                  "toy_slow/default": "fail"}
    table = collected[collected.index("lcsuite claims (tier smoke, run r)"):]
    assert "| toy_grid" in table and "| toy_slow" in table and "reused" not in table
    assert "3 done, 0 running, 0 pending, 0 failed" in _cli("status", str(run_dir(toy, "r")))
    assert len(calls(tmp_path)) == 5  # 2 + 2 + 1 seeds, each measured once


def _cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "lcsuite.cli", *args], capture_output=True, text=True, timeout=300)
    return done.stdout + done.stderr


def test_n_cannot_be_combined_with_another_executor(toy):
    write_claim(toy, "toy_pass", LINE_PASS)
    rc, out = _run(toy, "-n", "2", "--lc-executor", "local")
    assert rc == pytest.ExitCode.USAGE_ERROR and "-n cannot be combined with --lc-executor local" in out


@pytest.mark.slurm
@pytest.mark.usefixtures("executor_env", "slurm_cluster")
def test_a_requeued_item_completes_once_with_the_same_tensors(toy, monkeypatch, tmp_path):
    write_claim(toy, "toy_slow", LINE_PASS.replace('name = "line"', 'name = "slow"'))
    _run(toy, "--lc-run-id", "inline")
    monkeypatch.setenv("TOY_SLEEP_ITEM", "slow")
    monkeypatch.setenv("TOY_SLEEP_S", "6")
    _run(toy, "--lc-run-id", "r", "--lc-executor", "slurm", "--lc-submit-only")
    deadline = time.monotonic() + 60
    while "slow:0" not in calls(tmp_path):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.5)
    job_id = runs_manifest_job(toy, "r")
    subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=30)
    _cli("collect", str(run_dir(toy, "r")))
    assert verdicts(toy, "r") == {"toy_slow/default": "pass"}
    assert _float_datasets("r", toy) == _float_datasets("inline", toy)
    assert calls(tmp_path).count("slow:0") >= 2  # started again after the requeue


def runs_manifest_job(pytester, run: str) -> str:
    from lcsuite.harness.executors import read_manifest

    return next(iter(read_manifest(run_dir(pytester, run)).tasks.values())).job_id
