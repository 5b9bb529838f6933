"""Papers: who a claim is about, described by a small declarative paper file.

A paper package registers its paper file (TOML) in :data:`PAPERS` with :func:`register_paper`;
claim files name it (``paper = "huang2020"``), results are namespaced by it, and the report takes
its title, citation, published numbers and vocabulary from it. The file::

    id = "huang2020"
    title = "Layer-wise Conditioning Analysis in Exploring the Learning Dynamics of DNNs"
    authors = ["Lei Huang", "Jie Qin", ...]
    venue = "ECCV 2020"
    url = "https://arxiv.org/abs/2002.10801"

    [labels]            # legend names in the paper's words for quantity path components
    plain = "Plain"
    [dim_synonyms]      # the paper's axis words read as the report's plotting axes
    checkpoint = "step"
    [summaries]         # one line of published numbers per claim id, for the summary table
    table1_lastbn_beats_resnet = "CIFAR-10 err ..."

    [[tables]]          # published tables, printed beside the measured numbers
    title = "Test error on CIFAR-10 (mean ± std over 5 seeds)"
    source = "Table 1"
    unit = "%"
    claims = ["table1_lastbn_beats_resnet"]
    columns = ["depth-56", "depth-110"]
    [tables.rows]       # method = one [mean, std] (or [value]) per column
    ResNet = [[7.52, 0.30], [6.89, 0.52]]

Errors in the file are :class:`PaperError`: ``<file>: <key>: <what is wrong>``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lcsuite.harness.spec import IDENTIFIER
from lcsuite.registry import Registry, did_you_mean

__all__ = ["PAPERS", "Paper", "PaperError", "PublishedTable", "load_paper", "register_paper"]

_KEYS = ("id", "title", "authors", "venue", "url", "labels", "dim_synonyms", "summaries", "tables")
_TABLE_KEYS = ("title", "source", "unit", "claims", "columns", "rows")


class PaperError(ValueError):
    """A malformed paper file: ``<file>: <key>: <message>``."""


@dataclass(frozen=True)
class PublishedTable:
    """One table of published numbers: ``cells[method][column] = (mean, std or None)``."""

    title: str
    source: str
    unit: str
    claims: tuple[str, ...]
    columns: tuple[str, ...]
    cells: dict[str, dict[str, tuple[float, float | None]]]

    def format_cell(self, method: str, column: str) -> str:
        """``mean ± std`` (or ``mean``), or an empty string where the paper gives nothing."""
        value = self.cells.get(method, {}).get(column)
        if value is None:
            return ""
        mean, std = value
        return f"{mean:g}" if std is None else f"{mean:g} ± {std:g}"


@dataclass(frozen=True)
class Paper:
    """A paper as its file describes it (see the module docstring)."""

    id: str
    title: str
    authors: tuple[str, ...] = ()
    venue: str = ""
    url: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    dim_synonyms: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    tables: tuple[PublishedTable, ...] = ()

    @property
    def citation(self) -> str:
        """``Huang et al., *Title* (ECCV 2020)``."""
        who = f"{self.authors[0].split()[-1]} et al." if len(self.authors) > 2 else " and ".join(self.authors)
        return f"{who + ', ' if who else ''}*{self.title}*{f' ({self.venue})' if self.venue else ''}"

    def tables_for(self, claim: str) -> tuple[PublishedTable, ...]:
        return tuple(t for t in self.tables if claim in t.claims)

    def summary_for(self, claim: str) -> str:
        return self.summaries.get(claim, "")


PAPERS: Registry = Registry("paper", "lcsuite.papers")
"""Paper id → :class:`Paper` (entry point group ``lcsuite.papers``)."""


def _strings(value: Any, key: str, fail) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        fail(key, "expected a table of strings")
    return dict(value)


def _cell(value: Any, fail, key: str) -> tuple[float, float | None]:
    if not isinstance(value, list) or len(value) not in (1, 2) or not all(isinstance(v, (int, float)) for v in value):
        fail(key, f"expected [mean, std] or [value], got {value!r}")
    return (float(value[0]), float(value[1]) if len(value) == 2 else None)


def _table(raw: Any, index: int, fail) -> PublishedTable:
    key = f"tables[{index}]"
    if not isinstance(raw, dict):
        fail(key, "expected a table")
    for name in raw:
        if name not in _TABLE_KEYS:
            fail(f"{key}.{name}", f"unknown key{did_you_mean(name, _TABLE_KEYS)}")
    columns = tuple(raw.get("columns", ()))
    cells = {}
    for method, values in dict(raw.get("rows", {})).items():
        if not isinstance(values, list) or len(values) != len(columns):
            fail(f"{key}.rows.{method}", f"expected one cell per column ({len(columns)})")
        cells[method] = {c: _cell(v, fail, f"{key}.rows.{method}") for c, v in zip(columns, values)}
    return PublishedTable(str(raw.get("title", "")), str(raw.get("source", "")), str(raw.get("unit", "")),
                          tuple(raw.get("claims", ())), columns, cells)


def load_paper(path: Path) -> Paper:
    """Read and validate a paper file; raises :class:`PaperError`."""
    def fail(key: str, message: str):
        raise PaperError(f"{path}: {key}: {message}")

    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PaperError(f"{path}: cannot read ({exc})") from None
    for key in raw:
        if key not in _KEYS:
            fail(key, f"unknown key{did_you_mean(key, _KEYS)}; allowed: {', '.join(_KEYS)}")
    for key in ("id", "title"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            fail(key, "missing or not a non-empty string")
    if not IDENTIFIER.match(raw["id"]):
        fail("id", f"{raw['id']!r} is not an identifier (a letter, then letters, digits or '_')")
    return Paper(raw["id"], raw["title"], tuple(raw.get("authors", ())), str(raw.get("venue", "")),
                 str(raw.get("url", "")), _strings(raw.get("labels", {}), "labels", fail),
                 _strings(raw.get("dim_synonyms", {}), "dim_synonyms", fail),
                 _strings(raw.get("summaries", {}), "summaries", fail),
                 tuple(_table(t, i, fail) for i, t in enumerate(raw.get("tables", []))))


def register_paper(path: Path, owner: str) -> Paper:
    """Load the paper file at ``path`` and register it under its id (``owner``: the package)."""
    paper = load_paper(path)
    PAPERS.register(paper.id, paper, owner=owner)
    return paper
