"""The ``local`` executor (submitit's LocalExecutor): every path the Slurm executor has, without
Slurm. Jobs are real processes; each test bounds how long a job may take to become an outcome."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from executor_toys import CheckpointTask, ExitTask, RaiseTask, WriteTask, square_result, wait_until

from lcsuite.harness.executors import ClusterOptions, collect, read_manifest, run_tasks, status, submit

pytestmark = pytest.mark.usefixtures("executor_env")

OPTIONS = ClusterOptions(time_min=5)
BOUND_S = 60  # a job that has ended becomes an outcome well within this


def test_local_runs_tasks_and_records_the_manifest(tmp_path):
    out = str(tmp_path)
    tasks = [WriteTask("a", out, 2), ExitTask("b", out, 3), RaiseTask("c", out, 4), WriteTask("d", out, 5)]
    start = time.monotonic()
    outcomes = run_tasks(tasks, tmp_path / "run", "local", OPTIONS, poll_s=0.5, grace_s=1.0)
    assert time.monotonic() - start < BOUND_S
    assert [o.state for o in outcomes] == ["done", "failed", "failed", "done"]
    assert outcomes[0].summary == square_result("a", 2)
    assert json.loads((tmp_path / "d.json").read_text()) == square_result("d", 5)
    died = outcomes[1]
    assert "ended without a result" in died.error and died.log_path in died.error and died.job_state == "FINISHED"
    assert "ValueError: toy failure in c" in outcomes[2].error
    manifest = read_manifest(tmp_path / "run")
    assert manifest.executor == "local" and list(manifest.tasks) == ["a", "b", "c", "d"]
    assert len({entry.job_id for entry in manifest.tasks.values()}) == 4
    for outcome, entry in zip(outcomes, manifest.tasks.values(), strict=True):
        assert entry.state == outcome.state and entry.job_id == outcome.job_id
        assert os.path.exists(entry.stdout) and entry.stderr == outcome.log_path
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.submitted_at)
        assert entry.process.split(":")[1] == entry.job_id
    assert "ended without a result" in manifest.tasks["b"].error


def test_local_packs_tasks_into_one_job_each_in_its_own_process(tmp_path):
    out = str(tmp_path)
    tasks = [WriteTask("a", out, 2), ExitTask("b", out, 3), WriteTask("c", out, 4)]
    outcomes = run_tasks(tasks, tmp_path / "run", "local", ClusterOptions(time_min=5, items_per_task=2),
                         poll_s=0.5, grace_s=1.0)
    assert [o.state for o in outcomes] == ["done", "failed", "done"]
    assert outcomes[0].job_id == outcomes[1].job_id != outcomes[2].job_id
    assert outcomes[1].error == "task process exited with code 3 without reporting a result"
    manifest = read_manifest(tmp_path / "run")
    assert manifest.tasks["a"].pack == ["a", "b"] and manifest.tasks["c"].pack == ["c"]


def test_submit_only_then_collect_and_reruns_resubmit_nothing_live(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    slow = WriteTask("slow", out, 3, sleep_s=3.0, progress_steps=15)
    fast = WriteTask("fast", out, 2)
    start = time.monotonic()
    first = submit([slow, fast], run, "local", OPTIONS)
    assert time.monotonic() - start < 2.5 and not slow.is_done()
    slow_job = first.tasks["slow"].job_id
    wait_until(lambda: status(run)[0].progress is not None, 20, "a progress line from the slow task")
    row = status(run)[0]
    assert (row.key, row.state, row.job_id) == ("slow", "running", slow_job)
    assert 1 <= row.progress["step"] <= 15 and row.progress["key"] == "slow"
    wait_until(fast.is_done, 20, "the fast task's result")
    again = submit([slow, fast], run, "local", OPTIONS)
    assert again.tasks["slow"].job_id == slow_job and slow.attempts() == 1
    assert again.tasks["fast"].already_done and again.tasks["fast"].job_id is None
    assert [o.state for o in collect(run, wait=False)] == ["running", "done"]
    outcomes = collect(run, poll_s=0.5, grace_s=1.0)
    assert [(o.key, o.state) for o in outcomes] == [("slow", "done"), ("fast", "done")]
    assert outcomes[0].summary == square_result("slow", 3) and slow.completions() == 1
    assert [o.summary for o in collect(run, wait=False)] == [square_result("slow", 3), None]
    third = submit([slow, fast], run, "local", OPTIONS)
    assert all(entry.already_done for entry in third.tasks.values())
    assert third.tasks["slow"].previous_jobs == [slow_job]


def test_a_killed_job_becomes_an_error_and_collect_never_hangs(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    task = WriteTask("stuck", out, 1, sleep_s=120.0)
    manifest = submit([task], run, "local", OPTIONS)
    wait_until(lambda: task.attempts() == 1, 20, "the task to start")
    start = time.monotonic()
    assert [o.state for o in collect(run, timeout_s=1.0, poll_s=0.2)] == ["running"]
    assert time.monotonic() - start < 5
    os.kill(int(manifest.tasks["stuck"].job_id), signal.SIGINT)  # what LocalJob.cancel sends
    start = time.monotonic()
    (outcome,) = collect(run, poll_s=0.2, grace_s=1.0)
    assert time.monotonic() - start < BOUND_S
    assert outcome.state == "failed" and "ended without a result" in outcome.error
    assert not task.is_done() and read_manifest(run).tasks["stuck"].state == "failed"
    with pytest.raises(ValueError, match="run was submitted with executor 'local', not 'slurm'"):
        submit([task], run, "slurm", OPTIONS)


def test_preemption_signal_requeues_and_the_task_resumes_from_its_checkpoint(tmp_path):
    out, run = str(tmp_path), tmp_path / "run"
    task = CheckpointTask("ckpt", out, 6, sleep_s=0.25, steps=12)
    submit([task], run, "local", OPTIONS)
    checkpoint = tmp_path / "ckpt.ckpt"
    wait_until(lambda: checkpoint.exists() and int(checkpoint.read_text()) >= 3, 30, "three checkpointed steps")
    job_process = int((tmp_path / "ckpt.starts").read_text().split()[0])
    os.kill(job_process, signal.SIGUSR2)  # the time-limit / preemption signal submitit handles
    (outcome,) = collect(run, poll_s=0.5, grace_s=1.0)
    assert outcome.state == "done" and outcome.summary == square_result("ckpt", 6)
    resumed = task.resumed_from()
    assert len(resumed) == 2 and resumed[0] == 0 and 3 <= resumed[1] < 12
    assert task.attempts() == 2 and task.completions() == 1
