"""Progress lines in a job's log, read back by ``status``.

Training loops write them through :mod:`lcsuite.progress` (see there for the line format and the
rate limit); :func:`report_progress` is re-exported here for tasks that report on their own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lcsuite.progress import PROGRESS_PREFIX, ProgressClock, report_progress

__all__ = ["PROGRESS_PREFIX", "report_progress", "parse_progress", "last_progress", "ProgressClock"]

_TAIL_BYTES = 256 * 1024


def parse_progress(line: str) -> dict[str, Any] | None:
    """The fields of a progress line, or None for any other line (or a garbled one)."""
    at = line.find(PROGRESS_PREFIX)
    if at < 0:
        return None
    try:
        record = json.loads(line[at + len(PROGRESS_PREFIX):])
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and "step" in record and "steps" in record else None


def last_progress(log_path: str | os.PathLike | None, key: str | None = None) -> dict[str, Any] | None:
    """The last progress line in the log's tail (256 KiB), restricted to ``key`` when given
    (lines without a key count for any task). None when the log or a line is missing."""
    if log_path is None:
        return None
    try:
        with Path(log_path).open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - _TAIL_BYTES, 0))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        record = parse_progress(line)
        if record is not None and (key is None or record.get("key") in (None, key)):
            return record
    return None
