"""Running one claim item inline: reuse what may be reused, else measure; then judge.

``run_item(claim, item, grid_point, settings)`` leaves the item's result file at
``<run>/<paper>/<claim>/<item>.h5`` (see :mod:`lcsuite.harness.store`) and this run's verdict
beside it (:mod:`lcsuite.harness.runs`), and returns the verdict record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lcsuite.harness.judge import error_record, judge
from lcsuite.harness.measure import ItemTask, MeasureSettings
from lcsuite.harness.reuse import find_reusable
from lcsuite.harness.runs import VerdictRecord, item_file, write_verdict
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import CorruptResult, StoredItem, read_item

__all__ = ["RunSettings", "run_item", "judge_stored"]


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


def judge_stored(claim, spec: ItemSpec, path: Path, *, reused_from: str | None = None, note: str = "") -> VerdictRecord:
    """Judge the result file at ``path`` (an error verdict when it cannot be read)."""
    try:
        stored: StoredItem = read_item(path)
    except CorruptResult as exc:
        return error_record(spec, f"result file unusable: {exc}", ref=claim.ref, statement=claim.statement,
                            note=note)
    return judge(claim, stored, reused_from=reused_from, note=note)


def run_item(claim, item: str, grid_point: dict, settings: RunSettings) -> VerdictRecord:
    """Reuse or measure one item, judge it, store the verdict; returns the verdict record."""
    spec = claim.item_spec(settings.tier, item, grid_point, settings.allow_unverified)
    target = item_file(settings.run_dir, spec.key)
    stored, reused_from, note = find_reusable(_candidates(settings, spec.key), target, spec,
                                              settings.measure.device, settings.measure.data_root)
    if stored is None:
        ItemTask(spec, settings.measure, claim.tiers[settings.tier].timeout_s)()
        record = judge_stored(claim, spec, target, note=note)
    else:
        record = judge(claim, stored, reused_from=reused_from, note=note)
    write_verdict(settings.run_dir, record)
    return record
