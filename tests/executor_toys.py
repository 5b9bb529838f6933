"""Toy tasks for the executor tests: each writes a small JSON result file atomically.

Importable as ``executor_toys`` in job processes when the tests directory is on PYTHONPATH
(the ``executor_env`` fixture puts it there). Every task appends a line to ``<key>.starts``
when it starts and to ``<key>.completions`` after its result is written, so tests can count
attempts and completions.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lcsuite.harness.executors import atomic_write_path, report_progress


def square_result(key: str, value: int) -> dict:
    """The result every toy task writes for ``value``."""
    return {"key": key, "square": value * value}


@dataclass
class WriteTask:
    """Writes ``square_result`` after ``sleep_s`` seconds; with ``progress_steps``, the sleep is
    split into that many steps, each reported with ``report_progress``. ``first_attempt_sleep_s``
    is slept instead on the first attempt only."""

    key: str
    out_dir: str
    value: int
    sleep_s: float = 0.0
    progress_steps: int = 0
    first_attempt_sleep_s: float | None = None

    @property
    def result_path(self) -> Path:
        return Path(self.out_dir) / f"{self.key}.json"

    def is_done(self) -> bool:
        return self.result_path.exists()

    def attempts(self) -> int:
        return _count_lines(Path(self.out_dir) / f"{self.key}.starts")

    def completions(self) -> int:
        return _count_lines(Path(self.out_dir) / f"{self.key}.completions")

    def _mark(self, suffix: str) -> None:
        with (Path(self.out_dir) / f"{self.key}.{suffix}").open("a") as f:
            f.write(f"{os.getpid()} {os.environ.get('SLURM_JOB_ID', '')} {time.time()}\n")

    def _work(self) -> None:
        sleep_s = self.sleep_s
        if self.first_attempt_sleep_s is not None and self.attempts() == 1:
            sleep_s = self.first_attempt_sleep_s
        for step in range(self.progress_steps):
            time.sleep(sleep_s / self.progress_steps)
            report_progress(step + 1, self.progress_steps, epoch=step // 10)
        if not self.progress_steps:
            time.sleep(sleep_s)

    def __call__(self) -> dict:
        self._mark("starts")
        self._work()
        result = square_result(self.key, self.value)
        with atomic_write_path(self.result_path) as tmp:
            tmp.write_text(json.dumps(result))
        self._mark("completions")
        return result


@dataclass
class ExitTask(WriteTask):
    """Dies without a result: ``os._exit(3)``."""

    def __call__(self) -> dict:
        self._mark("starts")
        os._exit(3)


@dataclass
class RaiseTask(WriteTask):
    """Raises ValueError."""

    def __call__(self) -> dict:
        self._mark("starts")
        raise ValueError(f"toy failure in {self.key}")


@dataclass
class CheckpointTask(WriteTask):
    """Counts to ``steps`` (``sleep_s`` per step), saving the count in ``<key>.ckpt`` after
    each step and resuming from it; the result is the same however often it is interrupted.
    Each start records the step it resumed from in ``<key>.resumed``."""

    steps: int = 10

    def __call__(self) -> dict:
        self._mark("starts")
        checkpoint = Path(self.out_dir) / f"{self.key}.ckpt"
        step = int(checkpoint.read_text()) if checkpoint.exists() else 0
        with (Path(self.out_dir) / f"{self.key}.resumed").open("a") as f:
            f.write(f"{step}\n")
        while step < self.steps:
            time.sleep(self.sleep_s)
            step += 1
            with atomic_write_path(checkpoint) as tmp:
                tmp.write_text(str(step))
            report_progress(step, self.steps)
        result = square_result(self.key, self.value)
        with atomic_write_path(self.result_path) as tmp:
            tmp.write_text(json.dumps(result))
        self._mark("completions")
        return result

    def resumed_from(self) -> list[int]:
        path = Path(self.out_dir) / f"{self.key}.resumed"
        return [int(line) for line in path.read_text().split()] if path.exists() else []


def _count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.1) -> float:
    """Poll ``condition()`` until true; return the seconds waited; AssertionError after ``timeout_s``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what}: not after {timeout_s}s")
        time.sleep(poll_s)
    return time.monotonic() - start
