"""Every ``lcsuite.x.y`` name written in lcsuite's source (docstrings, comments, messages) and in
the docs names something that exists: a module, or an attribute of one (``[tool.lcsuite.slurm]``
and the entry point groups are not such names)."""

import importlib
import re
from pathlib import Path

import lcsuite
from lcsuite.registry import GROUPS

ROOT = Path(lcsuite.__file__).resolve().parents[1]
DOTTED = re.compile(r"(?<![\w.])lcsuite(?:\.[A-Za-z_]\w*)+")
NOT_MODULES = set(GROUPS)
"""The entry point groups: names, not modules."""



def _exists(name: str) -> bool:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for attribute in parts[end:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def _mentions() -> set[tuple[str, str]]:
    files = [*sorted((ROOT / "lcsuite").rglob("*.py")), *sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    mentions = set()
    for file in files:
        for name in DOTTED.findall(file.read_text(encoding="utf-8")):
            if not name.endswith((".py", ".toml", ".md", ".h5")) and name not in NOT_MODULES:
                mentions.add((str(file.relative_to(ROOT)), name))
    return mentions


def test_every_dotted_lcsuite_name_exists():
    missing = sorted(mention for mention in _mentions() if not _exists(mention[1]))
    assert not missing, missing


def test_the_check_finds_a_name_that_does_not_exist():
    assert _exists("lcsuite.harness.store.read_item") and _exists("lcsuite.data.DATASETS")
    assert not _exists("lcsuite.harness.table") and not _exists("lcsuite.harness.store.iter_run")
