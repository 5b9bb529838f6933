"""Progress lines: written by training loops while an executor's task runs, read by ``lcsuite status``.

Convention: one line per report, on stderr (the job's log),

    lcsuite-progress {"step": 10, "steps": 500, "epoch": 1, "epochs": 50, "eta_s": 30.5,
                      "seed": 2, "seeds": 5, "key": "huang2020/fig3/..."}

``step`` counts completed steps out of ``steps``; ``epoch`` (completed epochs) and ``epochs``
are optional; ``eta_s`` is the estimated seconds left in this loop, from the mean time per step
since the loop's first report (null until two reports exist); ``seed`` / ``seeds`` say which of
the item's seeds is running (1-based), when the harness measures one; ``key`` is the task key
when the line is written inside an executor's task (several tasks packed into one array task
share one log).

:func:`loop_progress` is what a training loop calls: it reports only inside an executor's task
(:data:`TASK_KEY_ENV` set), at most once every :data:`DEFAULT_EVERY_S` seconds
(``$LCSUITE_PROGRESS_EVERY_S``), plus the first and the last step; elsewhere it returns None
and the loop pays nothing. This module imports nothing from lcsuite: the training loops below
the harness use it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Iterator

__all__ = ["PROGRESS_PREFIX", "TASK_KEY_ENV", "EVERY_ENV", "DEFAULT_EVERY_S", "ProgressClock", "report_progress",
           "seed_context", "LoopProgress", "loop_progress"]

PROGRESS_PREFIX = "lcsuite-progress "
TASK_KEY_ENV = "LCSUITE_TASK_KEY"
"""Set to the task's key while an executor runs the task (``run_task_safely``)."""
EVERY_ENV = "LCSUITE_PROGRESS_EVERY_S"
DEFAULT_EVERY_S = 10.0


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
_SEED: dict[str, int] = {}


@contextmanager
def seed_context(seed_number: int, seeds: int) -> Iterator[None]:
    """Progress lines written inside carry ``seed`` (1-based position) and ``seeds``."""
    previous = dict(_SEED)
    _SEED.clear()
    _SEED.update(seed=int(seed_number), seeds=int(seeds))
    try:
        yield
    finally:
        _SEED.clear()
        _SEED.update(previous)


def report_progress(step: int, steps: int, epoch: int | None = None, *, epochs: int | None = None,
                    stream: IO[str] | None = None, clock: ProgressClock | None = None,
                    now: float | None = None) -> dict[str, Any]:
    """Write one progress line to stderr (or ``stream``) and return its fields.

    step: completed steps (0 <= step <= steps); steps: total steps (> 0); epoch, epochs:
    optional. The ETA is computed here (see the module docstring). ValueError on bad numbers.
    """
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"report_progress: steps must be a positive int, got {steps!r}")
    if not isinstance(step, int) or not 0 <= step <= steps:
        raise ValueError(f"report_progress: step must be an int in [0, {steps}], got {step!r}")
    now = time.monotonic() if now is None else now
    record: dict[str, Any] = {"step": step, "steps": steps}
    if epoch is not None:
        record["epoch"] = int(epoch)
    if epochs is not None:
        record["epochs"] = int(epochs)
    record["eta_s"] = (clock or _CLOCK).eta_s(step, steps, now)
    record.update(_SEED)
    if os.environ.get(TASK_KEY_ENV):
        record["key"] = os.environ[TASK_KEY_ENV]
    out = stream if stream is not None else sys.stderr
    out.write(PROGRESS_PREFIX + json.dumps(record) + "\n")
    out.flush()
    return record


class LoopProgress:
    """Rate-limited progress of one loop of ``steps`` steps (``steps_per_epoch`` per epoch).

    :meth:`update` costs one clock read between reports; a line is written at step 0, then at
    most once every ``every_s`` seconds, and at the last step.
    """

    def __init__(self, steps: int, steps_per_epoch: int, every_s: float, stream: IO[str] | None = None,
                 clock=time.monotonic) -> None:
        self.steps, self.steps_per_epoch, self.every_s = steps, max(int(steps_per_epoch), 1), every_s
        self.stream, self.clock = stream, clock
        self.epochs = -(-steps // self.steps_per_epoch)
        self._loop_clock = ProgressClock()
        self.next_at = float("-inf")

    def update(self, step: int) -> None:
        """After ``step`` completed steps (0 before the first)."""
        now = self.clock()
        if now < self.next_at and step != self.steps:
            return
        self.next_at = now + self.every_s
        report_progress(step, self.steps, step // self.steps_per_epoch, epochs=self.epochs, stream=self.stream,
                        clock=self._loop_clock, now=now)


def loop_progress(steps: int, steps_per_epoch: int = 1, stream: IO[str] | None = None) -> LoopProgress | None:
    """A :class:`LoopProgress` inside an executor's task (``$LCSUITE_TASK_KEY`` set) for a loop
    of at least one step, else None. ``$LCSUITE_PROGRESS_EVERY_S`` sets the interval (default
    10 s); a value that is not a non-negative number is a ValueError naming the variable."""
    if steps <= 0 or not os.environ.get(TASK_KEY_ENV):
        return None
    raw = os.environ.get(EVERY_ENV, "").strip()
    try:
        every_s = float(raw) if raw else DEFAULT_EVERY_S
    except ValueError:
        every_s = -1.0
    if not every_s >= 0:
        raise ValueError(f"${EVERY_ENV}: expected a number of seconds >= 0, got {raw!r}")
    return LoopProgress(steps, steps_per_epoch, every_s, stream)
