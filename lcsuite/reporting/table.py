"""The end-of-run verdict table: one row per claim and tier, read from verdict records."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from tabulate import tabulate

from lcsuite.harness.enums import Verdict
from lcsuite.harness.runs import VerdictRecord
from lcsuite.format import fmt_number, fmt_seconds

__all__ = ["claim_rows", "claim_verdict", "render_table", "robustness_line", "HEADERS"]

HEADERS = ("claim", "ref", "tier", "data", "verdict", "items", "robustness", "headline", "time")


def _headline(records: list[VerdictRecord]) -> str:
    names = list(dict.fromkeys(k for r in records for k in r.headline))
    parts = []
    for name in names:
        values = [r.headline[name] for r in records if name in r.headline]
        low, high = min(values), max(values)
        span = fmt_number(low) if low == high else f"{fmt_number(low)}..{fmt_number(high)}"
        parts.append(f"{name}={span}")
    return " ".join(parts)


def _counts(records: list[VerdictRecord]) -> str:
    counts = Counter(r.verdict for r in records)
    order = sorted(counts, key=lambda v: (Verdict(v).rank, v))
    return ", ".join(f"{counts[v]} {v}" for v in order)


def claim_verdict(records: Iterable[VerdictRecord]) -> Verdict:
    """A claim's verdict: the worst of its primary items' (variants never decide it); errors of
    variant items count too (a crash is never a result)."""
    records = list(records)
    primary = [r.verdict for r in records if r.variant is None]
    errors = [r.verdict for r in records if r.variant is not None and Verdict(r.verdict).is_error]
    return Verdict.worst(primary + errors)


def robustness_line(records: Iterable[VerdictRecord]) -> str:
    """``holds without biases; contradicted with Torch7 biases``: the worst verdict of the primary
    protocol and of each variant, in the claim's words; empty without variants."""
    groups: dict[str | None, list[VerdictRecord]] = {}
    for record in records:
        groups.setdefault(record.variant, []).append(record)
    if set(groups) <= {None}:
        return ""
    order = sorted(groups, key=lambda v: (v is not None, v or ""))
    return "; ".join(f"{Verdict.worst(r.verdict for r in groups[v])} {groups[v][0].label}".strip() for v in order)


def claim_rows(records: Iterable[VerdictRecord]) -> list[tuple]:
    """Aggregate item records into table rows (sorted by paper, claim, tier)."""
    groups: dict[tuple[str, str, str], list[VerdictRecord]] = {}
    for record in records:
        groups.setdefault((record.paper, record.claim, record.tier), []).append(record)
    rows = []
    for (_, claim, tier), items in sorted(groups.items()):
        data = sorted({label for r in items for label in r.data}) or ["-"]
        reused = sum(r.reused_from is not None for r in items)
        time_text = fmt_seconds(sum(r.elapsed_s for r in items if r.reused_from is None))
        if reused:
            time_text += f" ({reused} reused)"
        primary = [r for r in items if r.variant is None]
        rows.append((claim, items[0].ref, tier, ", ".join(data), str(claim_verdict(items)).upper(),
                     _counts(primary), robustness_line(items), _headline(primary), time_text))
    return rows


def render_table(records: Iterable[VerdictRecord]) -> str:
    """The table as text (tabulate's ``github`` format); the verdict counts of the primary items."""
    return tabulate(claim_rows(records), headers=HEADERS, tablefmt="github")
