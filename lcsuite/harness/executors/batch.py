"""What one array task runs: one task, or K tasks packed together (``items_per_task``, D8).

:class:`TaskBatch` is the callable submitit pickles into a job. It returns
``{key: TaskOutcome}`` for its tasks, in order.

- One task: it runs in the job's own process; an exception becomes a failed outcome; a
  process death (``os._exit``, OOM kill) leaves no result, which ``collect`` turns into an
  error with the scheduler's state.
- K > 1 tasks: each runs in its own process (``spawn``; the parent holds no CUDA context), all
  at once, on the array task's allocation. A child that dies without reporting becomes a failed
  outcome naming its exit code or signal; the others are unaffected.

It is checkpointable (submitit looks for a ``checkpoint`` method): when the scheduler signals
a time limit or preemption, submitit requeues the same batch. Tasks finished in an earlier
attempt are then skipped (their ``is_done()``), and unfinished ones are called again and may
resume from their own checkpoint. Packed children ignore that signal: the parent handles it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from typing import Any, Sequence

from lcsuite.harness.atomic import in_executor_job
from lcsuite.harness.executors.task import TaskOutcome, run_task_safely, task_is_done

__all__ = ["TaskBatch", "current_job_id"]


def _job_environment() -> Any | None:
    """submitit's JobEnvironment when this process runs inside a submitit job, else None."""
    if not in_executor_job():
        return None
    import submitit

    try:
        return submitit.JobEnvironment()
    except (RuntimeError, KeyError):
        return None


def current_job_id() -> str | None:
    """The submitit job id of this process (``123_4`` for an array task), or None outside a job."""
    environment = _job_environment()
    return environment.job_id if environment is not None else None


def _remove_stale_result() -> None:
    """Delete this job's result pickle left by an earlier attempt (a requeue keeps the job id),
    and a half-written one, so that only this attempt's outcome is ever read."""
    environment = _job_environment()
    if environment is None or not os.environ.get("SUBMITIT_FOLDER"):
        return
    result = environment.paths.result_pickle
    for path in (result, result.with_suffix(result.suffix + ".save_tmp")):
        path.unlink(missing_ok=True)


def _preemption_signal() -> signal.Signals:
    """submitit's time-limit / preemption signal (``SUBMITIT_PREEMPT_SIGNAL``, USR2 by default)."""
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), signal.SIGUSR2)


def _child_main(task: Any, connection: Connection, job_id: str | None) -> None:
    # The time-limit / preemption signal is the parent's to handle (checkpoint and requeue,
    # which ends this process); by default it would kill this task at once.
    signal.signal(_preemption_signal(), signal.SIG_IGN)
    outcome = run_task_safely(task, job_id=job_id)
    try:
        connection.send(outcome)
    except Exception as error:  # noqa: BLE001 - an unpicklable summary must still report
        connection.send(TaskOutcome(task.key, "failed", error=f"summary could not be sent back: {error!r}",
                                    job_id=job_id))
    connection.close()


def _death_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"task process killed by signal {signal.Signals(-exitcode).name}"
    return f"task process exited with code {exitcode} without reporting a result"


def _run_concurrently(tasks: Sequence[Any], job_id: str | None) -> dict[str, TaskOutcome]:
    context = multiprocessing.get_context("spawn")
    running = []
    try:
        for task in tasks:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_child_main, args=(task, sender, job_id),
                                      name=f"lcsuite-task-{task.key}")
            process.start()
            sender.close()
            running.append((task.key, process, receiver))
        outcomes = {}
        for key, process, receiver in running:
            try:
                outcome = receiver.recv()
            except EOFError:
                outcome = None
            process.join()
            outcomes[key] = outcome or TaskOutcome(key, "failed", error=_death_message(process.exitcode),
                                                   job_id=job_id)
        return outcomes
    finally:
        for _, process, _ in running:
            if process.is_alive():
                process.terminate()
                process.join(5)


class TaskBatch:
    """The tasks of one array task (see the module docstring)."""

    def __init__(self, tasks: Sequence[Any]) -> None:
        if not tasks:
            raise ValueError("TaskBatch needs at least one task")
        self.tasks = list(tasks)

    @property
    def keys(self) -> list[str]:
        return [task.key for task in self.tasks]

    def __call__(self) -> dict[str, TaskOutcome]:
        _remove_stale_result()
        job_id = current_job_id()
        if len(self.tasks) == 1:
            return {self.tasks[0].key: run_task_safely(self.tasks[0], job_id=job_id)}
        done = {task.key: TaskOutcome(task.key, "done", job_id=job_id, already_done=True)
                for task in self.tasks if task_is_done(task)}
        todo = [task for task in self.tasks if task.key not in done]
        outcomes = {**done, **(_run_concurrently(todo, job_id) if todo else {})}
        return {key: outcomes[key] for key in self.keys}

    def checkpoint(self) -> Any:
        """Called by submitit on a time limit or preemption: requeue this same batch."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)

    def __repr__(self) -> str:
        return f"TaskBatch({self.keys})"
