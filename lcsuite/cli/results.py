"""Commands on runs: ``report``, ``compare``, ``list``, ``run``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from lcsuite.cli.common import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, write_text
from lcsuite.harness.enums import TIER_NAMES as TIERS
from lcsuite.reporting.compare import DEFAULT_RTOL
from lcsuite.reporting.loading import ResultsError


def cmd_report(args) -> int:
    from lcsuite.reporting.report import write_report

    output = write_report(args.results_dir, args.output)
    print(f"report written to {output} (figures in {output.parent / (output.stem + '_figures')})")
    return EXIT_OK


def cmd_compare(args) -> int:
    from tabulate import tabulate

    from lcsuite.reporting.compare import compare_dirs, render_comparison, summary_line

    comparison = compare_dirs(args.baseline_dir, args.new_dir, args.rtol, args.tolerance_file)
    rows = [[c.key, c.old, c.new, c.kind] for c in comparison.verdict_changes]
    rows += [[key, "—", "—", f"planned, missing in {side}"] for key, side in comparison.missing]
    rows += [[d.path, d.old, d.new, f"drift {d.drift:.3g} > {d.tolerance:.3g}"]
             for d in comparison.drift_regressions]
    rows += [[k, "planned", "not planned", "plans differ"] for k in comparison.plan_only_baseline]
    rows += [[k, "not planned", "planned", "plans differ"] for k in comparison.plan_only_new]
    print(f"compared {comparison.matched} items ({len(comparison.drifts)} numbers), "
          f"baseline {comparison.baseline_dir} -> new {comparison.new_dir}")
    if rows:
        print(tabulate(rows, headers=["item / path", "baseline", "new", "finding"]))
    if args.output:
        write_text(Path(args.output), render_comparison(comparison))
        print(f"comparison written to {args.output}")
    print(summary_line(comparison))
    return EXIT_REGRESSION if comparison.has_regression else EXIT_OK


def load_claims(claims_dir: Path) -> list:
    """The claim files in ``claims_dir``, recognised as pytest recognises them (DECISIONS D9:
    top-level ``id`` and ``experiment`` and an ``[[expect]]``; other TOML files are ignored),
    through the harness's claim loader."""
    from lcsuite.harness.schema import ClaimError, load_claim
    from lcsuite.harness.session import is_claim_file

    if not claims_dir.is_dir():
        raise ResultsError(f"claims directory not found: {claims_dir}")
    files = [f for f in sorted(claims_dir.glob("*.toml")) if is_claim_file(f)]
    if not files:
        raise ResultsError(f"no claim files in {claims_dir} (a claim file is a .toml with top-level id and "
                           "experiment and at least one [[expect]])")
    try:
        # The experiment registry is not consulted: listing must work without importing
        # every experiment; `pytest claims/` reports unknown experiments.
        return [load_claim(f, display=f.name, check_experiment=False) for f in files]
    except ClaimError as exc:
        raise ResultsError(str(exc).splitlines()[0]) from None


def tier_items(claim, tier: str) -> str:
    """``"<items> × <seeds> seeds"`` for a tier the claim defines, else ``"—"``; the items are
    every item pytest collects, variants included (``"4 (2 variant) × 5 seeds"``)."""
    if tier not in claim.tiers:
        return "—"
    primary, every = len(claim.items(tier)), len(claim.all_items(tier))
    count = f"{every} ({every - primary} variant)" if every > primary else str(every)
    return f"{count} × {len(claim.tiers[tier].seeds)} seeds"


def cmd_list(args) -> int:
    from tabulate import tabulate

    claims = load_claims(Path(args.claims))
    rows = [[c.id, c.paper, c.ref, *(tier_items(c, t) for t in TIERS)] for c in claims]
    print(tabulate(rows, headers=["claim", "paper", "ref", *(f"items ({t})" for t in TIERS)]))
    totals = [sum(len(c.all_items(t)) for c in claims if t in c.tiers) for t in TIERS]
    print(f"{len(claims)} claims; items per tier: "
          + ", ".join(f"{t} {n}" for t, n in zip(TIERS, totals)))
    return EXIT_OK


def pytest_command(args) -> list[str]:
    """The ``pytest claims/`` command line for ``lcsuite run``'s options."""
    command = [sys.executable, "-m", "pytest", str(args.claims), "--lc-results", str(args.results)]
    if args.tier:
        command += ["--lc-tier", args.tier]
    if args.n is not None:
        command += ["-n", str(args.n)]
    if args.rerun:
        command.append("--lc-rerun")
    if args.data:
        command += ["--lc-data", str(args.data)]
    if args.run_id:
        command += ["--lc-run-id", args.run_id]
    if args.reuse_from:
        command += ["--lc-reuse-from", str(args.reuse_from)]
    if args.allow_unverified:
        command.append("--lc-allow-unverified")
    return command


def cmd_run(args) -> int:
    from lcsuite.harness.runs import new_run_id, validate_run_id
    from lcsuite.reporting.report import write_report

    # The run id is fixed here, so the report is of this run even if pytest stops early.
    args.run_id = validate_run_id(args.run_id) if args.run_id else new_run_id()
    command = pytest_command(args)
    print("running:", " ".join(command), flush=True)
    returncode = subprocess.call(command)
    run_dir = Path(args.results) / args.run_id
    if not run_dir.is_dir():
        print(f"error: pytest exited with {returncode} and left no run in {args.results}",
              file=sys.stderr)
        return returncode or EXIT_USAGE
    print(f"results: {run_dir}")
    report = Path(args.report) if args.report else run_dir / "report.md"
    try:
        write_report(run_dir, report)
        print(f"report: {report}")
    except ResultsError as exc:
        print(f"no report: {exc}", file=sys.stderr)
    return returncode


def _positive_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def add_parsers(sub) -> None:
    """The ``report``, ``compare``, ``list`` and ``run`` subcommands."""
    p = sub.add_parser("report", help="markdown report with figures of one stored run")
    p.add_argument("results_dir", metavar="RESULTS_DIR",
                   help="a run directory, or a results root whose LATEST names the run")
    p.add_argument("-o", "--output", default="report.md",
                   help="report file (default report.md); figures go to <stem>_figures/ beside it")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("compare", help="verdict changes, missing items and numeric drift between two runs",
                       description="Exit 1 on a regression (a verdict got worse, a planned item is missing, "
                                   "or drift beyond tolerance), 2 when the runs cannot be compared, 0 otherwise.")
    p.add_argument("baseline_dir", metavar="BASELINE_DIR")
    p.add_argument("new_dir", metavar="NEW_DIR")
    p.add_argument("--rtol", type=_positive_float, default=DEFAULT_RTOL,
                   help="default relative tolerance for drift (default 0.1)")
    p.add_argument("--tolerance-file", metavar="FILE",
                   help="TOML: 'default = x' and a [paths] table of fnmatch pattern = rtol")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the comparison as markdown")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("list", help="claims, paper references and item counts per tier")
    p.add_argument("--claims", default="claims", metavar="DIR", help="claim files (default claims/)")
    p.set_defaults(func=cmd_list)
    _add_run_parser(sub)


def _add_run_parser(sub) -> None:
    p = sub.add_parser("run", help="run the claims with pytest, then write the report")
    p.add_argument("--tier", choices=TIERS, help="default: the harness's (gpu with CUDA, else smoke)")
    p.add_argument("--results", default="results", metavar="DIR", help="results root (default results/)")
    p.add_argument("-n", type=int, metavar="N", help="pytest-xdist workers")
    p.add_argument("--rerun", action="store_true", help="rerun items even when results can be reused")
    p.add_argument("--data", metavar="DIR", help="data root (default $LCSUITE_DATA)")
    p.add_argument("--claims", default="claims", metavar="DIR", help="claim files (default claims/)")
    p.add_argument("--run-id", metavar="ID", help="run id (default: a fresh timestamped id); an existing run is resumed")
    p.add_argument("--reuse-from", metavar="RUN", help="copy the valid results of another run (its id or folder)")
    p.add_argument("--allow-unverified", action="store_true",
                   help="let claims that require real data run on unverified files (recorded)")
    p.add_argument("--report", metavar="FILE", help="report path (default <run dir>/report.md)")
    p.set_defaults(func=cmd_run)
