"""Running tasks: ``inline`` here, or through submitit's ``local`` / ``slurm`` executors.

- :func:`run_tasks` runs a list of tasks to the end and returns one
  :class:`~lcsuite.harness.executors.task.TaskOutcome` per task, in order.
- :func:`submit` (submit-only) hands the tasks still to do to the scheduler, writes
  ``<run_dir>/manifest.json`` and returns; :func:`lcsuite.harness.executors.tracking.collect`
  waits for (or reads) the outcomes later, from the manifest alone.

Reruns with the same run directory: a task whose ``is_done()`` is true is not submitted; a task
whose job (from the manifest) is still pending or running, as the scheduler says, is not
submitted again; every other task is submitted, and its earlier job ids are kept in
``previous_jobs``. submitit's executors are always chosen explicitly (never ``AutoExecutor``,
which picks Slurm whenever ``srun`` is on PATH).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from lcsuite.harness.executors.batch import TaskBatch
from lcsuite.harness.executors.cleanup import clean_stale_temp_files
from lcsuite.harness.executors.manifest import JOBS_DIR, Manifest, ManifestEntry, read_manifest, utc_now, write_manifest
from lcsuite.harness.executors.options import ClusterOptions, submitit_parameters
from lcsuite.harness.executors.queue import (
    JobInfo,
    classify,
    local_process_identity,
)
from lcsuite.harness.executors.task import TaskOutcome, check_task_keys, run_task_safely, task_is_done
from lcsuite.harness.executors.tracking import collect, scheduler_states

__all__ = ["EXECUTORS", "run_tasks", "submit", "make_submitit_executor"]

logger = logging.getLogger(__name__)

EXECUTORS = ("inline", "local", "slurm")
QUEUED_EXECUTORS = ("local", "slurm")


def make_submitit_executor(executor: str, jobs_dir: Path, options: ClusterOptions) -> Any:
    """submitit's concrete executor for ``local`` or ``slurm``, with ``options`` applied."""
    try:
        import submitit
    except ImportError:
        raise RuntimeError(f"executor {executor} needs submitit: pip install 'lcsuite[cluster]'") from None

    if executor == "slurm":
        if shutil.which("sbatch") is None or shutil.which("srun") is None:
            raise RuntimeError("executor slurm: sbatch/srun are not on PATH (no Slurm client on this machine)")
        made = submitit.SlurmExecutor(folder=jobs_dir, max_num_timeout=options.max_requeues)
    elif executor == "local":
        made = submitit.LocalExecutor(folder=jobs_dir, max_num_timeout=options.max_requeues)
    else:
        raise ValueError(f"unknown queued executor {executor!r}; expected one of {QUEUED_EXECUTORS}")
    made.update_parameters(**submitit_parameters(options, executor))
    return made


def _earlier_jobs(entry: ManifestEntry | None) -> list[str]:
    """The job ids that ran a task before: its earlier ones, and its current one."""
    if entry is None:
        return []
    return entry.previous_jobs + ([entry.job_id] if entry.job_id else [])


def _entry_for_job(job: Any, executor: str, pack: list[str], previous: ManifestEntry | None) -> ManifestEntry:
    job_id = str(job.job_id)
    array_job_id, _, index = job_id.partition("_")
    return ManifestEntry(
        state="pending" if executor == "slurm" else "running",
        job_id=job_id,
        array_job_id=array_job_id if index else None,
        array_task_id=int(index) if index else None,
        pack=pack,
        stdout=str(job.paths.stdout),
        stderr=str(job.paths.stderr),
        submitted_at=utc_now(),
        job_state="PENDING" if executor == "slurm" else "RUNNING",
        previous_jobs=_earlier_jobs(previous),
        process=local_process_identity(int(job_id)) if executor == "local" else None,
    )


def _tasks_to_submit(tasks: Sequence[Any], manifest: Manifest, states: dict[str, JobInfo]) -> list[Any]:
    """Mark done tasks in the manifest, list the queued ones in ``manifest.still_queued``; return
    those neither done nor queued."""
    to_submit = []
    for task in tasks:
        entry = manifest.tasks.get(task.key)
        if task_is_done(task):
            manifest.tasks[task.key] = ManifestEntry(state="done", already_done=True,
                                                     previous_jobs=_earlier_jobs(entry))
            continue
        info = states.get(entry.job_id) if entry and entry.job_id else None
        if info is not None and classify(info.state) in ("pending", "running"):
            manifest.still_queued.append(task.key)
            continue
        to_submit.append(task)
    return to_submit


def submit(tasks: Sequence[Any], run_dir: str | os.PathLike, executor: str = "slurm",
           options: ClusterOptions | None = None, query_timeout_s: float = 30.0,
           clean_dirs: Sequence[str | os.PathLike] = (), temp_max_age_s: float = 3600.0) -> Manifest:
    """Submit the tasks still to do as array tasks, write the manifest, return it (no waiting);
    its ``submitted`` and ``still_queued`` say which tasks this call submitted and which it left
    to their queued jobs.

    tasks: see :mod:`lcsuite.harness.executors.task`; run_dir: the run's directory (created);
    executor: ``local`` or ``slurm``; options: per-array-task requests (defaults when None).
    Stale temporary files (older than ``temp_max_age_s``, writer not live) are removed first
    from the jobs folder and from ``clean_dirs`` (e.g. the results folder).
    ValueError for bad tasks, an unknown executor, or a run directory submitted with another
    executor; SchedulerQueryError when Slurm cannot be asked about the manifest's jobs.
    """
    if executor not in QUEUED_EXECUTORS:
        raise ValueError(f"submit: executor must be one of {QUEUED_EXECUTORS}, got {executor!r}")
    check_task_keys(tasks)
    options = options or ClusterOptions()
    run_dir = Path(run_dir).absolute()
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(run_dir)
    if manifest is None:
        manifest = Manifest(run_dir=run_dir, executor=executor, jobs_dir=run_dir / JOBS_DIR, options={})
    elif manifest.executor != executor:
        raise ValueError(f"{manifest.path}: run was submitted with executor {manifest.executor!r}, "
                         f"not {executor!r}; use another run directory")
    manifest.options = options.to_dict()
    states = scheduler_states(manifest, query_timeout_s)
    removed = clean_stale_temp_files([manifest.jobs_dir, *clean_dirs], manifest, states, temp_max_age_s)
    if removed:
        logger.info("removed %d stale temporary files: %s", len(removed), ", ".join(map(str, removed)))
    to_submit = _tasks_to_submit(tasks, manifest, states)
    size = options.items_per_task
    packs = [to_submit[at:at + size] for at in range(0, len(to_submit), size)]
    if packs:
        jobs = make_submitit_executor(executor, manifest.jobs_dir, options).submit_array(
            [TaskBatch(pack) for pack in packs])
        for job, pack in zip(jobs, packs, strict=True):
            keys = [task.key for task in pack]
            for key in keys:
                manifest.tasks[key] = _entry_for_job(job, executor, keys, manifest.tasks.get(key))
    manifest.submitted = [task.key for task in to_submit]
    write_manifest(manifest)
    return manifest


def run_tasks(tasks: Sequence[Any], run_dir: str | os.PathLike, executor: str = "inline",
              options: ClusterOptions | None = None, timeout_s: float | None = None,
              poll_s: float = 2.0, grace_s: float = 15.0) -> list[TaskOutcome]:
    """Run ``tasks`` to the end with ``executor`` and return their outcomes, in order.

    inline: in this process, one after the other (no manifest; an ``os._exit`` in a task ends
    this process too). local / slurm: :func:`submit`, then
    :func:`~lcsuite.harness.executors.tracking.collect` with ``wait=True``; with ``timeout_s``,
    tasks still unfinished then come back as ``pending`` / ``running``.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    check_task_keys(tasks)
    if executor == "inline":
        return [run_task_safely(task) for task in tasks]
    submit(tasks, run_dir, executor, options)
    outcomes = {outcome.key: outcome for outcome in
                collect(run_dir, wait=True, timeout_s=timeout_s, poll_s=poll_s, grace_s=grace_s)}
    return [outcomes[task.key] for task in tasks]
