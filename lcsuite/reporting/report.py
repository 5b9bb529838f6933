"""Markdown report of one stored run: summary table, one section per claim, figures.

Reads a run directory (``docs/architecture.md``): its plan, this run's verdicts and the result
files. Every planned item has a row; an item that never finished is *missing*, and the report
then says ``incomplete: k of n items`` at the top; a damaged file is reported in its own row and
the rest of the report still renders.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from lcsuite.harness.enums import Verdict
from lcsuite.harness.papers import PAPERS, Paper, PublishedTable
from lcsuite.registry import UnknownName
from lcsuite.reporting.figures import claim_figures
from lcsuite.format import fmt_number, markdown_table
from lcsuite.reporting.loading import ItemView, ResultsError, RunView, load_run
from lcsuite.reporting.table import claim_verdict, robustness_line

__all__ = ["render_report", "write_report", "verdict_badge"]


def verdict_badge(verdict: Verdict | str) -> str:
    """The verdict in the report: green ones plain, everything else in bold capitals."""
    verdict = Verdict(verdict)
    return str(verdict).upper() if verdict.is_green else f"**{str(verdict).upper()}**"


def _unique(values) -> list:
    return list(dict.fromkeys(v for v in values if v not in (None, "")))


def _limited(lines: list[str], limit: int, more: str) -> str:
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"… (+{len(lines) - limit} {more})")
    return "<br>".join(shown)


def _data(items: list[ItemView]) -> str:
    labels = _unique(label for i in items for label in i.record.data)
    return "<br>".join(labels) if labels else "none (synthetic)"


def _counts(items: list[ItemView]) -> str:
    counts = Counter(str(i.verdict) for i in items)
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: (Verdict(kv[0]).rank, kv[0])))


def _headline(headline: dict[str, float]) -> str:
    return ", ".join(f"{k}={fmt_number(v)}" for k, v in headline.items())


def paper_of(paper_id: str) -> Paper:
    """The registered paper, or a placeholder named by its id when its package is not installed."""
    try:
        return PAPERS.get(paper_id)
    except UnknownName:
        return Paper(paper_id, paper_id)


def _anchor(claim_id: str) -> str:
    """GitHub's heading anchor for a section titled by the bare claim id."""
    return "".join(c for c in claim_id.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


SUMMARY_HEADERS = ["claim", "ref", "tier", "data", "verdict", "robustness", "measured (headline)", "expected",
                   "paper's numbers"]


def summary_rows(run: RunView) -> list[list[str]]:
    """One row per claim (columns: :data:`SUMMARY_HEADERS`)."""
    rows = []
    for (paper_id, claim), items in run.by_claim().items():
        measured = [(f"{i.item}: " if len(items) > 1 else "") + _headline(i.headline) for i in items if i.headline]
        expected = _unique(e.get("description") or e.get("expected") for i in items for e in i.record.expectations)
        primary = [i for i in items if i.record.variant is None]
        verdict = claim_verdict(i.record for i in items)
        rows.append([f"[{claim}](#{_anchor(claim)})", items[0].entry.ref, run.tier, _data(items),
                     f"{verdict_badge(verdict)} ({_counts(primary)})", robustness_line(i.record for i in items) or "—",
                     _limited(measured, 4, "items, see section") or "—", _limited(expected, 3, "more") or "—",
                     paper_of(paper_id).summary_for(claim) or "—"])
    return rows


def _items_table(items: list[ItemView]) -> str:
    rows = [[i.item, verdict_badge(i.verdict), ", ".join(f"{k}={v}" for k, v in i.params.items()),
             ", ".join(map(str, i.seeds)), _data([i]), fmt_number(i.record.elapsed_s),
             "; ".join(t for t in (i.record.message, i.record.note) if t)] for i in items]
    return markdown_table(["item", "verdict", "params", "seeds", "data", "time (s)", "message"], rows)


def _expectations_table(items: list[ItemView]) -> str:
    rows = [[i.item, e.get("description") or e.get("check"), e.get("expected", ""), e.get("measured", ""),
             e.get("where", ""), verdict_badge(e["verdict"])] for i in items for e in i.record.expectations]
    return markdown_table(["item", "expectation", "expected", "measured", "where", "result"], rows) if rows else ""


def _headline_table(items: list[ItemView]) -> str:
    names = _unique(name for i in items for name in i.headline)
    if not names:
        return ""
    rows = [[i.item, *(fmt_number(i.headline[n]) if n in i.headline else "—" for n in names)] for i in items]
    return markdown_table(["item", *names], rows)


def paper_table_markdown(table: PublishedTable) -> str:
    """A published table as markdown, titled with its unit."""
    body = markdown_table(["method", *table.columns],
                          [[method, *(table.format_cell(method, c) for c in table.columns)] for method in table.cells])
    return f"{table.title} [{table.unit}]\n\n{body}"


def claim_section(claim: str, items: list[ItemView], figure_links: list, unplotted: list) -> str:
    """The markdown section of one claim."""
    first, verdict = items[0], claim_verdict(i.record for i in items)
    out = [f"## {claim}", ""]
    if first.entry.statement.strip():
        out += [f"> {first.entry.statement.strip()}", ""]
    primary = [i for i in items if i.record.variant is None]
    out += [f"- paper: {paper_of(first.paper).citation}, {first.entry.ref}",
            f"- experiment: `{first.entry.spec.experiment}`",
            f"- data: {_data(items).replace('<br>', '; ')}", f"- verdict: {verdict_badge(verdict)} ({_counts(primary)})"]
    line = robustness_line(i.record for i in items)
    if line:
        out.append(f"- robustness: {line}")
    if first.entry.diagnosis and not verdict.is_green:
        out.append(f"- diagnosis: {first.entry.diagnosis}")
    out += ["", "### Items", "", _items_table(items), ""]
    for title, body in (("Expectations", _expectations_table(items)), ("Headline numbers", _headline_table(items))):
        if body:
            out += [f"### {title}", "", body, ""]
    for table in paper_of(first.paper).tables_for(claim):
        out += [f"### The paper's numbers: {table.source}", "", paper_table_markdown(table), ""]
    if figure_links:
        out += ["### Figures", ""] + [line for title, link in figure_links for line in (f"![{title}]({link})", "")]
    if unplotted:
        out += ["### Other quantities (no figure kind applies; table only)", "",
                markdown_table(["item", "quantity", "dims", "shape", "mean", "min", "max"], unplotted), ""]
    return "\n".join(out)


def _distinct(items: list[ItemView], *path: str) -> str:
    values = []
    for item in items:
        value = item.stored.provenance if item.stored is not None else {}
        for key in path:
            value = value.get(key, {}) if isinstance(value, dict) else {}
        values.append(str(value) if value not in ({}, None) else "")
    return ", ".join(_unique(values)) or "—"


def environment_section(run: RunView) -> str:
    """Device, versions, commit, determinism and run time of the items in ``run``."""
    items = [i for i in run.items if i.stored is not None]
    starts = [datetime.fromisoformat(i.stored.provenance["started_at"].replace("Z", "+00:00"))
              for i in items if i.stored.provenance.get("started_at")]
    ends = [s + timedelta(seconds=i.stored.elapsed_s) for s, i in zip(starts, items)]
    rows = [["run directory", str(run.run_dir)], ["tier", run.tier], ["items", str(len(run.items))],
            ["device", _distinct(items, "device", "name")], ["torch", _distinct(items, "versions", "torch")],
            ["lcsuite", _distinct(items, "versions", "lcsuite")], ["git commit", _distinct(items, "git_commit")],
            ["threads per item", _distinct(items, "determinism", "threads")],
            ["wall time (first start to last end)", f"{(max(ends) - min(starts)).total_seconds():.1f} s" if ends else "—"],
            ["compute time (sum over items measured in this run)",
             f"{sum(i.record.elapsed_s for i in run.items if i.record.reused_from is None):.1f} s"]]
    return "## Environment\n\n" + markdown_table(["", "value"], rows) + "\n"


def _header(run: RunView) -> list[str]:
    claims = run.by_claim()
    counts = Counter(str(i.verdict) for i in run.items)
    papers = [paper_of(paper_id) for paper_id in dict.fromkeys(paper_id for paper_id, _ in claims)]
    title = papers[0].title if len(papers) == 1 else "claims of several papers"
    lines = [f"# lcsuite report: {title}", ""]
    lines += [f"Verification of {p.citation}" + (f", {p.url}" if p.url else "") + "." for p in papers] + [""]
    if run.missing:
        lines += [f"**incomplete: {len(run.items) - len(run.missing)} of {len(run.items)} items finished**; "
                  f"missing: {', '.join(i.key for i in run.missing)}", ""]
    lines += [f"Run `{run.run_dir.name}` (tier {run.tier}): {len(claims)} claims, {len(run.items)} items: "
              + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + ". "
              "Data marked [substitute] or [unverified] is not the paper's verified data set.", ""]
    return lines


def render_report(run: RunView, output: Path) -> str:
    """Write figures beside ``output`` (in ``<stem>_figures/``) and return the markdown."""
    output = Path(output)
    figures_dir = output.parent / f"{output.stem}_figures"
    for stale in figures_dir.rglob("*.png") if figures_dir.is_dir() else ():
        stale.unlink()  # figures of an earlier report at this path
    parts = _header(run) + ["## Summary", "", markdown_table(SUMMARY_HEADERS, summary_rows(run)), ""]
    for (paper, claim), items in run.by_claim().items():
        links, unplotted = claim_figures(claim, [i for i in items if i.stored is not None],
                                         figures_dir / paper / claim, output.parent, paper_of(paper))
        parts += [claim_section(claim, items, links, unplotted), ""]
    parts.append(environment_section(run))
    return "\n".join(parts)


def write_report(results_dir: str | Path, output: str | Path) -> Path:
    """Load the run named by ``results_dir`` and write its markdown report to ``output``."""
    output = Path(output)
    if output.is_dir():
        raise ResultsError(f"report output {output} is a directory; give a file name such as {output / 'report.md'}")
    run = load_run(results_dir)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_report(run, output), encoding="utf-8")
    except OSError as exc:
        raise ResultsError(f"cannot write the report to {output}: {exc.strerror or exc}") from None
    return output

