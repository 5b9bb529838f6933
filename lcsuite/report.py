"""Markdown report of one stored run: summary table, one section per claim, figures.

Reads the HDF5 result files alone (layout: ``docs/architecture.md``, schema_version 1):
``<results>/<run-id>/<claim-id>/<item>.h5``. ``RESULTS_DIR`` may be a run directory or a
results root whose ``LATEST`` file names the run.

Entry points: :func:`load_run` (also used by :mod:`lcsuite.compare`) and :func:`write_report`.
Problems with the results directory raise :class:`ResultsError`, whose message is one line
meant for the user.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from lcsuite.harness import store
from lcsuite.paper_numbers import PaperTable, paper_summary, paper_tables

VERDICT_ORDER = ("error", "fail", "pass")
"""Worst first: a claim's verdict is the worst verdict among its items."""


class ResultsError(Exception):
    """A results directory that is missing, empty or unreadable; the message is one line."""


# ----------------------------------------------------------------------------------------
# Loading a stored run (through lcsuite.harness.store's readers)
# ----------------------------------------------------------------------------------------


@dataclass
class StoredItem:
    """A stored item (:class:`lcsuite.harness.store.ItemResult`) with the views reports need."""

    stored: object

    @property
    def file(self) -> Path:
        return Path(self.stored.path)

    @property
    def attrs(self) -> dict:
        return self.stored.attrs

    @property
    def quantities(self) -> dict:
        """Quantity path -> :class:`lcsuite.harness.quantities.Quantity` (``values``, ``dims``)."""
        return self.stored.quantities

    @property
    def expectations(self) -> list:
        return self.stored.expectations

    @property
    def headline(self) -> dict[str, float]:
        return self.stored.headline

    @property
    def claim_id(self) -> str:
        return str(self.attrs.get("claim_id", self.file.parent.name))

    @property
    def item(self) -> str:
        return str(self.attrs.get("item", self.file.stem))

    @property
    def key(self) -> str:
        """``<claim-id>/<item>``: identifies the item across runs."""
        return f"{self.claim_id}/{self.item}"

    @property
    def verdict(self) -> str:
        return str(self.attrs.get("verdict", "error"))

    @property
    def params(self) -> dict:
        value = self.attrs.get("params", {})
        return value if isinstance(value, dict) else {}

    @property
    def seeds(self) -> list:
        value = self.attrs.get("seeds", [])
        return list(value) if isinstance(value, (list, tuple)) else [value]

    @property
    def data(self) -> list[dict]:
        value = self.attrs.get("data", [])
        if isinstance(value, dict):
            return [value]
        return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []


@dataclass
class RunResult:
    """All items of one run directory."""

    run_dir: Path
    items: list[StoredItem]

    def by_claim(self) -> dict[str, list[StoredItem]]:
        """Items grouped by claim id, claims and items in sorted order."""
        groups: dict[str, list[StoredItem]] = defaultdict(list)
        for item in sorted(self.items, key=lambda i: (i.claim_id, natural_key(i.item))):
            groups[item.claim_id].append(item)
        return dict(sorted(groups.items()))

    def by_key(self) -> dict[str, StoredItem]:
        return {item.key: item for item in self.items}


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers numerically (``depth=8`` before ``depth=14``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", text) if part]


def result_files(run_dir: Path) -> list[Path]:
    """The item files ``<run_dir>/<claim-id>/<item>.h5`` (temporary dot-files excluded)."""
    return sorted(p for p in Path(run_dir).glob("*/*.h5") if p.is_file() and not p.name.startswith("."))


def resolve_run_dir(path: str | Path) -> Path:
    """The run directory named by ``path``: a run directory itself, or a results root's latest
    run (its ``LATEST`` file, else its newest run directory)."""
    from lcsuite.harness.store import latest_run

    path = Path(path)
    if not path.exists():
        raise ResultsError(f"results directory not found: {path}")
    if not path.is_dir():
        raise ResultsError(f"not a directory: {path}")
    if not (path / store.LATEST_FILE).is_file() and result_files(path):
        return path
    run_dir = latest_run(path)
    if run_dir is None:
        raise ResultsError(f"no runs in {path}: it is empty (expected <run-id>/<claim-id>/<item>.h5)")
    return run_dir


def load_run(path: str | Path) -> RunResult:
    """Load every item of the run named by ``path``; problems raise :class:`ResultsError`."""
    from lcsuite.harness.store import CorruptResult, read_item

    run_dir = resolve_run_dir(path)
    files = result_files(run_dir)
    if not files:
        raise ResultsError(
            f"no result files (<claim-id>/<item>.h5) in {run_dir}: empty or not a run directory"
        )
    items = []
    for file in files:
        try:
            stored = read_item(file)
        except CorruptResult as exc:
            raise ResultsError(f"corrupt result file: {str(exc).splitlines()[0]}") from None
        version = stored.attrs.get("schema_version")
        if version != store.SCHEMA_VERSION:
            raise ResultsError(f"{file}: schema_version {version!r}, this lcsuite reads {store.SCHEMA_VERSION}")
        if "claim_id" not in stored.attrs or "verdict" not in stored.attrs:
            raise ResultsError(f"corrupt result file: {file}: no claim_id or verdict attribute")
        items.append(StoredItem(stored))
    return RunResult(run_dir, items)


# ----------------------------------------------------------------------------------------
# Formatting helpers
# ----------------------------------------------------------------------------------------


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


def _escape_cell(value) -> str:
    text = value if isinstance(value, str) else fmt_number(value) if _is_number(value) else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


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


def claim_verdict(items: list[StoredItem]) -> str:
    """The worst item verdict (error < fail < pass); unknown verdicts count as error."""
    verdicts = [i.verdict if i.verdict in VERDICT_ORDER else "error" for i in items]
    return min(verdicts, key=VERDICT_ORDER.index) if verdicts else "error"


def verdict_badge(verdict: str) -> str:
    return {"pass": "PASS", "fail": "**FAIL**", "error": "**ERROR**"}.get(verdict, verdict)


def describe_provenance(prov: dict) -> tuple[str, bool]:
    """``(text, is_substitute)`` for one provenance dict as stored in the ``data`` attribute."""
    name = str(prov.get("name") or prov.get("dataset") or "?")
    details = [str(prov[k]) for k in ("split",) if prov.get(k)]
    size = prov.get("size", prov.get("n"))
    if size is not None:
        details.append(f"n={size}")
    text = name + (f" ({', '.join(details)})" if details else "")
    substitute = prov.get("substitute")
    is_substitute = bool(substitute) or str(prov.get("source", "")).lower() == "substitute"
    if is_substitute:
        stands_for = f" for {substitute}" if isinstance(substitute, str) and substitute else ""
        text = f"⚠ SUBSTITUTE{stands_for}: {text}"
    return text, is_substitute


def describe_data(items: list[StoredItem]) -> str:
    """The distinct data sets used by ``items``; substitutes are flagged visibly."""
    seen: dict[str, None] = {}
    for item in items:
        for prov in item.data:
            seen[describe_provenance(prov)[0]] = None
    return "<br>".join(seen) if seen else "none (synthetic)"


def format_headline(headline: dict[str, float]) -> str:
    return ", ".join(f"{k}={fmt_number(v)}" for k, v in headline.items())


def format_params(params: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in params.items())


def _unique(values) -> list:
    return list(dict.fromkeys(v for v in values if v not in (None, "")))


def _limited(lines: list[str], limit: int, more: str) -> str:
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"… (+{len(lines) - limit} {more})")
    return "<br>".join(shown)


# ----------------------------------------------------------------------------------------
# Report sections
# ----------------------------------------------------------------------------------------

SUMMARY_HEADERS = [
    "claim",
    "paper",
    "tier",
    "data",
    "verdict",
    "measured (headline)",
    "expected",
    "paper's numbers",
]


def summary_rows(run: RunResult) -> list[list[str]]:
    """One row per claim for the summary table (columns: :data:`SUMMARY_HEADERS`)."""
    rows = []
    for claim_id, items in run.by_claim().items():
        first = items[0]
        verdict = claim_verdict(items)
        n_pass = sum(i.verdict == "pass" for i in items)
        measured = [
            (f"{i.item}: " if len(items) > 1 else "") + format_headline(i.headline)
            for i in items
            if i.headline
        ]
        # The expected trend in words; the exact thresholds are in the claim's section.
        expected = _unique(e.description or e.expected for i in items for e in i.expectations)
        rows.append(
            [
                f"[{claim_id}](#{_anchor(claim_id)})",
                str(first.attrs.get("paper", "")),
                ", ".join(_unique(str(i.attrs.get("tier", "")) for i in items)),
                describe_data(items),
                f"{verdict_badge(verdict)} ({n_pass}/{len(items)} items pass)",
                _limited(measured, 4, "items, see section") or "—",
                _limited(expected, 3, "more") or "—",
                paper_summary(claim_id) or "—",
            ]
        )
    return rows


def _anchor(claim_id: str) -> str:
    """GitHub's heading anchor for a section titled by the bare claim id."""
    return "".join(c for c in claim_id.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def claim_section(claim_id: str, items: list[StoredItem], figure_links: list, unplotted: list) -> str:
    """The markdown section of one claim."""
    first = items[0]
    verdict = claim_verdict(items)
    out = [f"## {claim_id}", ""]
    statement = str(first.attrs.get("statement", "")).strip()
    if statement:
        out += [f"> {statement}", ""]
    out += [
        f"- paper: {first.attrs.get('paper', '')}",
        f"- experiment: `{first.attrs.get('experiment', '')}`",
        f"- tier: {', '.join(_unique(str(i.attrs.get('tier', '')) for i in items))}",
        f"- data: {describe_data(items).replace('<br>', '; ')}",
        f"- verdict: {verdict_badge(verdict)} "
        f"({sum(i.verdict == 'pass' for i in items)}/{len(items)} items pass)",
        "",
        "### Items",
        "",
        markdown_table(
            ["item", "verdict", "params", "seeds", "data", "time (s)", "message"],
            [
                [
                    i.item,
                    verdict_badge(i.verdict),
                    format_params(i.params),
                    ", ".join(str(s) for s in i.seeds),
                    describe_data([i]),
                    fmt_number(i.attrs.get("elapsed_s", math.nan)),
                    str(i.attrs.get("message", "")),
                ]
                for i in items
            ],
        ),
        "",
    ]
    expectation_rows = [
        [i.item, e.description or e.check, e.expected, e.measured, e.where,
         "pass" if e.passed else "**fail**"]
        for i in items
        for e in i.expectations
    ]
    if expectation_rows:
        out += [
            "### Expectations",
            "",
            markdown_table(
                ["item", "expectation", "expected", "measured", "where", "result"],
                expectation_rows,
            ),
            "",
        ]
    headline_names = _unique(name for i in items for name in i.headline)
    if headline_names:
        out += [
            "### Headline numbers",
            "",
            markdown_table(
                ["item", *headline_names],
                [[i.item, *(fmt_number(i.headline.get(n, math.nan)) if n in i.headline else "—"
                            for n in headline_names)] for i in items],
            ),
            "",
        ]
    for table in paper_tables(claim_id):
        out += [f"### The paper's numbers: {table.source}", "", paper_table_markdown(table), ""]
    if figure_links:
        out += ["### Figures", ""]
        for title, link in figure_links:
            out += [f"![{title}]({link})", ""]
    if unplotted:
        out += [
            "### Other quantities (no figure kind applies; table only)",
            "",
            markdown_table(["item", "quantity", "dims", "shape", "mean", "min", "max"], unplotted),
            "",
        ]
    return "\n".join(out)


def paper_table_markdown(table: PaperTable) -> str:
    """A published table as markdown, titled with its unit."""
    body = markdown_table(
        ["method", *table.columns],
        [[method, *(table.format_cell(method, c) for c in table.columns)] for method in table.cells],
    )
    return f"{table.title} [{table.unit}]\n\n{body}"


def environment_section(run: RunResult) -> str:
    """Device, versions, commit and run time of the items in ``run``."""
    items = run.items

    def distinct(key):
        return ", ".join(str(v) for v in _unique(str(i.attrs.get(key, "")) for i in items)) or "—"

    elapsed = [float(i.attrs.get("elapsed_s", 0) or 0) for i in items]
    starts = [_parse_time(i.attrs.get("started_at")) for i in items]
    ends = [s + timedelta(seconds=e) for s, e in zip(starts, elapsed) if s is not None]
    known_starts = [s for s in starts if s is not None]
    rows = [
        ["run directory", str(run.run_dir)],
        ["items", str(len(items))],
        ["device", distinct("device")],
        ["torch", distinct("torch_version")],
        ["lcsuite", distinct("lcsuite_version")],
        ["git commit", distinct("git_commit")],
        ["started", min(known_starts).isoformat() if known_starts else "—"],
        ["wall time (first start to last end)",
         f"{(max(ends) - min(known_starts)).total_seconds():.1f} s" if ends else "—"],
        ["compute time (sum over items)", f"{sum(elapsed):.1f} s"],
    ]
    return "## Environment\n\n" + markdown_table(["", "value"], rows) + "\n"


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# ----------------------------------------------------------------------------------------
# The whole report
# ----------------------------------------------------------------------------------------


def render_report(run: RunResult, output: Path) -> str:
    """Write figures beside ``output`` (in ``<stem>_figures/``) and return the markdown."""
    from lcsuite.figures import claim_figures

    output = Path(output)
    figures_dir = output.parent / f"{output.stem}_figures"
    for stale in figures_dir.rglob("*.png") if figures_dir.is_dir() else ():
        stale.unlink()  # figures of an earlier report at this path
    claims = run.by_claim()
    n_pass = sum(claim_verdict(items) == "pass" for items in claims.values())
    parts = [
        "# lcsuite report",
        "",
        "Verification of Huang et al., *Layer-wise Conditioning Analysis in Exploring the "
        "Learning Dynamics of DNNs* (ECCV 2020).",
        "",
        f"Run `{run.run_dir.name}`: {len(claims)} claims, {n_pass} pass; "
        f"{len(run.items)} items. Data marked ⚠ SUBSTITUTE is not the paper's data set.",
        "",
        "## Summary",
        "",
        markdown_table(SUMMARY_HEADERS, summary_rows(run)),
        "",
    ]
    for claim_id, items in claims.items():
        links, unplotted = claim_figures(
            claim_id, items, figures_dir / _safe_name(claim_id), output.parent
        )
        parts += [claim_section(claim_id, items, links, unplotted), ""]
    parts.append(environment_section(run))
    return "\n".join(parts)


def write_report(results_dir: str | Path, output: str | Path) -> Path:
    """Load the run named by ``results_dir`` and write its markdown report to ``output``."""
    run = load_run(results_dir)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_report(run, output), encoding="utf-8")
    return output


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "_"
