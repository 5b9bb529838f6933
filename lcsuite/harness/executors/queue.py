"""Asking the scheduler what became of jobs, with bounded waits.

Slurm: ``squeue -t all`` first (authoritative for the jobs slurmctld still holds: pending,
running, requeued, and those finished less than ``MinJobAge`` ago), then ``sacct`` for older
ones (needs accounting; without it such jobs are ``UNKNOWN``). Each command has a timeout.
A squeue that fails or times out raises :class:`SchedulerQueryError` (nothing can be concluded);
a failing sacct only leaves old jobs unknown, and callers decide after a bounded grace period.

Local (submitit's LocalExecutor): a job is its controller process, identified as
``<host>:<pid>:<start time in clock ticks>`` so that a reused pid is not mistaken for it.

Job states keep the scheduler's own words; :func:`classify` maps them to
``pending`` / ``running`` / ``ended`` / ``unknown``.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Iterable

__all__ = ["JobInfo", "SchedulerQueryError", "classify", "slurm_job_states", "local_job_states",
           "local_process_identity", "expand_job_ids"]

PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                            "RESV_DEL_HOLD", "RESIZING"})
RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "SUSPENDED", "STOPPED"})
_ARRAY_RANGE = re.compile(r"^(?P<base>\d+)_\[(?P<ranges>[0-9,\-]+)(%\d+)?\]$")


@dataclass(frozen=True)
class JobInfo:
    """state: the scheduler's word (``RUNNING``, ``COMPLETED``, ``FAILED``, ..., ``UNKNOWN``);
    ended_at: when the job ended (epoch seconds), when the scheduler says."""

    state: str
    ended_at: float | None = None


def classify(state: str | None) -> str:
    """``pending`` | ``running`` | ``ended`` | ``unknown`` for a scheduler state word."""
    word = (state or "UNKNOWN").split()[0].upper()
    if word in PENDING_STATES:
        return "pending"
    if word in RUNNING_STATES:
        return "running"
    return "unknown" if word == "UNKNOWN" else "ended"


def expand_job_ids(text: str) -> list[str]:
    """``12_[0-2,5%2]`` -> ``12_0 12_1 12_2 12_5``; any other id is returned as is."""
    match = _ARRAY_RANGE.match(text.strip())
    if match is None:
        return [text.strip()]
    out = []
    for part in match["ranges"].split(","):
        low, _, high = part.partition("-")
        out.extend(f"{match['base']}_{index}" for index in range(int(low), int(high or low) + 1))
    return out


class SchedulerQueryError(RuntimeError):
    """The scheduler could not be asked (command missing, timed out, or refused)."""


def _run(command: list[str], timeout_s: float, harmless: str = "") -> str:
    """stdout of ``command``; SchedulerQueryError when it cannot run in time or fails (a
    non-zero exit whose stderr contains ``harmless`` counts as an empty answer)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SchedulerQueryError(f"{command[0]}: {error}") from None
    if done.returncode != 0 and not (harmless and harmless in done.stderr):
        raise SchedulerQueryError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return done.stdout


def _parse_time(text: str) -> float | None:
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _parse_rows(output: str) -> dict[str, JobInfo]:
    """``<job id>|<state>|<end time>`` lines (array ranges expanded; steps skipped)."""
    found: dict[str, JobInfo] = {}
    for line in output.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0] or "." in parts[0]:
            continue
        state = parts[1].split()[0] if parts[1].strip() else "UNKNOWN"
        ended_at = _parse_time(parts[2]) if len(parts) > 2 else None
        for job_id in expand_job_ids(parts[0]):
            found[job_id] = JobInfo(state, ended_at)
    return found


def slurm_job_states(job_ids: Iterable[str], timeout_s: float = 30.0) -> dict[str, JobInfo]:
    """State of each Slurm job id (``123`` or ``123_4``) that squeue or sacct knows.

    A job missing from the answer is known to neither (not queued, no accounting record).
    Raises SchedulerQueryError when squeue cannot answer; a failing sacct (no accounting)
    only leaves finished jobs out.
    """
    wanted = sorted(set(job_ids))
    if not wanted:
        return {}
    known = _parse_rows(_run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%e", "-j", _bases(wanted)],
                             timeout_s, harmless="Invalid job id"))
    missing = [job_id for job_id in wanted if job_id not in known]
    if missing:
        try:
            accounted = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,End", "-j", _bases(missing)], timeout_s)
        except SchedulerQueryError:
            accounted = ""
        known = {**_parse_rows(accounted), **known}
    return {job_id: known[job_id] for job_id in wanted if job_id in known}


def _bases(job_ids: list[str]) -> str:
    """``12_0,12_1,15`` -> ``12,15``: squeue and sacct list every task of an array job."""
    return ",".join(sorted({job_id.split("_")[0] for job_id in job_ids}))


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            after_name = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return after_name[0], after_name[19]


def local_process_identity(pid: int) -> str | None:
    """``<host>:<pid>:<start ticks>`` of a live process on this host, or None."""
    stat = _proc_stat(pid)
    return None if stat is None else f"{socket.gethostname()}:{pid}:{stat[1]}"


def local_job_states(identities: dict[str, str | None]) -> dict[str, JobInfo]:
    """job id -> state for local jobs, from their recorded controller identity.

    ``RUNNING`` while that very process lives (a zombie counts as ended), ``FINISHED`` after,
    ``UNKNOWN`` when it was started on another host or never identified.
    """
    host = socket.gethostname()
    states: dict[str, JobInfo] = {}
    for job_id, identity in identities.items():
        parts = (identity or "").rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host:
            states[job_id] = JobInfo("UNKNOWN")
            continue
        stat = _proc_stat(int(parts[1]))
        alive = stat is not None and stat[1] == parts[2] and stat[0] not in ("Z", "X")
        states[job_id] = JobInfo("RUNNING" if alive else "FINISHED")
    return states
