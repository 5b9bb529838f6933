"""Claim items measured by an executor (``--lc-executor local|slurm``), judged by pytest.

Every test runs with submitit's local executor; the same tests run as Slurm job-array tasks on
a real Slurm (marked ``slurm``: they skip without one, naming ``.ci/slurm up``, and fail instead
under ``LCSUITE_REQUIRE_SLURM=1``, as in CI).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import torch
from executor_toys import wait_until
from plugin_toys import LINE_FAIL, LINE_PASS, TRAIN, calls, run_dir, spawn_pytest, verdicts, write_claim

from lcsuite.harness import runs, store
from lcsuite.harness.executors import last_progress, read_manifest
from lcsuite.harness.executors.progress import parse_progress
from lcsuite.pytest_plugin import EXIT_ERRORED

GRID = LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0]\n[tier.smoke]')
BOUND_S = 90  # a killed job must become an item error well within this


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def executor(request, executor_env):
    if request.param == "slurm":
        request.getfixturevalue("slurm_cluster")
    return request.param


def _run(pytester, *args, timeout=300, tier="smoke"):
    process = spawn_pytest(pytester, "claims", "--lc-tier", tier, "--lc-results", "res", "-p", "no:cacheprovider",
                           *args)
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def _submit(pytester, *args, timeout=300):
    """Submit only, returning when pytest exits: its output goes to a file, not a pipe, which the
    local executor's jobs would hold open until they end."""
    log = pytester.path / f"submit-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "pytest", "claims", "--lc-tier", "smoke", "--lc-results", "res",
                               "-p", "no:cacheprovider", "--lc-submit-only", *args], cwd=pytester.path, stdout=out,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return done.returncode, log.read_text()


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
    rc, out = _submit(toy, "--lc-run-id", "r", "--lc-executor", executor)
    assert rc == 0 and "3 items submitted" in out, out
    status = _cli("status", str(run_dir(toy, "r")))
    assert re.search(r"toy/toy_slow/default +(running|pending) ", status), status
    assert "jobs/" in status  # log paths
    collected = _cli("collect", str(run_dir(toy, "r")))
    assert verdicts(toy, "r") == {"toy_grid/slope=1.0": "pass", "toy_grid/slope=2.0": "pass",
                                  "toy_slow/default": "fail"}
    table = collected[collected.index("lcsuite claims (tier smoke, run r)"):]
    assert "| toy_grid" in table and "| toy_slow" in table and "reused" not in table
    assert "3 done, 0 running, 0 pending, 0 failed" in _cli("status", str(run_dir(toy, "r")))
    assert len(calls(tmp_path)) == 5  # 2 + 2 + 1 seeds, each measured once


def _cli(*args: str) -> str:
    return _cli_run(*args)[1]


def _cli_run(*args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "lcsuite.cli", *args], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


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


def test_a_training_item_shows_its_progress_in_its_log_and_in_status(toy, executor, monkeypatch):
    write_claim(toy, "toy_train", TRAIN)
    monkeypatch.setenv("LCSUITE_PROGRESS_EVERY_S", "0")  # every step: the toy trains for 40
    monkeypatch.setenv("TOY_SLEEP_ITEM", "train")
    monkeypatch.setenv("TOY_SLEEP_S", "12")  # after training each seed: time to ask for the status
    rc, out = _submit(toy, "--lc-run-id", "r", "--lc-executor", executor)
    assert rc == 0, out
    key = "toy/toy_train/default"
    log = Path(read_manifest(run_dir(toy, "r")).tasks[key].stderr)
    wait_until(lambda: (last_progress(log, key) or {}).get("seed") == 2
               and last_progress(log, key)["step"] == 40, 120, "the second seed's last progress line")
    assert "seed 2/2 step 40/40 epoch 10/10 eta 0s" in _cli("status", str(run_dir(toy, "r")))
    lines = [line for line in map(parse_progress, log.read_text().splitlines()) if line]
    assert [(line["seed"], line["step"]) for line in lines] == [(seed, step) for seed in (1, 2) for step in range(41)]
    assert {(line["key"], line["steps"], line["epochs"], line["seeds"]) for line in lines} == {(key, 40, 10, 2)}
    assert all(line["eta_s"] is not None for line in lines if line["step"] > 0)
    rc, _ = _cli_run("collect", str(run_dir(toy, "r")))
    assert rc == 0 and verdicts(toy, "r") == {"toy_train/default": "pass"}


GPU_LINE = LINE_PASS.replace("[tier.smoke]", "[tier.gpu]")


def _recorded_devices(path: Path) -> set[str]:
    return {line.split()[-1] for line in path.read_text().splitlines()} if path.exists() else set()


def test_the_device_is_decided_in_the_job_not_where_items_are_submitted(toy, monkeypatch, tmp_path):
    # No GPU here: LCSUITE_CUDA_DEVICE_COUNT stands in for the host's GPUs and CUDA_VISIBLE_DEVICES
    # limits what a process sees, as for torch; the toy records its device and never touches CUDA.
    write_claim(toy, "toy_gpu", GPU_LINE)
    monkeypatch.setenv("LCSUITE_CUDA_DEVICE_COUNT", "1")
    monkeypatch.setenv("TOY_DEVICES", str(tmp_path / "devices.txt"))
    # submitting without a GPU; submitit's local executor hands the job one (CUDA_VISIBLE_DEVICES=0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    rc, out = _run(toy, "--lc-run-id", "given", "--lc-executor", "local", "--lc-slurm-gpus-per-task", "1", tier="gpu")
    assert rc == 0, out
    assert _recorded_devices(tmp_path / "devices.txt") == {"cuda"}
    # submitting with a GPU; the job gets none (CUDA_VISIBLE_DEVICES=""): an error, never the CPU
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    (tmp_path / "devices.txt").unlink()
    rc, out = _run(toy, "--lc-run-id", "none", "--lc-executor", "local", tier="gpu")
    assert rc == EXIT_ERRORED, out
    record = runs.read_verdict(run_dir(toy, "none"), "toy/toy_gpu/default")
    assert record.verdict == "error" and "(job " in record.message, record.message
    assert "tier gpu is measured on a CUDA device, but torch sees none" in record.message
    assert "CUDA_VISIBLE_DEVICES=''" in record.message and "Traceback" not in record.message
    assert not (tmp_path / "devices.txt").exists() and not list(run_dir(toy, "none").rglob("*.h5"))


@pytest.mark.slurm
@pytest.mark.usefixtures("executor_env", "slurm_cluster")
def test_a_slurm_job_decides_its_device_itself(toy, monkeypatch, tmp_path):
    write_claim(toy, "toy_gpu", GPU_LINE)
    monkeypatch.delenv("LCSUITE_CUDA_DEVICE_COUNT", raising=False)  # the submitting process sees no GPU
    monkeypatch.setenv("TOY_DEVICES", str(tmp_path / "devices.txt"))
    rc, out = _run(toy, "--lc-run-id", "r", "--lc-executor", "slurm",
                   "--lc-slurm-sbatch=--export=ALL,LCSUITE_CUDA_DEVICE_COUNT=1", tier="gpu")
    assert rc == 0, out
    assert _recorded_devices(tmp_path / "devices.txt") == {"cuda"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.usefixtures("executor_env")
def test_on_a_gpu_machine_a_job_given_a_gpu_measures_on_it(toy, monkeypatch, tmp_path):
    write_claim(toy, "toy_gpu", GPU_LINE)
    monkeypatch.delenv("LCSUITE_CUDA_DEVICE_COUNT", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the submitting process sees none
    rc, out = _run(toy, "--lc-run-id", "r", "--lc-executor", "local", "--lc-slurm-gpus-per-task", "1", tier="gpu")
    assert rc == 0, out
    device = store.read_item(run_dir(toy, "r") / "toy" / "toy_gpu" / "default.h5").provenance["device"]
    assert device["kind"].startswith("cuda:") and device["name"] != "unavailable"


def test_a_resubmission_says_what_it_submitted_and_what_was_still_queued(toy, executor, monkeypatch, tmp_path):
    write_claim(toy, "toy_fast", LINE_PASS)
    write_claim(toy, "toy_slow", LINE_FAIL.replace('name = "line"', 'name = "slow"'))
    monkeypatch.setenv("TOY_SLEEP_ITEM", "slow")
    monkeypatch.setenv("TOY_SLEEP_S", "25")
    rc, out = _submit(toy, "--lc-run-id", "r", "--lc-executor", executor)
    assert rc == 0 and "2 items submitted now; 0 still queued or running" in out, out
    fast = run_dir(toy, "r") / "toy" / "toy_fast" / "default.h5"
    wait_until(fast.exists, 60, "the fast item's result")
    rc, out = _submit(toy, "--lc-run-id", "r", "--lc-executor", executor)
    assert rc == 0, out
    if executor == "local":  # the job's device is this machine's CPU: the stored result is kept here
        assert ("0 items submitted now; 1 still queued or running from an earlier submission (not submitted "
                "again); 1 already done.") in out, out
    else:  # the job decides, with its own device, and keeps the stored result
        assert ("1 item submitted now (1 of them with a stored result, kept by the job if valid on its device); "
                "1 still queued or running from an earlier submission (not submitted again); 0 already done.") in out, out
    rc, out = _cli_run("collect", str(run_dir(toy, "r")))
    assert rc == 1 and verdicts(toy, "r") == {"toy_fast/default": "pass", "toy_slow/default": "fail"}, out
    assert sorted(calls(tmp_path)) == ["line:0", "line:1", "slow:0"]  # each measured once


def test_collect_on_a_run_without_a_manifest_judges_what_is_stored_and_measures_nothing(toy, tmp_path):
    write_claim(toy, "toy_kept", LINE_PASS)
    write_claim(toy, "toy_lost", LINE_PASS.replace('name = "line"', 'name = "lost"'))
    rc, out = _run(toy, "--lc-run-id", "r")
    assert rc == 0, out
    (run_dir(toy, "r") / "toy" / "toy_lost" / "default.h5").unlink()
    measured = calls(tmp_path)
    rc, out = _cli_run("collect", str(run_dir(toy, "r")))
    assert calls(tmp_path) == measured, out
    assert rc == EXIT_ERRORED and verdicts(toy, "r") == {"toy_kept/default": "pass", "toy_lost/default": "missing"}
    assert "no stored result in this run" in runs.read_verdict(run_dir(toy, "r"), "toy/toy_lost/default").message
    assert "incomplete: 1 of 2 items finished; missing: toy/toy_lost/default" in out, out
