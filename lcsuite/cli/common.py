"""What every command shares: exit codes and writing an output file."""

from __future__ import annotations

from pathlib import Path

from lcsuite.reporting.loading import ResultsError

__all__ = ["EXIT_OK", "EXIT_REGRESSION", "EXIT_USAGE", "EXIT_NO_DATA", "write_text"]

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2
EXIT_NO_DATA = 1  # data check: the folders given hold nothing usable


def write_text(path: Path, text: str) -> None:
    """Write an output file; a directory given as the file is a one-line error."""
    if path.is_dir():
        raise ResultsError(f"{path} is a directory; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
