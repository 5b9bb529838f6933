"""The run directory's ``manifest.json``: which job runs which task.

Layout of a run directory used by the ``local`` and ``slurm`` executors::

    <run_dir>/manifest.json      this file, rewritten atomically by the submitting process only
    <run_dir>/jobs/              submitit's folder: pickles, sbatch files, logs
                                 (<job id>_0_log.out / <job id>_0_log.err)

``manifest.json`` (format 1)::

    {"format": 1, "executor": "slurm", "jobs_dir": "/abs/run/jobs", "options": {...},
     "updated_at": "2026-01-01T00:00:00Z",
     "tasks": {"<key>": {"state": "pending", "job_id": "123_4", "array_job_id": "123",
                         "array_task_id": 4, "pack": ["<key>", ...], "stdout": "...",
                         "stderr": "...", "submitted_at": "...", "job_state": "PENDING",
                         "error": null, "already_done": false, "previous_jobs": ["117_0"],
                         "process": null}}}

``state`` is one of done / running / pending / failed, as last seen by the submitting or
collecting process; ``status`` asks the scheduler again. ``process`` identifies a ``local``
job's controller process as ``<host>:<pid>:<start time in clock ticks>``, which survives pid
reuse on that host.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lcsuite.harness.atomic import atomic_write_path
from lcsuite.harness.executors.task import TASK_STATES

__all__ = ["MANIFEST_NAME", "MANIFEST_FORMAT", "JOBS_DIR", "ManifestEntry", "Manifest",
           "read_manifest", "write_manifest", "utc_now"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
JOBS_DIR = "jobs"


def utc_now() -> str:
    """ISO 8601 UTC time, seconds precision."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class ManifestEntry:
    """One task's line in the manifest (see the module docstring)."""

    state: str
    job_id: str | None = None
    array_job_id: str | None = None
    array_task_id: int | None = None
    pack: list[str] = field(default_factory=list)
    stdout: str | None = None
    stderr: str | None = None
    submitted_at: str | None = None
    job_state: str | None = None
    error: str | None = None
    already_done: bool = False
    previous_jobs: list[str] = field(default_factory=list)
    process: str | None = None


@dataclass
class Manifest:
    """All tasks of one run directory, in submission order."""

    run_dir: Path
    executor: str
    jobs_dir: Path
    options: dict[str, Any]
    tasks: dict[str, ManifestEntry] = field(default_factory=dict)
    updated_at: str = ""
    submitted: list[str] = field(default_factory=list, compare=False)
    """Keys handed to the scheduler by the ``submit`` call that returned this manifest (not stored)."""
    still_queued: list[str] = field(default_factory=list, compare=False)
    """Keys that call did not submit again: their job was still pending or running (not stored)."""

    @property
    def path(self) -> Path:
        return self.run_dir / MANIFEST_NAME


def _entry_from_json(key: str, raw: Any, path: Path) -> ManifestEntry:
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: task {key!r} is not an object")
    try:
        entry = ManifestEntry(**raw)
    except TypeError as error:
        raise ValueError(f"{path}: task {key!r}: {error}") from None
    if entry.state not in TASK_STATES:
        raise ValueError(f"{path}: task {key!r} has unknown state {entry.state!r}")
    return entry


def read_manifest(run_dir: str | os.PathLike) -> Manifest | None:
    """The manifest of ``run_dir``, or None when there is none. ValueError when unreadable."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST_NAME
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable manifest ({error})") from None
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{path}: manifest format {found!r}, this lcsuite reads format {MANIFEST_FORMAT}")
    try:
        tasks = {key: _entry_from_json(key, raw, path) for key, raw in document["tasks"].items()}
        return Manifest(run_dir=run_dir, executor=document["executor"], jobs_dir=Path(document["jobs_dir"]),
                        options=document.get("options", {}), tasks=tasks,
                        updated_at=document.get("updated_at", ""))
    except (KeyError, AttributeError) as error:
        raise ValueError(f"{path}: manifest lacks {error}") from None


def write_manifest(manifest: Manifest) -> None:
    """Write ``manifest.json`` atomically (temporary file, then rename)."""
    manifest.updated_at = utc_now()
    document = {
        "format": MANIFEST_FORMAT,
        "executor": manifest.executor,
        "jobs_dir": str(manifest.jobs_dir),
        "options": manifest.options,
        "updated_at": manifest.updated_at,
        "tasks": {key: asdict(entry) for key, entry in manifest.tasks.items()},
    }
    with atomic_write_path(manifest.path) as tmp:
        tmp.write_text(json.dumps(document, indent=1) + "\n")
