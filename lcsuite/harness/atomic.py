"""Writing a file so that readers see either nothing or the whole file.

:func:`atomic_write_path` yields a temporary path beside the final one and renames it onto the
final path when the block succeeds. Temporary names say who wrote them (:func:`job_token`:
the Slurm or local job, or ``inline-<host>``), never a bare process id, so that stale ones can
be cleaned up by age and by the manifest's job states across the nodes of a cluster.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["TEMP_SUFFIX", "atomic_write_path", "job_token", "in_executor_job", "temp_name"]

TEMP_SUFFIX = ".tmp"


def job_token() -> str:
    """Who is writing, as it appears in the manifest: ``slurm-<job id>``, ``local-<job id>``
    or ``inline-<host>``. Never a bare process id (pids mean nothing across nodes)."""
    array_id, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_id and index:
        return f"slurm-{array_id}_{index}"
    if os.environ.get("SLURM_JOB_ID"):
        return f"slurm-{os.environ['SLURM_JOB_ID']}"
    if os.environ.get("SUBMITIT_LOCAL_JOB_ID"):
        return f"local-{os.environ['SUBMITIT_LOCAL_JOB_ID']}"
    return "inline-" + re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())


def in_executor_job() -> bool:
    """Whether this process runs inside a job that submitit started (``local`` or ``slurm``)."""
    return bool(os.environ.get("SUBMITIT_EXECUTOR"))


def temp_name(final: Path, token: str | None = None) -> Path:
    """``.<name>.<writer token>.<hex>.tmp`` beside ``final`` (the store's temp-file shape)."""
    return final.with_name(f".{final.name}.{token or job_token()}.{secrets.token_hex(3)}{TEMP_SUFFIX}")


@contextmanager
def atomic_write_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success rename it onto ``final``.

    The temporary name carries the writer's :func:`job_token`, so that
    :func:`lcsuite.harness.executors.cleanup.clean_stale_temp_files` can tell a live writer's
    file from a dead one's by the manifest, not by process id. On an exception the temporary
    file is removed and the exception propagates.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
