"""Outcomes of submitted tasks, from the run directory's manifest alone: ``collect`` and ``status``.

How a job's tasks are judged, each time the scheduler is asked:

- queued (pending / running / requeued) per the scheduler: ``pending`` or ``running``, even if
  a result pickle from an earlier attempt exists (a requeue keeps the job id);
- left the queue with a result pickle: the outcomes the job returned (``done`` or ``failed``
  per task; a batch that raised makes every task of it ``failed`` with the traceback);
- left the queue without one: after ``grace_s`` seconds from its end (the scheduler's end
  time, else the first time it was seen gone; shared file systems may show the pickle late),
  ``failed``, with the scheduler's state, the log path and the log's last lines. A job dying
  (``os._exit``, OOM, node failure, ``scancel``) is therefore an error within about
  ``grace_s + poll_s`` seconds of its end, never a hang.
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lcsuite.format import fmt_seconds
from lcsuite.harness.executors.manifest import Manifest, ManifestEntry, read_manifest, write_manifest
from lcsuite.harness.executors.progress import last_progress
from lcsuite.harness.executors.queue import (JobInfo, SchedulerQueryError, classify, local_job_states,
                                             slurm_job_states)
from lcsuite.harness.executors.task import TaskOutcome

__all__ = ["collect", "status", "StatusRow", "format_status", "observe"]

_LOG_LINES = 12
_ERROR_CHARS = 4000


@dataclass
class StatusRow:
    """One task in ``status``: progress is the task's last progress line (running tasks only)."""

    key: str
    state: str
    job_id: str | None
    job_state: str | None
    log_path: str | None
    progress: dict[str, Any] | None = None
    error: str | None = None


def scheduler_states(manifest: Manifest, timeout_s: float = 30.0) -> dict[str, JobInfo]:
    """job id -> what the scheduler says now, for every job of the manifest it knows.

    Raises :class:`~lcsuite.harness.executors.queue.SchedulerQueryError` when Slurm cannot
    be asked.
    """
    entries = [entry for entry in manifest.tasks.values() if entry.job_id]
    if manifest.executor == "slurm":
        return slurm_job_states([entry.job_id for entry in entries], timeout_s=timeout_s)
    return local_job_states({entry.job_id: entry.process for entry in entries})


def _require_manifest(run_dir: str | os.PathLike) -> Manifest:
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise ValueError(f"{run_dir}: no manifest.json (nothing was submitted to this run directory)")
    return manifest


def _read_job_result(jobs_dir: Path, job_id: str) -> tuple[str, Any] | None:
    """submitit's ``(kind, payload)`` result of a job, or None while there is none."""
    from submitit.core.utils import JobPaths

    path = JobPaths(jobs_dir, job_id=job_id, task_id=0).result_pickle
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except (FileNotFoundError, EOFError):
        return None
    except Exception as error:  # noqa: BLE001 - an unreadable result is a task error, not a crash
        return ("error", f"result file {path} could not be read: {error!r}")


def _log_tail(log_path: str | None) -> str:
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines() if log_path else []
    except OSError:
        return ""
    return "\n".join(lines[-_LOG_LINES:])


def _death_report(job_id: str, job_state: str | None, entry: ManifestEntry) -> str:
    """Why a job's tasks failed: its state, its log, and the last lines of stderr (else stdout)."""
    state = job_state or "UNKNOWN: neither queued nor in the accounting records"
    report = f"job {job_id} ended without a result (scheduler state {state}); log: {entry.stderr}"
    tail = _log_tail(entry.stderr) or _log_tail(entry.stdout)
    return f"{report}\n{tail}" if tail else report


def _from_result(result: tuple[str, Any], keys: list[str], job_id: str, common: dict[str, Any]) -> dict:
    kind, payload = result
    if kind != "success" or not isinstance(payload, dict):
        return {key: TaskOutcome(key, "failed", error=f"job {job_id} raised:\n{payload}", **common) for key in keys}
    outcomes = {}
    for key in keys:
        outcome = payload.get(key)
        if not isinstance(outcome, TaskOutcome):
            outcome = TaskOutcome(key, "failed", error=f"job {job_id} returned no outcome for this task", **common)
        outcome.job_id = outcome.job_id or job_id
        outcome.job_state, outcome.log_path = common["job_state"], common["log_path"]
        outcomes[key] = outcome
    return outcomes


def _job_outcomes(job_id: str, keys: list[str], entry: ManifestEntry, info: JobInfo | None,
                  context: dict[str, Any]) -> dict[str, TaskOutcome]:
    """Outcomes of the tasks ``keys`` that job ``job_id`` runs (see the module docstring)."""
    job_state = info.state if info else None
    common = {"job_id": job_id, "job_state": job_state, "log_path": entry.stderr}
    kind = classify(job_state)
    if kind in ("pending", "running"):
        return {key: TaskOutcome(key, kind, **common) for key in keys}
    result = _read_job_result(context["jobs_dir"], job_id)
    if result is not None:
        return _from_result(result, keys, job_id, common)
    now = context["now"]
    ended_at = info.ended_at if info and info.ended_at else context["first_seen"].setdefault(job_id, now)
    if now - ended_at < context["grace_s"]:
        return {key: TaskOutcome(key, "running", **common) for key in keys}
    error = _death_report(job_id, job_state, entry)
    return {key: TaskOutcome(key, "failed", error=error, **common) for key in keys}


def observe(manifest: Manifest, states: dict[str, JobInfo], grace_s: float,
            first_seen: dict[str, float] | None = None, now: float | None = None) -> list[TaskOutcome]:
    """Every manifest task's outcome given the scheduler's ``states`` (manifest order)."""
    context = {"jobs_dir": manifest.jobs_dir, "now": time.time() if now is None else now,
               "grace_s": grace_s, "first_seen": {} if first_seen is None else first_seen}
    by_job: dict[str, list[str]] = {}
    for key, entry in manifest.tasks.items():
        if entry.job_id:
            by_job.setdefault(entry.job_id, []).append(key)
    outcomes: dict[str, TaskOutcome] = {}
    for job_id, keys in by_job.items():
        outcomes.update(_job_outcomes(job_id, keys, manifest.tasks[keys[0]], states.get(job_id), context))
    for key, entry in manifest.tasks.items():
        if key not in outcomes:
            outcomes[key] = TaskOutcome(key, entry.state, error=entry.error, already_done=entry.already_done)
    return [outcomes[key] for key in manifest.tasks]


def _record(manifest: Manifest, outcomes: list[TaskOutcome]) -> None:
    for outcome in outcomes:
        entry = manifest.tasks[outcome.key]
        entry.state, entry.job_state = outcome.state, outcome.job_state or entry.job_state
        entry.error = outcome.error[-_ERROR_CHARS:] if outcome.error else None
    write_manifest(manifest)


def collect(run_dir: str | os.PathLike, wait: bool = True, timeout_s: float | None = None,
            poll_s: float = 2.0, grace_s: float = 15.0, query_timeout_s: float = 30.0,
            unreachable_s: float = 300.0) -> list[TaskOutcome]:
    """The outcome of every task in ``<run_dir>/manifest.json``, in manifest order.

    wait: poll every ``poll_s`` s until no task is pending or running (or ``timeout_s`` passed:
    the unfinished ones come back as they are); False: ask once. The manifest is updated with
    the states seen. Raises ValueError without a manifest, and SchedulerQueryError when the
    scheduler cannot be asked for ``unreachable_s`` seconds in a row (or once, without wait or
    past ``timeout_s``).
    """
    manifest = _require_manifest(run_dir)
    first_seen: dict[str, float] = {}
    start = time.monotonic()
    unreachable_since: float | None = None
    while True:
        past_timeout = timeout_s is not None and time.monotonic() - start >= timeout_s
        try:
            outcomes = observe(manifest, scheduler_states(manifest, query_timeout_s), grace_s, first_seen)
        except SchedulerQueryError:
            unreachable_since = unreachable_since or time.monotonic()
            if not wait or past_timeout or time.monotonic() - unreachable_since >= unreachable_s:
                raise
        else:
            unreachable_since = None
            if not wait or past_timeout or all(o.state in ("done", "failed") for o in outcomes):
                break
        time.sleep(poll_s)
    _record(manifest, outcomes)
    return outcomes


def status(run_dir: str | os.PathLike, query_timeout_s: float = 30.0) -> list[StatusRow]:
    """One row per task: its state now, job id, log path and, when running, its last progress
    line. Read-only. A scheduler that cannot be asked leaves the manifest's last states,
    with the reason in ``error``."""
    manifest = _require_manifest(run_dir)
    try:
        outcomes = observe(manifest, scheduler_states(manifest, query_timeout_s), grace_s=0.0)
    except SchedulerQueryError as error:
        return [StatusRow(key, entry.state, entry.job_id, entry.job_state, entry.stderr,
                          error=f"scheduler not reachable: {error}") for key, entry in manifest.tasks.items()]
    rows = []
    for outcome in outcomes:
        progress = last_progress(outcome.log_path, outcome.key) if outcome.state == "running" else None
        rows.append(StatusRow(outcome.key, outcome.state, outcome.job_id, outcome.job_state, outcome.log_path,
                              progress, outcome.error))
    return rows


def _progress_text(progress: dict[str, Any] | None) -> str:
    """``seed 2/5 step 120/400 epoch 3/10 eta 42s`` (the parts the line holds)."""
    if not progress:
        return ""
    parts = [f"seed {progress['seed']}/{progress['seeds']}"] if progress.get("seed") is not None else []
    parts.append(f"step {progress['step']}/{progress['steps']}")
    if progress.get("epoch") is not None:
        parts.append(f"epoch {progress['epoch']}" + (f"/{progress['epochs']}" if progress.get("epochs") else ""))
    if progress.get("eta_s") is not None:
        eta = float(progress["eta_s"])
        parts.append(f"eta {eta:.0f}s" if eta < 120 else f"eta {fmt_seconds(eta)}")
    return " ".join(parts)


def format_status(rows: list[StatusRow]) -> str:
    """A terminal table of ``status`` rows, with a count per state underneath."""
    from tabulate import tabulate

    table = tabulate([[row.key, row.state, row.job_id or "", row.job_state or "", _progress_text(row.progress),
                       row.log_path or ""] for row in rows],
                     headers=["task", "state", "job", "scheduler", "progress", "log"])
    counts = {state: sum(row.state == state for row in rows) for state in ("done", "running", "pending", "failed")}
    return table + "\n" + ", ".join(f"{count} {state}" for state, count in counts.items())
