"""The ``slurm`` executor against a real Slurm with accounting (``.ci/slurm up`` brings one up).

Without a usable Slurm these tests skip, naming the bring-up script; with
``LCSUITE_REQUIRE_SLURM=1`` (CI's separate invocation, ``pytest tests -m slurm``) they fail
instead: there a skip is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from executor_toys import CheckpointTask, ExitTask, RaiseTask, WriteTask, square_result, wait_until

from lcsuite.harness.executors import ClusterOptions, collect, read_manifest, run_tasks, status, submit

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("executor_env", "slurm_cluster")]

OPTIONS = ClusterOptions(time_min=5)
BOUND_S = 45  # from a job's end to its tasks' outcomes: grace 3 s + polling + scheduler latency


def _scheduler(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout


def test_array_tasks_run_and_their_results_appear(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    tasks = [WriteTask(f"t{i}", out, i) for i in range(4)]
    outcomes = run_tasks(tasks, run, "slurm", OPTIONS, poll_s=0.5, grace_s=3.0)
    assert [o.state for o in outcomes] == ["done"] * 4
    assert [o.summary for o in outcomes] == [square_result(f"t{i}", i) for i in range(4)]
    assert all(json.loads(t.result_path.read_text()) == square_result(t.key, t.value) for t in tasks)
    manifest = read_manifest(run)
    (array_id,) = {entry.array_job_id for entry in manifest.tasks.values()}
    assert [entry.array_task_id for entry in manifest.tasks.values()] == [0, 1, 2, 3]
    assert [o.job_id for o in outcomes] == [f"{array_id}_{i}" for i in range(4)]
    assert all(o.job_state == "COMPLETED" and os.path.exists(o.log_path) for o in outcomes)
    rerun = submit(tasks, run, "slurm", OPTIONS)
    assert all(entry.already_done and entry.job_id is None for entry in rerun.tasks.values())


def test_packed_tasks_share_an_array_task(tmp_path):
    out = str(tmp_path)
    tasks = [WriteTask("a", out, 2), ExitTask("b", out, 3), WriteTask("c", out, 4)]
    outcomes = run_tasks(tasks, tmp_path / "run", "slurm", ClusterOptions(time_min=5, items_per_task=2),
                         poll_s=0.5, grace_s=3.0)
    assert [o.state for o in outcomes] == ["done", "failed", "done"]
    assert outcomes[0].job_id == outcomes[1].job_id != outcomes[2].job_id
    assert outcomes[1].error == "task process exited with code 3 without reporting a result"


def test_dead_jobs_become_errors_within_a_bounded_time(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    dies, stuck = ExitTask("exits", out, 1), WriteTask("stuck", out, 2, sleep_s=300.0)
    manifest = submit([dies, stuck], run, "slurm", OPTIONS)
    wait_until(lambda: stuck.attempts() == 1, 60, "the stuck task to start")
    _scheduler("scancel", manifest.tasks["stuck"].job_id)
    cancelled_at = time.monotonic()
    outcomes = {o.key: o for o in collect(run, poll_s=0.5, grace_s=3.0, timeout_s=120)}
    assert time.monotonic() - cancelled_at < BOUND_S
    assert outcomes["exits"].state == "failed" and outcomes["exits"].job_state == "FAILED"
    assert "exit code 3" in outcomes["exits"].error and outcomes["exits"].log_path in outcomes["exits"].error
    assert outcomes["stuck"].state == "failed" and outcomes["stuck"].job_state == "CANCELLED"
    assert "ended without a result (scheduler state CANCELLED)" in outcomes["stuck"].error
    assert not stuck.is_done()


def test_submit_only_then_collect(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    tasks = [WriteTask("a", out, 2, sleep_s=2.0), WriteTask("b", out, 3, sleep_s=2.0)]
    manifest = submit(tasks, run, "slurm", OPTIONS)
    assert [entry.state for entry in manifest.tasks.values()] == ["pending", "pending"]
    job_ids = [entry.job_id for entry in manifest.tasks.values()]
    again = submit(tasks, run, "slurm", OPTIONS)
    assert [entry.job_id for entry in again.tasks.values()] == job_ids
    outcomes = collect(run, poll_s=0.5, grace_s=3.0, timeout_s=120)
    assert [(o.state, o.summary) for o in outcomes] == [("done", square_result("a", 2)),
                                                        ("done", square_result("b", 3))]
    assert [t.attempts() for t in tasks] == [1, 1]
    assert [o.state for o in collect(run, wait=False)] == ["done", "done"]


def test_status_shows_done_failed_running_and_pending(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    fast, bad = WriteTask("fast", out, 1), RaiseTask("bad", out, 2)
    slow = WriteTask("slow", out, 3, sleep_s=120.0, progress_steps=240)
    manifest = submit([fast, bad, slow], run, "slurm", OPTIONS)
    held = submit([WriteTask("held", out, 4)], run, "slurm", ClusterOptions(time_min=5, extra_sbatch=("--hold",)))
    try:
        expected = {"fast": "done", "bad": "failed", "slow": "running", "held": "pending"}

        def settled() -> bool:
            rows = {row.key: row for row in status(run)}
            return {k: r.state for k, r in rows.items()} == expected and rows["slow"].progress is not None

        wait_until(settled, 60, "status to show every state", poll_s=0.5)
        rows = {row.key: row for row in status(run)}
        assert rows["slow"].progress["key"] == "slow" and rows["slow"].job_state == "RUNNING"
        assert rows["held"].job_state == "PENDING" and rows["fast"].job_state == "COMPLETED"
        assert "toy failure in bad" in rows["bad"].error and rows["bad"].log_path.endswith("_0_log.err")
    finally:
        _scheduler("scancel", manifest.tasks["slow"].job_id, held.tasks["held"].job_id)


def test_scontrol_requeue_of_a_running_task_completes_once_with_the_same_output(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    task = WriteTask("requeued", out, 7, sleep_s=0.5, first_attempt_sleep_s=120.0)
    manifest = submit([task], run, "slurm", OPTIONS)
    job_id = manifest.tasks["requeued"].job_id
    wait_until(lambda: task.attempts() == 1, 60, "the task to start")
    _scheduler("scontrol", "requeue", job_id)
    (outcome,) = collect(run, poll_s=0.5, grace_s=3.0, timeout_s=150)
    assert outcome.state == "done" and outcome.job_id == job_id
    assert outcome.summary == square_result("requeued", 7)
    assert json.loads(task.result_path.read_text()) == square_result("requeued", 7)
    assert task.attempts() == 2 and task.completions() == 1
    assert "REQUEUED" in _scheduler("sacct", "-D", "-X", "-n", "-P", "-o", "State", "-j", job_id)


def test_preemption_signal_requeues_and_the_task_resumes_from_its_checkpoint(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    task = CheckpointTask("ckpt", out, 6, sleep_s=0.25, steps=16)
    manifest = submit([task], run, "slurm", OPTIONS)
    checkpoint = tmp_path / "ckpt.ckpt"
    wait_until(lambda: checkpoint.exists() and int(checkpoint.read_text()) >= 3, 60, "three checkpointed steps")
    _scheduler("scancel", "--signal=USR2", manifest.tasks["ckpt"].job_id)
    (outcome,) = collect(run, poll_s=0.5, grace_s=3.0, timeout_s=150)
    assert outcome.state == "done" and outcome.summary == square_result("ckpt", 6)
    resumed = task.resumed_from()
    assert len(resumed) == 2 and resumed[0] == 0 and 3 <= resumed[1] < 16
    assert task.completions() == 1
