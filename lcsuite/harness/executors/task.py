"""The task contract shared by every executor, and the outcome record each task gets.

A task is a picklable object with

- ``key``: a stable, non-empty string naming it (unique within one run; it names the task in
  the manifest, in ``status`` and in progress lines);
- ``__call__()``: computes the task, writes its own result file atomically (see
  :func:`lcsuite.harness.atomic.atomic_write_path`) and returns a small picklable summary;
- optionally ``is_done() -> bool``: True when its result already exists. Executors skip such
  tasks, and a requeued or resubmitted task that finished in an earlier attempt is not redone.

A task may keep its own checkpoint file and resume from it when it is called again: that is
what happens after a Slurm time limit or preemption requeues it.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

from lcsuite.progress import TASK_KEY_ENV


__all__ = [
    "Task",
    "TaskOutcome",
    "TASK_STATES",
    "check_task_keys",
    "task_is_done",
    "run_task_safely",
]

TASK_STATES = ("done", "running", "pending", "failed")


@runtime_checkable
class Task(Protocol):
    """What an executor runs (see the module docstring)."""

    key: str

    def __call__(self) -> Any: ...


@dataclass
class TaskOutcome:
    """What became of one task.

    state: ``done`` | ``failed`` | ``running`` | ``pending`` (the last two only from a
    ``collect`` that stopped waiting, or from ``status``).
    summary: the task's return value (None when it was already done or did not finish).
    error: why it failed: the traceback, or the scheduler's verdict and the log's last lines.
    job_id: the scheduler's job id (``<array id>_<index>`` for a Slurm array task; the
    controller's id for ``local``; None for ``inline`` and for tasks already done).
    job_state: the scheduler's own state word (``COMPLETED``, ``FAILED``, ``CANCELLED``,
    ``TIMEOUT``, ``OUT_OF_MEMORY``, ``NODE_FAIL``, ...), when known.
    log_path: the stderr log of the job that ran (or runs) the task.
    already_done: the task's result existed before this run, so it was not run.
    """

    key: str
    state: str
    summary: Any = None
    error: str | None = None
    job_id: str | None = None
    job_state: str | None = None
    log_path: str | None = None
    already_done: bool = False

    def __post_init__(self) -> None:
        if self.state not in TASK_STATES:
            raise ValueError(f"task {self.key!r}: unknown state {self.state!r}; expected one of {TASK_STATES}")


def check_task_keys(tasks: Sequence[Any]) -> None:
    """Raise ValueError unless every task has a non-empty string ``key``, unique, and is callable."""
    seen: set[str] = set()
    for task in tasks:
        key = getattr(task, "key", None)
        if not isinstance(key, str) or not key:
            raise ValueError(f"task {task!r} has no string key (got key={key!r})")
        if key in seen:
            raise ValueError(f"duplicate task key {key!r}")
        if not callable(task):
            raise ValueError(f"task {key!r} is not callable")
        seen.add(key)


def task_is_done(task: Any) -> bool:
    """The task's own ``is_done()``, or False for tasks that do not say."""
    is_done = getattr(task, "is_done", None)
    return bool(is_done()) if callable(is_done) else False


def run_task_safely(task: Any, job_id: str | None = None) -> TaskOutcome:
    """Run one task in this process: skipped when done, an exception becomes a failed outcome.

    BaseExceptions that are not Exceptions (SystemExit from a preemption handler,
    KeyboardInterrupt) propagate: they end the attempt, not the task.
    """
    if task_is_done(task):
        return TaskOutcome(task.key, "done", job_id=job_id, already_done=True)
    previous = os.environ.get(TASK_KEY_ENV)
    os.environ[TASK_KEY_ENV] = task.key
    try:
        summary = task()
    except Exception:  # noqa: BLE001 - every task error is recorded, the others still run
        return TaskOutcome(task.key, "failed", error=traceback.format_exc(), job_id=job_id)
    finally:
        if previous is None:
            os.environ.pop(TASK_KEY_ENV, None)
        else:
            os.environ[TASK_KEY_ENV] = previous
    return TaskOutcome(task.key, "done", summary=summary, job_id=job_id)
