"""Commands on runs measured by executors: ``status`` and ``collect``.

``lcsuite status RUN`` shows every planned item of a run: done, running (with its last progress
line: step, epoch, ETA), pending, failed (with the scheduler's state), or not submitted, with its
job id and log path. ``lcsuite collect RUN`` waits for the run's jobs and judges every planned
item (pytest on the run's claim files and run id, with ``--lc-collect-only``: nothing is
submitted), printing the verdict table; its exit status is pytest's.
"""

from __future__ import annotations

import subprocess
import sys

from lcsuite.cli.common import EXIT_OK
from lcsuite.harness import runs

__all__ = ["cmd_status", "cmd_collect", "collect_command", "add_parsers"]


def _plan_rows(info: runs.RunInfo, known: set[str]) -> list:
    from lcsuite.harness.executors import StatusRow

    rows = []
    for key in sorted(set(info.plan) - known):
        record = runs.read_verdict(info.run_dir, key)
        done = runs.item_file(info.run_dir, key).exists()
        state = "done" if done else ("not submitted" if record is None else record.verdict)
        rows.append(StatusRow(key, state, None, None, None))
    return rows


def cmd_status(args) -> int:
    from lcsuite.harness.executors import format_status, read_manifest, status

    info = runs.read_run(runs.resolve_run_dir(args.run))
    rows = status(info.run_dir) if read_manifest(info.run_dir) is not None else []
    rows += _plan_rows(info, {row.key for row in rows})
    print(f"run {info.run_id} (tier {info.tier}): {len(info.plan)} planned items")
    print(format_status(rows))
    return EXIT_OK


def collect_command(info: runs.RunInfo, executor: str) -> list[str]:
    """The pytest command that judges every planned item of the run (nothing is submitted)."""
    node_ids = [f"{entry.source}::{entry.spec.item}" for _, entry in sorted(info.plan.items())]
    missing = [entry.spec.key for entry in info.plan.values() if not entry.source]
    if missing:
        raise runs.RunError(f"the plan of {info.run_dir} does not name the claim files of {', '.join(missing)}")
    return [sys.executable, "-m", "pytest", *node_ids, "--lc-results", str(info.run_dir.parent),
            "--lc-run-id", info.run_id, "--lc-tier", info.tier, "--lc-executor", executor, "--lc-collect-only",
            "-p", "no:cacheprovider"]


def cmd_collect(args) -> int:
    from lcsuite.harness.executors import read_manifest

    info = runs.read_run(runs.resolve_run_dir(args.run))
    manifest = read_manifest(info.run_dir)
    command = collect_command(info, manifest.executor if manifest is not None else "inline")
    print("collecting:", " ".join(command), flush=True)
    return subprocess.call(command)


def add_parsers(sub) -> None:
    """The ``status`` and ``collect`` subcommands."""
    p = sub.add_parser("status", help="state of every planned item of a run: done / running / pending / failed",
                       description="Job ids, scheduler states, log paths and each running item's progress.")
    p.add_argument("run", metavar="RUN", help="a run directory, or a results root (its latest run)")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("collect", help="wait for a run's jobs and judge its items (the verdict table)",
                       description="Runs pytest on the run's claim files and run id, submitting nothing; "
                                   "exit status as pytest's (0, 1 contradicted/failed, 6 errored or missing).")
    p.add_argument("run", metavar="RUN", help="a run directory, or a results root (its latest run)")
    p.set_defaults(func=cmd_collect)
