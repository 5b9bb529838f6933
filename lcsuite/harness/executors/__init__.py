"""Executors: running independent tasks here (``inline``), as local processes (``local``), or as
Slurm job-array tasks (``slurm``), both of the latter through submitit.

- :mod:`.task`: the task contract (``key``, ``__call__``, optional ``is_done``), outcomes,
  atomic result writes.
- :mod:`.options`: per-array-task requests (partition, GPUs, CPUs, memory, time, account, QoS,
  array parallelism, items per task, extra sbatch flags), from TOML and overrides.
- :mod:`.submission`: ``run_tasks`` (to the end) and ``submit`` (submit-only, writes the manifest).
- :mod:`.tracking`: ``collect`` (wait for or read outcomes) and ``status`` (rows with progress).
- :mod:`.progress`: ``report_progress`` for training loops, read back by ``status``.
- :mod:`.manifest`, :mod:`.queue`, :mod:`.batch`, :mod:`.cleanup`: the run directory's
  manifest, scheduler queries, what one array task runs, stale temporary files.
"""

from lcsuite.harness.executors.cleanup import clean_stale_temp_files
from lcsuite.harness.executors.manifest import Manifest, ManifestEntry, read_manifest
from lcsuite.harness.executors.options import ClusterOptions, load_cluster_options, options_from_mapping
from lcsuite.harness.executors.progress import last_progress, report_progress
from lcsuite.harness.executors.queue import SchedulerQueryError
from lcsuite.harness.executors.submission import EXECUTORS, run_tasks, submit
from lcsuite.harness.atomic import atomic_write_path, job_token
from lcsuite.harness.executors.task import Task, TaskOutcome
from lcsuite.harness.executors.tracking import StatusRow, collect, format_status, scheduler_states, status

__all__ = [
    "EXECUTORS",
    "Task",
    "TaskOutcome",
    "ClusterOptions",
    "Manifest",
    "ManifestEntry",
    "StatusRow",
    "SchedulerQueryError",
    "run_tasks",
    "submit",
    "collect",
    "status",
    "format_status",
    "scheduler_states",
    "read_manifest",
    "load_cluster_options",
    "options_from_mapping",
    "report_progress",
    "last_progress",
    "atomic_write_path",
    "job_token",
    "clean_stale_temp_files",
]
