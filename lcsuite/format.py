"""Formatting shared by the terminal table, the markdown report and compare: one way each."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fmt_number", "fmt_seconds", "markdown_table", "is_number"]


def is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def fmt_number(value) -> str:
    """A short human form of a number: 3 significant digits, scientific when large/small."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}"


def fmt_seconds(seconds: float) -> str:
    """``12.3s`` below two minutes, ``4.5min`` below two hours, else ``3.2h``."""
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}min" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def _escape_cell(value) -> str:
    text = value if isinstance(value, str) else fmt_number(value) if is_number(value) else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def markdown_table(headers: list[str], rows: list[list]) -> str:
    """A GitHub pipe table; cells are escaped so that every row has ``len(headers)`` cells."""
    lines = [
        "| " + " | ".join(_escape_cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    for row in rows:
        cells = list(row) + [""] * (len(headers) - len(row))
        lines.append("| " + " | ".join(_escape_cell(c) for c in cells[: len(headers)]) + " |")
    return "\n".join(lines)
