"""The code a measurement depends on: the code part of the reuse key (DECISIONS D1).

A stored measurement stays valid while the code that computed it is unchanged. That code is
found from the item's *roots*: the module that registered its experiment, the modules that
registered every registry entry the experiment used while it ran (a model or a data set named
in the claim file, a layer type the analysis met; :func:`lcsuite.registry.recording_use`), and
the harness's own measuring module (:data:`MEASURING_ROOT`: seeds, threads, quantities, the
store). From the roots, every module they import, at the top level or inside a function, is
followed, as far as it is part of lcsuite or of a root's own top-level package, and loaded in
this process. A module's parent packages count too (their ``__init__`` runs on import), but what
a parent package imports is followed only where it is imported by name: importing
``lcsuite.papers.huang2020.experiments.scaling`` runs ``lcsuite/papers/huang2020/__init__.py``,
which imports the paper's other experiments for their registrations, not for this item.

Modules that only collect, dispatch, record, judge or report (:data:`NOT_MEASUREMENT`) are left out and not
followed, so that editing a check, the claim schema, the pytest plugin or the report keeps every
stored tensor: the checks run again on every run. Another paper's modules are never reached.

The digest recorded for a module is that of the source this process loaded, not of the file as
it is when the result is written: it is taken for every loaded lcsuite module when this module is
imported and again before each item is measured (:func:`note_loaded_sources`), and for another
package's module when a manifest first names it. A module whose file has changed since
(:func:`changed_since_loaded`: an edit during a run) makes the measurement an error, never a
result stored under a digest of code that did not compute it.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from typing import Iterable

from lcsuite.harness.provenance import file_sha256

__all__ = ["MEASURING_ROOT", "NOT_MEASUREMENT", "changed_since_loaded", "code_manifest", "measuring_modules",
           "missing_exclusions", "note_loaded_sources"]

MEASURING_ROOT = "lcsuite.harness.measure"
"""The harness module that runs an experiment over its seeds and stores what it returns."""

NOT_MEASUREMENT = (
    "lcsuite.cli",
    "lcsuite.data.check",
    "lcsuite.data.staleness",
    "lcsuite.format",
    "lcsuite.pytest_plugin",
    "lcsuite.reporting",
    "lcsuite.harness.checks",
    "lcsuite.harness.executors",
    "lcsuite.harness.judge",
    "lcsuite.harness.measuring_code",
    "lcsuite.harness.papers",
    "lcsuite.harness.provenance",
    "lcsuite.harness.reuse",
    "lcsuite.harness.runner",
    "lcsuite.harness.runs",
    "lcsuite.harness.schema",
    "lcsuite.harness.session",
    "lcsuite.harness.trends",
)
"""Modules (and packages, with everything under them) that collect claim files, dispatch items,
record provenance, decide reuse, take the data inventory, judge or report: their source never
invalidates a stored measurement. Each must exist (:func:`missing_exclusions`)."""

_IMPORTS: dict[tuple[str, str], tuple[tuple[str, tuple[str, ...]], ...]] = {}


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _source_file(name: str) -> Path | None:
    """The ``.py`` file of loaded module ``name``, or None (not loaded, built in, compiled)."""
    file = getattr(sys.modules.get(name), "__file__", None)
    return Path(file).resolve() if file and str(file).endswith(".py") else None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module named by a ``from ... import`` (resolving relative dots)."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_statements(name: str, file: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every import anywhere in ``file`` (top level or in a function) as ``(module, names)``:
    ``import a.b`` is ``("a.b", ())``, ``from a import b, c`` is ``("a", ("b", "c"))``;
    memoised per file and modification."""
    stat = file.stat()
    key = (str(file), f"{stat.st_mtime_ns}:{stat.st_size}")
    if key not in _IMPORTS:
        is_package = file.name == "__init__.py"
        statements = []
        for node in ast.walk(ast.parse(file.read_bytes(), filename=str(file))):
            if isinstance(node, ast.Import):
                statements += [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                statements.append((_absolute(node, name, is_package), tuple(alias.name for alias in node.names)))
        _IMPORTS[key] = tuple(statements)
    return _IMPORTS[key]


def _imported_modules(name: str, file: Path) -> list[str]:
    """The modules ``file``'s imports load for their own sake: for ``from a import b``, ``a.b``
    when it is a module, else ``a`` (whose ``__init__`` defines or re-exports ``b``)."""
    modules = []
    for module, names in _import_statements(name, file):
        submodules = [f"{module}.{n}" for n in names]
        modules += [m for m in submodules if m in sys.modules]
        if not names or any(m not in sys.modules for m in submodules):
            modules.append(module)
    return modules


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def measuring_modules(roots: Iterable[str]) -> dict[str, Path]:
    """``{module name: source file}`` of the code a measurement made from ``roots`` depends on
    (see the module docstring), sorted by name."""
    roots = [r for r in dict.fromkeys(roots) if r]
    packages = {r.split(".")[0] for r in roots} | {"lcsuite"}
    found: dict[str, Path] = {}
    pending, seen = list(roots), set()
    while pending:
        name = pending.pop()
        if name in seen or _under(name, NOT_MEASUREMENT) or name.split(".")[0] not in packages:
            continue
        seen.add(name)
        file = _source_file(name)
        if file is None:
            continue
        found[name] = file
        pending.extend(_imported_modules(name, file))
        for parent in _parents(name):
            parent_file = _source_file(parent)
            if parent_file is not None and not _under(parent, NOT_MEASUREMENT):
                found.setdefault(parent, parent_file)
    return dict(sorted(found.items()))


_LOADED_SOURCE = "__lcsuite_loaded_sha256__"
"""The attribute of a loaded module that holds the sha256 of the source it was loaded from (a
module imported again is a new object, without it)."""


def _loaded_sha256(name: str, file: Path) -> str:
    module = sys.modules[name]
    digest = getattr(module, _LOADED_SOURCE, None)
    if digest is None:
        digest = file_sha256(file)
        setattr(module, _LOADED_SOURCE, digest)
    return digest


def note_loaded_sources(package: str = "lcsuite") -> None:
    """Record the source digest of every loaded module of ``package`` that has none yet."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        file = _source_file(name)
        if file is not None:
            _loaded_sha256(name, file)


def code_manifest(roots: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{module name: {"file": path, "sha256": digest of the source loaded}}`` of
    :func:`measuring_modules` of ``roots`` plus :data:`MEASURING_ROOT`."""
    modules = measuring_modules([MEASURING_ROOT, *roots])
    return {name: {"file": str(file), "sha256": _loaded_sha256(name, file)} for name, file in modules.items()}


def changed_since_loaded(manifest: dict[str, dict[str, str]]) -> list[str]:
    """The modules of ``manifest`` whose file on disk is no longer the source that was loaded."""
    changed = []
    for name, entry in manifest.items():
        try:
            now = file_sha256(entry["file"])
        except OSError:
            now = None
        if now != entry["sha256"]:
            changed.append(name)
    return changed


def missing_exclusions() -> list[str]:
    """Entries of :data:`NOT_MEASUREMENT` that name no module of lcsuite (stale entries)."""
    missing = []
    for name in NOT_MEASUREMENT:
        try:
            found = importlib.util.find_spec(name)
        except ImportError:
            found = None
        if found is None:
            missing.append(name)
    return missing


note_loaded_sources()
