"""The run directory without a scheduler: manifest, scheduler answers, judging jobs, temp files."""

from __future__ import annotations

import json
import os
import pickle
import time

import pytest

from lcsuite.harness.executors import TaskOutcome, submit
from lcsuite.harness.executors.cleanup import clean_stale_temp_files, temp_file_writer
from lcsuite.harness.executors.manifest import Manifest, ManifestEntry, read_manifest, write_manifest
from lcsuite.harness.executors.queue import (
    JobInfo,
    SchedulerQueryError,
    _parse_rows,
    classify,
    expand_job_ids,
    local_job_states,
    local_process_identity,
)
from lcsuite.harness.executors.tracking import format_status, observe, status


def _manifest(tmp_path, executor="slurm", **entries) -> Manifest:
    jobs_dir = tmp_path / "jobs"
    jobs_dir.mkdir(exist_ok=True)
    return Manifest(run_dir=tmp_path, executor=executor, jobs_dir=jobs_dir, options={}, tasks=dict(entries))


def _entry(tmp_path, job_id, state="pending", pack=None) -> ManifestEntry:
    logs = tmp_path / "jobs" / f"{job_id}_0_log"
    return ManifestEntry(state=state, job_id=job_id, pack=pack or [], stderr=f"{logs}.err", stdout=f"{logs}.out")


def _write_result(tmp_path, job_id, payload, kind="success"):
    with open(tmp_path / "jobs" / f"{job_id}_0_result.pkl", "wb") as f:
        pickle.dump((kind, payload), f)


def test_manifest_round_trip_and_refusals(tmp_path):
    manifest = _manifest(tmp_path, a=_entry(tmp_path, "12_0"), b=ManifestEntry(state="done", already_done=True))
    write_manifest(manifest)
    again = read_manifest(tmp_path)
    assert again.tasks == manifest.tasks and again.executor == "slurm" and again.jobs_dir == tmp_path / "jobs"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert read_manifest(tmp_path / "elsewhere") is None
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 99, "tasks": {}}))
    with pytest.raises(ValueError, match="manifest format 99, this lcsuite reads format 1"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match="manifest.json: not a readable manifest"):
        read_manifest(tmp_path)


def test_scheduler_answers_are_parsed_and_classified():
    assert expand_job_ids("12_[0-2,5%2]") == ["12_0", "12_1", "12_2", "12_5"]
    assert expand_job_ids("13_4") == ["13_4"]
    rows = _parse_rows("12_[3-4%1]|PENDING|Unknown\n12_1|RUNNING|2026-01-01T10:00:00\n"
                       "12_0|CANCELLED by 0|2026-01-01T09:00:00\n12_0.batch|COMPLETED|x\n\n")
    assert {job: info.state for job, info in rows.items()} == {
        "12_3": "PENDING", "12_4": "PENDING", "12_1": "RUNNING", "12_0": "CANCELLED"}
    assert rows["12_3"].ended_at is None and rows["12_0"].ended_at is not None
    assert [classify(s) for s in ("REQUEUED", "COMPLETING", "OUT_OF_MEMORY", None, "FINISHED")] == [
        "pending", "running", "ended", "unknown", "ended"]


def test_local_jobs_are_identified_by_host_pid_and_start_time():
    me = local_process_identity(os.getpid())
    host, pid, ticks = me.rsplit(":", 2)
    states = local_job_states({"1": me, "2": f"{host}:{pid}:{int(ticks) + 1}", "3": f"elsewhere:{pid}:{ticks}",
                               "4": None})
    assert {job: info.state for job, info in states.items()} == {
        "1": "RUNNING", "2": "FINISHED", "3": "UNKNOWN", "4": "UNKNOWN"}


def test_observe_judges_each_job(tmp_path):
    manifest = _manifest(tmp_path, live=_entry(tmp_path, "1_0"), ok=_entry(tmp_path, "1_1"),
                         raised=_entry(tmp_path, "1_2"), died=_entry(tmp_path, "1_3"),
                         fresh=_entry(tmp_path, "1_4"), old=ManifestEntry(state="done", already_done=True))
    _write_result(tmp_path, "1_0", {"live": TaskOutcome("live", "done")})  # an earlier attempt's
    _write_result(tmp_path, "1_1", {"ok": TaskOutcome("ok", "done", summary={"square": 4})})
    _write_result(tmp_path, "1_2", "Traceback: boom", kind="error")
    (tmp_path / "jobs" / "1_3_0_log.err").write_text("srun: error: task 0: Exited with exit code 3\n")
    states = {"1_0": JobInfo("REQUEUED"), "1_1": JobInfo("COMPLETED", 100.0), "1_2": JobInfo("COMPLETED", 100.0),
              "1_3": JobInfo("FAILED", 100.0), "1_4": JobInfo("FAILED", 195.0)}
    outcomes = {o.key: o for o in observe(manifest, states, grace_s=10.0, now=200.0)}
    assert {k: o.state for k, o in outcomes.items()} == {
        "live": "pending", "ok": "done", "raised": "failed", "died": "failed", "fresh": "running", "old": "done"}
    assert outcomes["ok"].summary == {"square": 4} and outcomes["ok"].job_id == "1_1"
    assert "boom" in outcomes["raised"].error
    died = outcomes["died"]
    assert died.job_state == "FAILED" and died.log_path.endswith("1_3_0_log.err")
    assert "ended without a result (scheduler state FAILED)" in died.error and "exit code 3" in died.error
    assert outcomes["old"].already_done


def test_unknown_jobs_fail_after_grace_from_first_sight(tmp_path):
    manifest = _manifest(tmp_path, lost=_entry(tmp_path, "7"))
    first_seen: dict[str, float] = {}
    assert observe(manifest, {}, 5.0, first_seen, now=100.0)[0].state == "running"
    assert observe(manifest, {}, 5.0, first_seen, now=104.0)[0].state == "running"
    lost = observe(manifest, {}, 5.0, first_seen, now=106.0)[0]
    assert lost.state == "failed" and "UNKNOWN: neither queued nor in the accounting records" in lost.error


def test_packed_job_reports_each_task(tmp_path):
    pack = ["a", "b"]
    manifest = _manifest(tmp_path, a=_entry(tmp_path, "3_0", pack=pack), b=_entry(tmp_path, "3_0", pack=pack))
    _write_result(tmp_path, "3_0", {"a": TaskOutcome("a", "done"),
                                    "b": TaskOutcome("b", "failed", error="task process exited with code 3")})
    outcomes = observe(manifest, {"3_0": JobInfo("COMPLETED")}, grace_s=0.0)
    assert [(o.key, o.state, o.job_state) for o in outcomes] == [("a", "done", "COMPLETED"),
                                                                ("b", "failed", "COMPLETED")]


def test_status_shows_progress_of_running_tasks(tmp_path):
    done = ManifestEntry(state="done", already_done=True)
    manifest = _manifest(tmp_path, "local", run=_entry(tmp_path, "55"), done=done)
    manifest.tasks["run"].process = local_process_identity(os.getpid())
    (tmp_path / "jobs" / "55_0_log.err").write_text(
        'lcsuite-progress {"step": 4, "steps": 8, "epoch": 1, "eta_s": 12.0, "key": "run"}\n')
    write_manifest(manifest)
    rows = status(tmp_path)
    assert [(r.key, r.state) for r in rows] == [("run", "running"), ("done", "done")]
    assert rows[0].progress["step"] == 4
    table = format_status(rows)
    assert "step 4/8 epoch 1 eta 12s" in table and "1 done, 1 running, 0 pending, 0 failed" in table


def test_stale_temp_files_go_by_age_and_manifest_state(tmp_path):
    manifest = _manifest(tmp_path, live=_entry(tmp_path, "9_0"), gone=_entry(tmp_path, "9_1"))
    states = {"9_0": JobInfo("RUNNING"), "9_1": JobInfo("FAILED")}
    results = tmp_path / "results"
    results.mkdir()
    names = {"live": ".a.h5.slurm-9_0.ab12.tmp", "dead": ".b.h5.slurm-9_1.cd34.tmp",
             "pid": ".c.h5.4242.ef56.tmp", "young": ".d.h5.slurm-9_1.0a0b.tmp", "result": "e.h5"}
    for label, name in names.items():
        (results / name).write_text(label)
        age = 10 if label == "young" else 7200
        os.utime(results / name, (1e6 - age, 1e6 - age))
    submitit_tmp = tmp_path / "jobs" / "9_1_0_result.pkl.save_tmp"
    submitit_tmp.write_text("half")
    os.utime(submitit_tmp, (1e6 - 7200, 1e6 - 7200))
    removed = clean_stale_temp_files([results, tmp_path / "jobs"], manifest, states, max_age_s=3600, now=1e6)
    assert sorted(p.name for p in removed) == sorted([names["dead"], names["pid"], submitit_tmp.name])
    assert sorted(p.name for p in results.iterdir()) == sorted([names["live"], names["young"], names["result"]])
    assert temp_file_writer(results / names["live"]) == "slurm-9_0"
    assert temp_file_writer(results / "e.h5") is None


def test_submit_cleans_stale_temp_files_first(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    stale, fresh = results / ".x.h5.inline-host.ab12.tmp", results / ".y.h5.inline-host.cd34.tmp"
    stale.write_text("old")
    fresh.write_text("new")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    manifest = submit([], tmp_path / "run", "local", clean_dirs=[results])
    assert not stale.exists() and fresh.exists() and manifest.tasks == {}


def test_an_unreachable_scheduler_is_reported_not_guessed(tmp_path, monkeypatch):
    import lcsuite.harness.executors.tracking as tracking

    def refuse(manifest, timeout_s):
        raise SchedulerQueryError("squeue: timed out")

    monkeypatch.setattr(tracking, "scheduler_states", refuse)
    write_manifest(_manifest(tmp_path, a=_entry(tmp_path, "4_0", state="running")))
    with pytest.raises(SchedulerQueryError, match="timed out"):
        tracking.collect(tmp_path, wait=False)
    with pytest.raises(SchedulerQueryError):
        tracking.collect(tmp_path, timeout_s=0.3, poll_s=0.1)
    (row,) = status(tmp_path)
    assert row.state == "running" and row.error == "scheduler not reachable: squeue: timed out"
    assert read_manifest(tmp_path).tasks["a"].state == "running"
