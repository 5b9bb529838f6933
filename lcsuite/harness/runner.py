"""Running one claim item inline: reuse what may be reused, else measure; then judge.

``run_item(claim, item, grid_point, settings)`` leaves the item's result file at
``<run>/<paper>/<claim>/<item>.h5`` (see :mod:`lcsuite.harness.store`) and this run's verdict
beside it (:mod:`lcsuite.harness.runs`), and returns the verdict record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from lcsuite.harness.devices import DeviceUnavailable
from lcsuite.harness.enums import Verdict
from lcsuite.harness.judge import error_record, judge, not_valid_record
from lcsuite.harness.measure import ItemTask, MeasureSettings
from lcsuite.harness.partial import discard_partial, partial_file
from lcsuite.harness.reuse import find_reusable
from lcsuite.harness.runs import VerdictRecord, item_file, write_verdict
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import CorruptResult, StoredItem, read_item

__all__ = ["RunSettings", "Prepared", "prepare_item", "item_task", "deferred_item_task", "run_item", "judge_stored",
           "judge_after_executor", "judge_collected"]


@dataclass(frozen=True)
class RunSettings:
    """Per-run settings shared by every item (the same in the xdist controller and workers).

    Attributes:
        measure: how items are measured (run directory, device, data folder, ...).
        tier: the run's tier.
        rerun: measure again even when the run already holds a valid result (resume).
        reuse_from: another run directory whose valid results may be copied in, or None.
        allow_unverified: the user's override to run claims that require real data on
            unverified data files (recorded in each item's spec).
    """

    measure: MeasureSettings
    tier: str
    rerun: bool = False
    reuse_from: Path | None = None
    allow_unverified: bool = False

    @property
    def run_dir(self) -> Path:
        return self.measure.run_dir


def _candidates(settings: RunSettings, key: str) -> list[tuple[str, Path]]:
    if settings.rerun:
        return []
    candidates = [(settings.run_dir.name, item_file(settings.run_dir, key))]
    if settings.reuse_from is not None:
        candidates.append((settings.reuse_from.name, item_file(settings.reuse_from, key)))
    return candidates


@dataclass
class Prepared:
    """An item before measurement: its spec, and the stored result that may stand in for it."""

    spec: ItemSpec
    stored: StoredItem | None
    reused_from: str | None
    note: str


def prepare_item(claim, item: str, grid_point: dict, settings: RunSettings) -> Prepared:
    """The item's spec, and a valid stored result to reuse when asked (copied into the run).

    The item's partial measurement (:mod:`lcsuite.harness.partial`) is discarded with
    ``--lc-rerun`` (everything is measured again) and when a stored result stands in for it."""
    spec = claim.item_spec(settings.tier, item, grid_point, settings.allow_unverified)
    stored, reused_from, note = find_reusable(_candidates(settings, spec.key), item_file(settings.run_dir, spec.key),
                                              spec, settings.measure.device, settings.measure.data_root)
    partial = partial_file(settings.run_dir, spec.key)
    if settings.rerun and discard_partial(partial):
        note = "; ".join(t for t in (note, "discarded the partial measurement (--lc-rerun)") if t)
    elif stored is not None:
        discard_partial(partial)  # left by an attempt killed after its result was written
    return Prepared(spec, stored, reused_from, note)


def item_task(claim, prepared: Prepared, settings: RunSettings) -> ItemTask:
    """The task that measures a prepared item into the run (for any executor)."""
    return ItemTask(prepared.spec, settings.measure, claim.tiers[settings.tier].timeout_s)


def deferred_item_task(claim, item: str, grid_point: dict, settings: RunSettings) -> ItemTask:
    """The task of an item whose reuse is decided where it runs (the device is decided there):
    it keeps a valid stored result from its candidates, else measures."""
    spec = claim.item_spec(settings.tier, item, grid_point, settings.allow_unverified)
    return ItemTask(spec, settings.measure, claim.tiers[settings.tier].timeout_s,
                    tuple(_candidates(settings, spec.key)))


def judge_stored(claim, spec: ItemSpec, path: Path, *, reused_from: str | None = None, note: str = "") -> VerdictRecord:
    """Judge the result file at ``path`` (an error verdict when it cannot be read)."""
    try:
        stored: StoredItem = read_item(path)
    except CorruptResult as exc:
        return error_record(claim, spec, f"result file unusable: {exc}", note=note)
    return judge(claim, stored, reused_from=reused_from, note=note)


def run_item(claim, item: str, grid_point: dict, settings: RunSettings) -> VerdictRecord:
    """Inline: reuse or measure one item, judge it, store the verdict; returns the verdict record.
    An item whose measurement is not valid at the tier is not run (verdict "not valid"); one whose
    tier is measured on a GPU, where this process sees none, is an error."""
    spec = claim.item_spec(settings.tier, item, grid_point, settings.allow_unverified)
    invalid = not_valid_record(claim, spec)
    if invalid is not None:
        write_verdict(settings.run_dir, invalid)
        return invalid
    try:
        settings = dataclasses.replace(settings, measure=settings.measure.on_this_machine(settings.tier))
    except DeviceUnavailable as exc:  # a tier measured on a GPU, none here: an error, never the CPU
        record = error_record(claim, spec, str(exc))
        write_verdict(settings.run_dir, record)
        return record
    prepared = prepare_item(claim, item, grid_point, settings)
    if prepared.stored is None:
        item_task(claim, prepared, settings)()
        record = judge_stored(claim, prepared.spec, item_file(settings.run_dir, prepared.spec.key), note=prepared.note)
    else:
        record = judge(claim, prepared.stored, reused_from=prepared.reused_from, note=prepared.note)
    write_verdict(settings.run_dir, record)
    return record


def _task_error(error: str) -> str:
    """A task's traceback shortened to its exception line (the manifest keeps the whole of it);
    any other error (a dead job's report with its log's last lines) as it is."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines and lines[0].startswith("Traceback") else error


def _no_result_record(claim, spec: ItemSpec) -> VerdictRecord:
    return error_record(claim, spec, "no stored result in this run, and no job measuring it (nothing is "
                                     "measured when collecting)", verdict=Verdict.MISSING)


def judge_after_executor(claim, item: str, grid_point: dict, settings: RunSettings, outcome,
                         reused_from: str | None = None) -> VerdictRecord:
    """Judge an item an executor measured (or that was kept before submitting); ``outcome`` is its
    TaskOutcome, or None when no job ran it (``reused_from``: the run whose result was kept).

    A task that failed without a result is an error naming the job, its scheduler state and its
    log; an item with neither a result nor a job is ``missing``. A job's own reuse decision and
    its note come back in its summary.
    """
    spec = claim.item_spec(settings.tier, item, grid_point, settings.allow_unverified)
    path = item_file(settings.run_dir, spec.key)
    summary = outcome.summary if outcome is not None and isinstance(outcome.summary, dict) else {}
    failure = ""
    if outcome is not None and outcome.state != "done":
        where = f" (job {outcome.job_id}, {outcome.job_state or outcome.state}, log {outcome.log_path})"
        failure = _task_error(outcome.error or f"task {outcome.state} without a result") + where
    invalid = not_valid_record(claim, spec)
    if invalid is not None:
        record = invalid
    elif failure and not path.exists():
        record = error_record(claim, spec, failure)
    elif not path.exists():
        record = _no_result_record(claim, spec)
    else:
        reused = reused_from or summary.get("reused_from") or (
            settings.run_dir.name if outcome is not None and outcome.already_done else None)
        note = "; ".join(text for text in (summary.get("note"), failure and f"this run's job failed: {failure}")
                         if text)
        record = judge_stored(claim, spec, path, reused_from=reused, note=note)
    write_verdict(settings.run_dir, record)
    return record


def judge_collected(claim, item: str, grid_point: dict, settings: RunSettings) -> VerdictRecord:
    """Collect only: judge the run's stored result of the item, never measure; an item without
    one is ``missing``."""
    return judge_after_executor(claim, item, grid_point, settings, None)
