"""A run directory: its plan, its items' result files and its verdicts.

Layout (schema_version 2)::

    <results>/<run-id>/run.json                              run id, tier, schema, plan
    <results>/<run-id>/<paper>/<claim>/<item>.h5             measurement (lcsuite.harness.store)
    <results>/<run-id>/<paper>/<claim>/<item>.verdict.json   this run's judgement of it
    <results>/LATEST                                         the most recently started run id

The plan (written when a run starts, and extended when a resumed run plans more items) lists
every planned item with its spec; an item planned but without a verdict is *missing*. A run has
one tier: resuming it at another tier is refused. Run ids are validated (no path separators).
Verdicts are judged afresh by every run from the stored tensors (DECISIONS D1).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from lcsuite.harness.enums import Verdict
from lcsuite.harness.spec import ItemSpec, split_key
from lcsuite.harness.atomic import TEMP_SUFFIX, atomic_write_path
from lcsuite.harness.store import SCHEMA_VERSION

__all__ = [
    "RunError",
    "RunInfo",
    "PlanEntry",
    "VerdictRecord",
    "RUN_FILE",
    "LATEST_FILE",
    "validate_run_id",
    "new_run_id",
    "open_run",
    "read_run",
    "add_to_plan",
    "item_file",
    "verdict_file",
    "write_verdict",
    "read_verdict",
    "clean_stale_temps",
    "latest_run",
    "resolve_run_dir",
    "missing_record",
    "run_records",
]

RUN_FILE = "run.json"
LATEST_FILE = "LATEST"
VERDICT_SUFFIX = ".verdict.json"
STALE_TEMP_AGE_S = 3600.0
"""A temporary file older than this belongs to a writer that died (writes take seconds)."""

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RunError(Exception):
    """A run directory or run id that cannot be used; the message is one line for the user."""


def validate_run_id(run_id: str) -> str:
    """``run_id`` if it is a plain name (letters, digits, ``.``, ``_``, ``-``); else RunError."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise RunError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' "
                       "(no path separators, at most 100 characters, not starting with '.')")
    return run_id


def new_run_id() -> str:
    """A fresh, sortable run id: ``YYYYmmdd-HHMMSS-<6 hex>`` in UTC."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass
class PlanEntry:
    """One planned item: its spec, the claim's words (shown even when it never finished), the
    claim file it came from (to judge the run again: ``lcsuite collect``) and the claim's
    diagnosis at the run's tier (shown when it is not green)."""

    spec: ItemSpec
    ref: str = ""
    statement: str = ""
    source: str = ""
    diagnosis: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "ref": self.ref, "statement": self.statement, "source": self.source,
                "diagnosis": self.diagnosis}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PlanEntry":
        return cls(ItemSpec.from_dict(data["spec"]), data.get("ref", ""), data.get("statement", ""),
                   data.get("source", ""), data.get("diagnosis", ""))


@dataclass
class RunInfo:
    """``run.json``: the run's identity, tier and plan (``{key: PlanEntry}``)."""

    run_dir: Path
    run_id: str
    tier: str
    created_at: str
    schema_version: int = SCHEMA_VERSION
    plan: dict[str, PlanEntry] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tier": self.tier, "created_at": self.created_at,
                "schema_version": self.schema_version,
                "plan": {key: entry.to_dict() for key, entry in sorted(self.plan.items())}}


@dataclass
class VerdictRecord:
    """One item's judgement in one run (``<item>.verdict.json``), JSON-serialisable.

    ``expectations`` holds one dict per ``[[expect]]``: ``name``, ``check``, ``description``,
    ``verdict``, ``expected``, ``measured``, ``where`` (and ``rule``: the statistical rule's
    numbers where there is one). ``data`` holds the data sets' labels; ``reused_from`` the run
    whose result was reused (``None`` when measured in this run); ``note`` why a stored result
    was not reused; ``variant`` the protocol variant (``None``: primary) and ``label`` how its
    protocol reads in the claim's robustness line.
    """

    key: str
    tier: str
    verdict: str
    message: str
    ref: str = ""
    statement: str = ""
    expectations: list[dict[str, Any]] = field(default_factory=list)
    headline: dict[str, float] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    reused_from: str | None = None
    note: str = ""
    judged_at: str = ""
    variant: str | None = None
    label: str = ""

    @property
    def paper(self) -> str:
        return split_key(self.key)[0]

    @property
    def claim(self) -> str:
        return split_key(self.key)[1]

    @property
    def item(self) -> str:
        return split_key(self.key)[2]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VerdictRecord":
        return cls(**data)


def _write_text(path: Path, text: str) -> None:
    with atomic_write_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_json(path: Path, value: Any) -> None:
    _write_text(path, json.dumps(value, indent=1, sort_keys=True, default=str))


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot read the {what} ({type(exc).__name__}: {exc})") from None


def read_run(run_dir: Path) -> RunInfo:
    """The run's ``run.json``; RunError when it is missing, unreadable or of another schema."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    data = _read_json(path, "run file")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RunError(f"{run_dir}: results schema_version {version!r}; this lcsuite reads "
                       f"{SCHEMA_VERSION} (rerun the claims to regenerate the run)")
    try:
        plan = {key: PlanEntry.from_dict(entry) for key, entry in data.get("plan", {}).items()}
        return RunInfo(run_dir, data["run_id"], data["tier"], data["created_at"], version, plan)
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{path}: malformed run file ({type(exc).__name__}: {exc})") from None


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".run.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_run(results_dir: Path, run_id: str, tier: str) -> RunInfo:
    """Create the run ``run_id`` at ``tier``, or open it to resume (same tier only).

    Writes ``<results>/LATEST``. Raises RunError for an invalid id, a run of another tier or
    schema.
    """
    run_dir = Path(results_dir) / validate_run_id(run_id)
    with _locked(run_dir):
        if (run_dir / RUN_FILE).exists():
            info = read_run(run_dir)
            if info.tier != tier:
                raise RunError(f"run {run_id} is a {info.tier}-tier run; resume it with --lc-tier "
                               f"{info.tier}, or start a new run id for tier {tier}")
        else:
            info = RunInfo(run_dir, run_id, tier, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            _write_json(run_dir / RUN_FILE, info.to_dict())
    _write_text(Path(results_dir) / LATEST_FILE, run_id + "\n")
    return info


def add_to_plan(run_dir: Path, entries: Iterable[PlanEntry]) -> RunInfo:
    """Add (or update) planned items in ``run.json``, under a lock; returns the new run info."""
    run_dir = Path(run_dir)
    with _locked(run_dir):
        info = read_run(run_dir)
        for entry in entries:
            info.plan[entry.spec.key] = entry
        _write_json(run_dir / RUN_FILE, info.to_dict())
    return info


def _item_stem(run_dir: Path, key: str) -> Path:
    paper, claim, item = split_key(key)
    safe = item.replace("/", "_").replace(os.sep, "_")
    return Path(run_dir) / paper / claim / safe


def item_file(run_dir: Path, key: str) -> Path:
    """``<run>/<paper>/<claim>/<item>.h5``."""
    stem = _item_stem(run_dir, key)
    return stem.with_name(stem.name + ".h5")


def verdict_file(run_dir: Path, key: str) -> Path:
    """``<run>/<paper>/<claim>/<item>.verdict.json``."""
    stem = _item_stem(run_dir, key)
    return stem.with_name(stem.name + VERDICT_SUFFIX)


def write_verdict(run_dir: Path, record: VerdictRecord) -> Path:
    """Store this run's verdict of one item (atomic)."""
    path = verdict_file(run_dir, record.key)
    _write_json(path, record.to_dict())
    return path


def read_verdict(run_dir: Path, key: str) -> VerdictRecord | None:
    """The item's verdict in this run, or None when it was never judged."""
    path = verdict_file(run_dir, key)
    if not path.is_file():
        return None
    try:
        return VerdictRecord.from_dict(_read_json(path, "verdict file"))
    except TypeError as exc:
        raise RunError(f"{path}: malformed verdict file ({exc})") from None


def clean_stale_temps(run_dir: Path, max_age_s: float = STALE_TEMP_AGE_S, now: float | None = None) -> list[Path]:
    """Delete temporary files of writers that died (older than ``max_age_s``); returns them.

    Judged by age alone, never by process id (ids mean nothing across the nodes of a cluster).
    """
    now = time.time() if now is None else now
    removed = []
    for path in Path(run_dir).rglob(f".*{TEMP_SUFFIX}"):
        try:
            if now - path.stat().st_mtime > max_age_s:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue
    return removed


def latest_run(results_dir: Path) -> Path | None:
    """The directory named by ``<results>/LATEST`` if it exists, else the newest run folder."""
    results_dir = Path(results_dir)
    try:
        run_id = (results_dir / LATEST_FILE).read_text().strip()
    except OSError:
        run_id = ""
    if run_id and (results_dir / run_id / RUN_FILE).is_file():
        return results_dir / run_id
    runs = sorted(p.parent for p in results_dir.glob(f"*/{RUN_FILE}"))
    return runs[-1] if runs else None


def resolve_run_dir(path: str | Path) -> Path:
    """A run directory itself, or a results root's latest run; RunError otherwise."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"results directory not found: {path}")
    if not path.is_dir():
        raise RunError(f"not a directory: {path}")
    if (path / RUN_FILE).is_file():
        return path
    run_dir = latest_run(path)
    if run_dir is None:
        raise RunError(f"no runs in {path} (expected <run-id>/{RUN_FILE})")
    return run_dir


def missing_record(entry: PlanEntry, tier: str) -> VerdictRecord:
    """The record shown for a planned item that has no verdict in the run."""
    return VerdictRecord(entry.spec.key, tier, str(Verdict.MISSING), "planned, but never finished in this run",
                         entry.ref, entry.statement)


def run_records(info: RunInfo, keys: Iterable[str] | None = None) -> list[VerdictRecord]:
    """The verdict of each planned item (``keys``: a subset; default all), missing ones included."""
    records = []
    for key in sorted(info.plan if keys is None else keys):
        record = read_verdict(info.run_dir, key)
        records.append(record if record is not None else missing_record(info.plan[key], info.tier))
    return records
