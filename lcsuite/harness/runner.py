"""Running one claim item inline: reuse what may be reused, else measure; then judge.

``run_item(claim, item, grid_point, settings)`` leaves the item's result file at
``<run>/<paper>/<claim>/<item>.h5`` (see :mod:`lcsuite.harness.store`) and this run's verdict
beside it (:mod:`lcsuite.harness.runs`), and returns the verdict record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lcsuite.harness.judge import error_record, judge, not_valid_record
from lcsuite.harness.measure import ItemTask, MeasureSettings
from lcsuite.harness.partial import discard_partial, partial_file
from lcsuite.harness.reuse import find_reusable
from lcsuite.harness.runs import VerdictRecord, item_file, write_verdict
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import CorruptResult, StoredItem, read_item

__all__ = ["RunSettings", "Prepared", "prepare_item", "item_task", "run_item", "judge_stored", "judge_after_executor"]


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


def judge_stored(claim, spec: ItemSpec, path: Path, *, reused_from: str | None = None, note: str = "") -> VerdictRecord:
    """Judge the result file at ``path`` (an error verdict when it cannot be read)."""
    try:
        stored: StoredItem = read_item(path)
    except CorruptResult as exc:
        return error_record(claim, spec, f"result file unusable: {exc}", note=note)
    return judge(claim, stored, reused_from=reused_from, note=note)


def run_item(claim, item: str, grid_point: dict, settings: RunSettings) -> VerdictRecord:
    """Inline: reuse or measure one item, judge it, store the verdict; returns the verdict record.
    An item whose measurement is not valid at the tier is not run (verdict "not valid")."""
    spec = claim.item_spec(settings.tier, item, grid_point, settings.allow_unverified)
    invalid = not_valid_record(claim, spec)
    if invalid is not None:
        write_verdict(settings.run_dir, invalid)
        return invalid
    prepared = prepare_item(claim, item, grid_point, settings)
    if prepared.stored is None:
        item_task(claim, prepared, settings)()
        record = judge_stored(claim, prepared.spec, item_file(settings.run_dir, prepared.spec.key), note=prepared.note)
    else:
        record = judge(claim, prepared.stored, reused_from=prepared.reused_from, note=prepared.note)
    write_verdict(settings.run_dir, record)
    return record


def judge_after_executor(claim, item: str, grid_point: dict, settings: RunSettings, outcome,
                         reused_from: str | None = None) -> VerdictRecord:
    """Judge an item an executor measured (or found done); ``outcome`` is its TaskOutcome, or
    None when the item was reused before submission (``reused_from``: the run it came from). A
    task that failed without a result is an error naming the job, its scheduler state and log."""
    spec = claim.item_spec(settings.tier, item, grid_point, settings.allow_unverified)
    path = item_file(settings.run_dir, spec.key)
    invalid = not_valid_record(claim, spec)
    if invalid is not None:
        record = invalid
    elif outcome is not None and outcome.state != "done" and not path.exists():
        message = outcome.error or f"task {outcome.state} without a result"
        where = f" (job {outcome.job_id}, {outcome.job_state or outcome.state}, log {outcome.log_path})"
        record = error_record(claim, spec, message + where)
    else:
        reused = reused_from or (settings.run_dir.name if outcome is None or outcome.already_done else None)
        record = judge_stored(claim, spec, path, reused_from=reused)
    write_verdict(settings.run_dir, record)
    return record
