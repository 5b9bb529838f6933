"""One pytest session's claim run: its run id, tier, plan, settings and summary.

The process that collects (the xdist controller, or the single process) decides the run id and
tier, opens or resumes the run and writes its plan; xdist workers receive the run id, tier and
CUDA device count through ``workerinput["lcsuite"]`` and only measure and judge items. With the
local and Slurm executors, the device an item is measured on is decided in its job
(:data:`~lcsuite.harness.measure.DEVICE_AUTO`), not here.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lcsuite.harness import devices, runs
from lcsuite.harness.enums import Tier
from lcsuite.harness.measure import DEVICE_AUTO, MeasureSettings
from lcsuite.harness.runner import RunSettings

__all__ = ["LcSession", "Submission", "is_claim_file"]

DATA_ENV = "LCSUITE_DATA"
CLUSTER_OPTIONS = ("partition", "gpus_per_task", "cpus_per_task", "mem_gb", "time_min", "account", "qos",
                   "array_parallelism", "items_per_task")
"""``--lc-slurm-<name>`` options, each overriding the same key of the cluster options file."""


def is_claim_file(path: Path) -> bool:
    """A TOML file with top-level ``id`` and ``experiment`` and at least one ``[[expect]]``."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return "id" in raw and "experiment" in raw and isinstance(raw.get("expect"), list) and bool(raw["expect"])


@dataclass
class Submission:
    """What one ``--lc-submit-only`` session did with its items (those valid at the tier).

    submitted: keys handed to the scheduler now; with_stored: how many of them hold a stored
    result, kept by their job when it may be (decided there, with the job's device);
    still_queued: keys whose earlier job is still pending or running (not submitted again);
    already_done: how many items hold a result kept without a job.
    """

    submitted: list[str] = field(default_factory=list)
    with_stored: int = 0
    still_queued: list[str] = field(default_factory=list)
    already_done: int = 0

    def describe(self) -> str:
        count = len(self.submitted)
        stored = (f" ({self.with_stored} of them with a stored result, kept by the job if valid on its device)"
                  if self.with_stored else "")
        return (f"{count} item{'' if count == 1 else 's'} submitted now{stored}; {len(self.still_queued)} still queued "
                f"or running from an earlier submission (not submitted again); {self.already_done} already done.")


def _absolute(config, path: str) -> Path:
    path = Path(path)
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


class LcSession:
    """Per-session state, registered as a plugin (see :mod:`lcsuite.pytest_plugin`)."""

    def __init__(self, config):
        self.config = config
        workerinput = getattr(config, "workerinput", None)
        self.worker_info: dict[str, Any] | None = (workerinput or {}).get("lcsuite")
        self.worker_id = workerinput.get("workerid") if workerinput is not None else None
        self.results_dir = _absolute(config, config.getoption("lc_results"))
        self.claim_collect_errors: set[str] = set()
        self.planned_keys: list[str] = []
        self._run: runs.RunInfo | None = None
        self._cuda_count: int | None = None
        self._tier: str | None = config.getoption("lc_tier")
        self.executor = config.getoption("lc_executor")
        self.collect_only = bool(config.getoption("lc_collect_only"))
        self.outcomes: dict[str, Any] = {}
        self.reused: dict[str, str | None] = {}
        self.submission: Submission | None = None
        if self.worker_info is not None:
            self.run_id = self.worker_info["run_id"]
            self._tier = self.worker_info["tier"]
            self._cuda_count = int(self.worker_info["cuda_count"])
            self.reuse_from = Path(self.worker_info["reuse_from"]) if self.worker_info["reuse_from"] else None
        else:
            self._check_options()
            self._choose_run()

    def _check_options(self) -> None:
        """One-line usage errors for options that contradict each other."""
        option = self.config.getoption
        if self.executor != "inline" and option("numprocesses", None):
            raise runs.RunError(f"-n cannot be combined with --lc-executor {self.executor}: the executor runs "
                                "the items (drop -n, or use --lc-executor inline)")
        if option("lc_submit_only") and self.collect_only:
            raise runs.RunError("--lc-submit-only and --lc-collect-only cannot be combined: the first submits "
                                "and stops, the second submits nothing and judges")
        if option("lc_submit_only") and self.executor == "inline":
            raise runs.RunError("--lc-submit-only needs --lc-executor local or slurm: inline measures the items "
                                "in this process, nothing is submitted")
        for name, flag in (("lc_rerun", "--lc-rerun"), ("lc_reuse_from", "--lc-reuse-from")):
            if self.collect_only and option(name):
                raise runs.RunError(f"--lc-collect-only cannot be combined with {flag}: collecting judges the "
                                    "results the run holds and measures or copies nothing")

    def _choose_run(self) -> None:
        option = self.config.getoption("lc_run_id")
        self.run_id = runs.validate_run_id(option) if option else runs.new_run_id()
        existing = self.results_dir / self.run_id / runs.RUN_FILE
        if self.collect_only and not (option and existing.is_file()):
            raise runs.RunError(f"--lc-collect-only judges an existing run: give --lc-run-id of one under "
                                f"{self.results_dir}" + (f" (there is no {existing})" if option else ""))
        if option and existing.is_file():
            stored_tier = runs.read_run(existing.parent).tier
            if self._tier is None:
                self._tier = stored_tier  # a resumed run keeps its tier
            elif self._tier != stored_tier:
                raise runs.RunError(f"run {self.run_id} is a {stored_tier}-tier run; resume it with "
                                    f"--lc-tier {stored_tier}, or start a new run id for tier {self._tier}")
        self.reuse_from = self._reuse_source()

    def _reuse_source(self) -> Path | None:
        option = self.config.getoption("lc_reuse_from")
        if not option:
            return None
        candidate = Path(option)
        run_dir = candidate if (candidate / runs.RUN_FILE).is_file() else self.results_dir / runs.validate_run_id(option)
        info = runs.read_run(run_dir)
        if self._tier is not None and info.tier != self._tier:
            raise runs.RunError(f"--lc-reuse-from {option}: a {info.tier}-tier run cannot stand in for tier {self._tier}")
        return run_dir

    @property
    def is_worker(self) -> bool:
        return self.worker_id is not None

    @property
    def cuda_count(self) -> int:
        if self._cuda_count is None:
            self._cuda_count = devices.cuda_device_count()
        return self._cuda_count

    @property
    def tier(self) -> str:
        """The tier; resolving the default asks torch (controller only, on first need)."""
        if self._tier is None:
            self._tier = str(Tier.GPU if self.cuda_count > 0 else Tier.SMOKE)
        return self._tier

    @property
    def allow_unverified(self) -> bool:
        return bool(self.config.getoption("lc_allow_unverified"))

    @property
    def run_dir(self) -> Path:
        return self.results_dir / self.run_id

    def for_workers(self) -> dict[str, Any]:
        tier = self.tier
        return {"run_id": self.run_id, "tier": tier, "cuda_count": self.cuda_count if tier != Tier.SMOKE else 0,
                "reuse_from": str(self.reuse_from) if self.reuse_from else None}

    def display_path(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.config.rootpath))
        except ValueError:
            return str(path)

    def header(self) -> list[str] | None:
        if self.is_worker or not self._collecting_claims():
            return None
        return [f"lcsuite: tier={self.tier} run={self.run_id} results={self.results_dir}"]

    def _collecting_claims(self) -> bool:
        if self.config.getoption("lc_claims"):
            return True
        for arg in self.config.args:
            path = Path(arg.split("::")[0])
            if path.suffix == ".toml" or "claims" in path.parts or (path / "claims").is_dir():
                return True
        return False

    # collection ---------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        """A claim file's items are those of the session's tier (``Claim.all_items(tier)``).

        ``ClaimFile.collect`` lists the items of a claim's ``[grid]``; where the tier has a grid of
        its own (``[tier.X.grid]``) they are replaced here by the tier's, before node ids are
        matched, so that selection (``file.toml::depths=56``), xdist, the plan and the executors
        all see the tier's items. Nothing changes for a claim whose items are already the tier's.
        """
        report = yield
        from lcsuite.pytest_plugin import ClaimFile, ClaimItem

        if not isinstance(collector, ClaimFile) or not report.passed or not report.result:
            return report
        items = [item for item in report.result if isinstance(item, ClaimItem)]
        if len(items) != len(report.result):
            return report
        claim = items[0].claim
        wanted = claim.all_items(self.tier)
        if [item.name for item in items] != [name for name, _, _ in wanted]:
            report.result = [ClaimItem.from_parent(collector, name=name, claim=claim, grid_point=point)
                             for name, point, _ in wanted]
        return report

    # planning ----------------------------------------------------------------------------------
    def plan_from_items(self, items) -> None:
        """Inline: plan the collected claim items."""
        entries = [runs.PlanEntry(item.spec(self), item.claim.ref, item.claim.statement, str(item.claim.path),
                                  item.claim.diagnosis.get(self.tier, "")) for item in items]
        self._plan(entries)

    def plan_from_node_ids(self, ids) -> None:
        """xdist controller: plan from a worker's collected node ids (the first worker's)."""
        if self._run is not None:
            return
        from lcsuite.harness.schema import load_claim

        claims, entries = {}, []
        for node_id in ids:
            path, _, name = node_id.partition("::")
            if not path.endswith(".toml") or not name:
                continue
            if path not in claims:
                claims[path] = load_claim(self.config.rootpath / path, display=path, check_experiment=False)
            claim = claims[path]
            point = {item: point for item, point, _ in claim.all_items(self.tier)}[name]
            entries.append(runs.PlanEntry(claim.item_spec(self.tier, name, point, self.allow_unverified),
                                          claim.ref, claim.statement, str(claim.path),
                                          claim.diagnosis.get(self.tier, "")))
        self._plan(entries)

    def _plan(self, entries: list[runs.PlanEntry]) -> None:
        if not entries:
            return
        self._run = runs.open_run(self.results_dir, self.run_id, self.tier)
        runs.clean_stale_temps(self._run.run_dir)
        self._run = runs.add_to_plan(self._run.run_dir, entries)
        self.planned_keys = [entry.spec.key for entry in entries]

    # running -----------------------------------------------------------------------------------
    def run_settings(self) -> RunSettings:
        """The run's settings. The device is decided by the process that measures each item (this
        one or an xdist worker inline, the job with an executor: ``DEVICE_AUTO``), except the CPU
        of the smoke tier where that process runs on this machine (inline, ``local``)."""
        data = self.config.getoption("lc_data") or os.environ.get(DATA_ENV)
        device = "cpu" if self.tier == Tier.SMOKE and self.executor != "slurm" else DEVICE_AUTO
        measure = MeasureSettings(self.run_dir, device, Path(data) if data else None,
                                  bool(self.config.getoption("lc_download")), executor=self.executor)
        return RunSettings(measure, self.tier, bool(self.config.getoption("lc_rerun")), self.reuse_from,
                           self.allow_unverified)

    # hooks and summary -------------------------------------------------------------------------
    def pytest_collectreport(self, report) -> None:
        # In the controller too: xdist forwards the workers' failed collect reports.
        if report.failed and report.nodeid.split("::")[0].endswith(".toml"):
            self.claim_collect_errors.add(report.nodeid)

    def session_records(self) -> list[runs.VerdictRecord]:
        """This session's items' verdicts read back from the run (missing ones included)."""
        if self.is_worker or not self.planned_keys:
            return []
        return runs.run_records(runs.read_run(self.run_dir), self.planned_keys)

    # executors other than inline ------------------------------------------------------------------
    def cluster_options(self):
        """The options file (or pyproject's ``[tool.lcsuite.slurm]``), then ``--lc-slurm-*``; a run
        submitted before keeps the options of its manifest unless given again."""
        from lcsuite.harness.executors import load_cluster_options, options_from_mapping, read_manifest

        overrides = {name: self.config.getoption(f"lc_slurm_{name}") for name in CLUSTER_OPTIONS}
        overrides["extra_sbatch"] = tuple(self.config.getoption("lc_slurm_sbatch") or ()) or None
        overrides = {k: v for k, v in overrides.items() if v is not None}
        try:
            manifest = read_manifest(self.run_dir)
            if manifest is not None and manifest.options and not self.config.getoption("lc_slurm_config"):
                return options_from_mapping({**manifest.options, **overrides}, source=str(manifest.path))
            return load_cluster_options(self.config.getoption("lc_slurm_config"), overrides, self.config.rootpath)
        except ValueError as exc:
            raise runs.RunError(str(exc)) from None

    def _tasks(self, items, settings: RunSettings) -> tuple[list, int]:
        """The tasks of the items still to do, and how many items are valid at the tier. Where the
        device is decided in the jobs, every valid item is a task, and its job decides reuse."""
        from lcsuite.harness.runner import deferred_item_task, item_task, prepare_item

        tasks, valid = [], 0
        for item in items:
            if item.claim.invalid_at(self.tier, item.spec(self).params):
                continue  # not valid at this tier: not run (judged "not valid")
            valid += 1
            if settings.measure.device == DEVICE_AUTO:
                tasks.append(deferred_item_task(item.claim, item.name, item.grid_point, settings))
                continue
            prepared = prepare_item(item.claim, item.name, item.grid_point, settings)
            if prepared.stored is None:
                tasks.append(item_task(item.claim, prepared, settings))
            else:
                self.reused[prepared.spec.key] = prepared.reused_from
        return tasks, valid

    def dispatch(self, items) -> bool:
        """Hand the items still to do to the executor (local or Slurm) and wait for them; with
        ``--lc-submit-only`` stop after submitting (returns True), with ``--lc-collect-only``
        submit nothing and wait for what the manifest holds."""
        from lcsuite.harness.executors import collect, read_manifest, submit

        if not self.collect_only:
            settings = self.run_settings()
            tasks, valid = self._tasks(items, settings)
            manifest = submit(tasks, self.run_dir, self.executor, self.cluster_options(),
                              clean_dirs=[self.run_dir]) if tasks else None
            if self.config.getoption("lc_submit_only"):
                submitted = manifest.submitted if manifest is not None else []
                queued = manifest.still_queued if manifest is not None else []
                deferred = settings.measure.device == DEVICE_AUTO  # else a stored result was refused here
                with_stored = sum(runs.item_file(self.run_dir, key).exists() for key in submitted) if deferred else 0
                self.submission = Submission(submitted, with_stored, queued, valid - len(submitted) - len(queued))
                return True
        if read_manifest(self.run_dir) is not None:
            self.outcomes = {outcome.key: outcome for outcome in collect(self.run_dir, wait=True)}
        return False
