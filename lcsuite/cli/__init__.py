"""The ``lcsuite`` command line: report, compare, list, run, status, collect, data, doctor.

Exit codes (the README's table): 0 success; 1 a regression or a planned item missing
(``compare``), contradicted or failed claims (``run``, ``collect``, as pytest); 2 a usage
problem, runs that cannot be compared (different tiers, schema) or a missing, empty or
unreadable results directory (one line on stderr, never a traceback); ``run`` and ``collect``
pass on pytest's status (6: an item errored); ``data check``: 0 usable data found, 1 the
folders given hold nothing usable, 2 usage.
"""

from __future__ import annotations

import argparse
import subprocess  # noqa: F401  (the commands' subprocess module, patched by the tests)
import sys

import lcsuite
from lcsuite.cli import cluster, data, doctor, results
from lcsuite.cli.common import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE
from lcsuite.cli.results import pytest_command
from lcsuite.harness.runs import RunError
from lcsuite.reporting.loading import ResultsError

__all__ = ["main", "build_parser", "pytest_command", "EXIT_OK", "EXIT_REGRESSION", "EXIT_USAGE"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcsuite",
        description="Layer-wise conditioning analysis and claim verification: run claims, report, compare runs.",
    )
    parser.add_argument("--version", action="version", version=f"lcsuite {lcsuite.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (results, cluster, data, doctor):
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``lcsuite`` command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return args.func(args)
    except (ResultsError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
