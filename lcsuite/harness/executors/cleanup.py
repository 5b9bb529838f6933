"""Removing temporary files left by writers that died, by age and manifest state (D8).

Temporary files are recognised by name:

- ``.<name>.<writer>.<hex>.tmp``: written by :func:`~lcsuite.harness.atomic.atomic_write_path`
  (``<writer>`` is a job token such as ``slurm-123_4``) or by the result store;
- ``<job id>_<task>_result.pkl.save_tmp``: submitit's half-written result pickles.

A file is removed when it is older than ``max_age_s`` and its writer is not a job that the
scheduler still lists as pending or running for this manifest. A writer that is not a job of
the manifest (an inline run, an unknown name) is judged by age alone. Process ids are never
used: they mean nothing across nodes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable

from lcsuite.harness.executors.manifest import Manifest
from lcsuite.harness.executors.queue import JobInfo, classify
from lcsuite.harness.atomic import TEMP_SUFFIX

__all__ = ["clean_stale_temp_files", "temp_file_writer", "live_job_tokens"]

SUBMITIT_TEMP_SUFFIX = ".save_tmp"


def temp_file_writer(path: Path, executor: str | None = None) -> str | None:
    """The writer token in a temporary file's name, or None when ``path`` is no temporary file.

    ``.<name>.<writer>.<hex>.tmp`` -> ``<writer>``; submitit's ``<job id>_<task>_result.pkl.save_tmp``
    -> ``<executor>-<job id>`` (``""`` when the executor is not known).
    """
    name = path.name
    if name.endswith(SUBMITIT_TEMP_SUFFIX):
        job_id = name[: -len(SUBMITIT_TEMP_SUFFIX)].rsplit("_", 2)[0]
        return f"{executor}-{job_id}" if executor else ""
    if name.startswith(".") and name.endswith(TEMP_SUFFIX):
        parts = name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
        return parts[1] if len(parts) == 3 and parts[0] not in ("", ".") else ""
    return None


def live_job_tokens(manifest: Manifest, states: dict[str, JobInfo]) -> set[str]:
    """``<executor>-<job id>`` of every manifest job the scheduler lists as pending or running."""
    return {f"{manifest.executor}-{entry.job_id}" for entry in manifest.tasks.values()
            if entry.job_id and entry.job_id in states
            and classify(states[entry.job_id].state) in ("pending", "running")}


def clean_stale_temp_files(directories: Iterable[str | os.PathLike], manifest: Manifest | None,
                           states: dict[str, JobInfo], max_age_s: float = 3600.0,
                           now: float | None = None) -> list[Path]:
    """Delete stale temporary files under ``directories`` (recursively); return what was deleted.

    manifest, states: the run's manifest and the scheduler's answer for its jobs (see
    :func:`lcsuite.harness.executors.tracking.scheduler_states`); without a manifest, age alone
    decides. Files that vanish meanwhile are skipped.
    """
    now = time.time() if now is None else now
    live = live_job_tokens(manifest, states) if manifest is not None else set()
    executor = manifest.executor if manifest is not None else None
    removed = []
    for directory in directories:
        for root, _, names in os.walk(directory):
            for name in names:
                path = Path(root) / name
                writer = temp_file_writer(path, executor)
                if writer is None or writer in live:
                    continue
                try:
                    if now - path.stat().st_mtime < max_age_s:
                        continue
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed.append(path)
    return removed
