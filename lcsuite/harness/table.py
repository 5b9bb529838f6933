"""The end-of-run pass/fail table: one row per claim and tier."""

from __future__ import annotations

from typing import Iterable

from tabulate import tabulate

from lcsuite.harness.runner import ItemSummary

__all__ = ["claim_rows", "render_table", "HEADERS"]

HEADERS = ("claim", "paper", "tier", "data", "passed", "failed", "errored", "headline", "time")


def _format_number(value: float) -> str:
    return f"{value:.3g}"


def _format_time(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


def claim_rows(summaries: Iterable[ItemSummary]) -> list[tuple]:
    """Aggregate item summaries into table rows (sorted by claim id, then tier)."""
    groups: dict[tuple[str, str], list[ItemSummary]] = {}
    for summary in summaries:
        groups.setdefault((summary.claim_id, summary.tier), []).append(summary)
    rows = []
    for (claim_id, tier), items in sorted(groups.items()):
        data = sorted({label for s in items for label in s.data}) or ["-"]
        headline = []
        if len(items) == 1:
            headline = [f"{k}={_format_number(v)}" for k, v in items[0].headline.items()]
        else:
            names = list(dict.fromkeys(k for s in items for k in s.headline))
            for name in names:
                values = [s.headline[name] for s in items if name in s.headline]
                low, high = min(values), max(values)
                span = _format_number(low) if low == high else f"{_format_number(low)}..{_format_number(high)}"
                headline.append(f"{name}={span}")
        reused = sum(s.reused for s in items)
        time_text = _format_time(sum(s.elapsed_s for s in items if not s.reused))
        if reused:
            time_text += f" ({reused} reused)"
        rows.append((
            claim_id, items[0].paper, tier, ", ".join(data),
            sum(s.verdict == "pass" for s in items), sum(s.verdict == "fail" for s in items),
            sum(s.verdict == "error" for s in items), " ".join(headline), time_text,
        ))
    return rows


def render_table(summaries: Iterable[ItemSummary]) -> str:
    """The table as text (tabulate's ``github`` format)."""
    return tabulate(claim_rows(summaries), headers=HEADERS, tablefmt="github")
