"""Loading a stored run for the report and compare: plan, verdicts and measurements together.

Every planned item appears, in its own row, whatever state it is in: judged, missing (planned
but never finished), or unusable (its result or verdict file is damaged: the message says
which file and what failed). Problems with the run as a whole raise :class:`ResultsError`,
whose message is one line for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lcsuite.harness import runs
from lcsuite.harness.enums import Verdict
from lcsuite.harness.store import CorruptResult, StoredItem, read_item

__all__ = ["ResultsError", "ItemView", "RunView", "load_run", "natural_key"]


class ResultsError(Exception):
    """A results directory that is missing, empty or unreadable; the message is one line."""


@dataclass
class ItemView:
    """One planned item of a run: plan entry, this run's verdict, and the measurement."""

    entry: runs.PlanEntry
    record: runs.VerdictRecord
    stored: StoredItem | None = None
    problem: str = ""

    @property
    def key(self) -> str:
        return self.entry.spec.key

    @property
    def paper(self) -> str:
        return self.entry.spec.paper

    @property
    def claim(self) -> str:
        return self.entry.spec.claim

    @property
    def item(self) -> str:
        return self.entry.spec.item

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.record.verdict)

    @property
    def params(self) -> dict:
        return dict(self.entry.spec.params)

    @property
    def seeds(self) -> list[int]:
        return list(self.entry.spec.seeds)

    @property
    def headline(self) -> dict[str, float]:
        return self.record.headline

    @property
    def quantities(self) -> dict:
        return self.stored.quantities if self.stored is not None else {}


@dataclass
class RunView:
    """A whole run: ``info`` (``run.json``) and one :class:`ItemView` per planned item."""

    info: runs.RunInfo
    items: list[ItemView]

    @property
    def run_dir(self) -> Path:
        return self.info.run_dir

    @property
    def tier(self) -> str:
        return self.info.tier

    @property
    def missing(self) -> list[ItemView]:
        return [i for i in self.items if i.verdict is Verdict.MISSING]

    def by_claim(self) -> dict[tuple[str, str], list[ItemView]]:
        """Items grouped by ``(paper, claim)``, both in sorted order, items naturally sorted."""
        groups: dict[tuple[str, str], list[ItemView]] = {}
        for item in sorted(self.items, key=lambda i: (i.paper, i.claim, natural_key(i.item))):
            groups.setdefault((item.paper, item.claim), []).append(item)
        return groups

    def by_key(self) -> dict[str, ItemView]:
        return {item.key: item for item in self.items}


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers numerically (``depth=8`` before ``depth=14``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", text) if part]


def _unusable(entry: runs.PlanEntry, tier: str, problem: str) -> runs.VerdictRecord:
    return runs.VerdictRecord(entry.spec.key, tier, str(Verdict.ERROR), problem, entry.ref, entry.statement)


def _load_item(info: runs.RunInfo, entry: runs.PlanEntry, with_quantities: bool) -> ItemView:
    try:
        record = runs.read_verdict(info.run_dir, entry.spec.key)
    except runs.RunError as exc:
        return ItemView(entry, _unusable(entry, info.tier, str(exc)), problem=str(exc))
    if record is None:
        return ItemView(entry, runs.missing_record(entry, info.tier))
    if not with_quantities or record.verdict == Verdict.MISSING:
        return ItemView(entry, record)
    path = runs.item_file(info.run_dir, entry.spec.key)
    if not path.exists():
        return ItemView(entry, record)  # an error before anything was stored
    try:
        return ItemView(entry, record, read_item(path))
    except CorruptResult as exc:
        message = f"result file unusable: {exc}"
        return ItemView(entry, _unusable(entry, info.tier, message), problem=message)


def load_run(path: str | Path, with_quantities: bool = True) -> RunView:
    """Load the run named by ``path`` (a run directory, or a results root: its latest run)."""
    try:
        run_dir = runs.resolve_run_dir(path)
        info = runs.read_run(run_dir)
    except runs.RunError as exc:
        raise ResultsError(str(exc)) from None
    if not info.plan:
        raise ResultsError(f"{run_dir}: the run planned no items")
    items = [_load_item(info, entry, with_quantities) for _, entry in sorted(info.plan.items())]
    return RunView(info, items)
