"""One benchmark case's outcome: a table, medians, ratios, goals; plain data for the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from tabulate import tabulate

from lcsuite.format import fmt_number

__all__ = ["CaseResult", "goal"]


def goal(description: str, measured: float | None, target: float, higher_is_better: bool) -> dict:
    """A goal from the issue, checked against a measured figure (never tuned to pass)."""
    if measured is None:
        met = None
    else:
        met = measured >= target if higher_is_better else measured <= target
    return {"goal": description, "target": target, "measured": measured, "met": met,
            "direction": ">=" if higher_is_better else "<="}


def _format(value) -> str:
    if value is None:
        return "-"
    return fmt_number(value) if isinstance(value, float) else str(value)


@dataclass
class CaseResult:
    name: str
    title: str
    headers: list[str]
    rows: list[list]
    medians: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    goals: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def table(self) -> str:
        rows = [[_format(v) for v in row] for row in self.rows]
        lines = [f"== {self.name}: {self.title}",
                 tabulate(rows, headers=self.headers, tablefmt="simple", disable_numparse=True)]
        for g in self.goals:
            verdict = {True: "MET", False: "MISSED", None: "n/a"}[g["met"]]
            measured = "n/a" if g["measured"] is None else fmt_number(g["measured"])
            lines.append(f"goal: {g['goal']} {g['direction']} {g['target']:g}: "
                         f"measured {measured} -> {verdict}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"title": self.title, "headers": self.headers, "rows": self.rows,
                "medians_s": self.medians, "ratios": self.ratios, "goals": self.goals,
                "notes": self.notes, **self.details}
