"""Progress lines: written by a training loop into its job's stderr, read back by ``status``.

Convention: one line per report, on stderr,

    lcsuite-progress {"step": 10, "steps": 500, "epoch": 1, "eta_s": 30.5, "key": "fig3/..."}

``step`` counts completed steps out of ``steps``; ``epoch`` is optional; ``eta_s`` is the
estimated seconds left, from the mean time per step since the first report of this loop
(null until two reports exist); ``key`` is the task key when the line is written inside an
executor's task (several tasks packed into one array task share one log).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lcsuite.harness.executors.task import TASK_KEY_ENV

__all__ = ["PROGRESS_PREFIX", "report_progress", "parse_progress", "last_progress", "ProgressClock"]

PROGRESS_PREFIX = "lcsuite-progress "
_TAIL_BYTES = 256 * 1024


@dataclass
class ProgressClock:
    """The start of the current loop: restarts when ``steps`` changes or ``step`` goes back."""

    steps: int = -1
    first_step: int = 0
    first_time: float = 0.0
    last_step: int = -1

    def eta_s(self, step: int, steps: int, now: float) -> float | None:
        """Seconds left for ``steps - step`` steps at the mean pace since the loop's first report."""
        if steps != self.steps or step < self.last_step:
            self.steps, self.first_step, self.first_time = steps, step, now
        self.last_step = step
        done = step - self.first_step
        if done <= 0:
            return None
        return round((now - self.first_time) / done * max(steps - step, 0), 1)


_CLOCK = ProgressClock()


def report_progress(step: int, steps: int, epoch: int | None = None, *, stream: IO[str] | None = None,
                    clock: ProgressClock | None = None, now: float | None = None) -> dict[str, Any]:
    """Write one progress line to stderr (or ``stream``) and return its fields.

    step: completed steps (0 <= step <= steps); steps: total steps (> 0); epoch: optional.
    The ETA is computed here (see the module docstring). Raises ValueError on bad numbers.
    """
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"report_progress: steps must be a positive int, got {steps!r}")
    if not isinstance(step, int) or not 0 <= step <= steps:
        raise ValueError(f"report_progress: step must be an int in [0, {steps}], got {step!r}")
    now = time.monotonic() if now is None else now
    record: dict[str, Any] = {"step": step, "steps": steps}
    if epoch is not None:
        record["epoch"] = int(epoch)
    record["eta_s"] = (clock or _CLOCK).eta_s(step, steps, now)
    if os.environ.get(TASK_KEY_ENV):
        record["key"] = os.environ[TASK_KEY_ENV]
    out = stream if stream is not None else sys.stderr
    out.write(PROGRESS_PREFIX + json.dumps(record) + "\n")
    out.flush()
    return record


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
