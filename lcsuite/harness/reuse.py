"""When a stored measurement may stand in for a new one (DECISIONS D1).

Reuse happens only when asked: resuming a run (same run id: its finished items are kept) or
``--lc-reuse-from RUN`` (that run's items are copied in, never linked). A stored item is reused
only when every part of its reuse key still holds: it is readable and passes its checksums, it
ended without error, its spec is the item's spec, the libraries and the device kind are the
same, the source of every measurement module it recorded is unchanged, and the data it read
would be read again, with the same digests. Otherwise it is measured again, and the verdict
says why (``note``). Reused items are always judged again.
"""

from __future__ import annotations

from pathlib import Path

from lcsuite.harness import provenance as prov
from lcsuite.harness.enums import MeasurementStatus
from lcsuite.harness.experiments import get_experiment
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import CorruptResult, StoredItem, copy_item, read_item
from lcsuite.registry import UnknownName

__all__ = ["reuse_problems", "find_reusable"]


def _data_problems(stored: StoredItem, data_root: Path | None) -> list[str]:
    from lcsuite.data import stale_data_reasons

    problems = []
    for entry in stored.data:
        problems.extend(stale_data_reasons(entry, data_root))
    return problems


def _import_experiment(name: str) -> None:
    try:
        get_experiment(name)
    except UnknownName:
        pass  # the recorded module's source is then not found: not reused, measured (and errs) again


def reuse_problems(path: Path, spec: ItemSpec, device: str, data_root: Path | None) -> tuple[StoredItem | None, list[str]]:
    """``(stored, [])`` when the file at ``path`` may be reused for ``spec``, else ``(None, reasons)``."""
    if not Path(path).exists():
        return None, ["no stored result"]
    try:
        stored = read_item(path)
    except CorruptResult as exc:
        return None, [str(exc)]
    if stored.status is MeasurementStatus.ERROR:
        return None, ["the stored measurement ended in an error"]
    if stored.spec.spec_hash() != spec.spec_hash():
        return None, ["the item's spec changed"]
    _import_experiment(spec.experiment)  # its modules' current source is compared below
    device_kind = prov.device_description(device)["kind"]
    reasons = prov.stale_reasons(stored.provenance, prov.library_versions(), device_kind)
    reasons += _data_problems(stored, data_root)
    return (None, reasons) if reasons else (stored, [])


def find_reusable(candidates: list[tuple[str, Path]], target: Path, spec: ItemSpec, device: str,
                  data_root: Path | None) -> tuple[StoredItem | None, str | None, str]:
    """The first reusable candidate ``(run id, file)``, copied to ``target`` if elsewhere.

    Returns ``(stored, run id it came from, note)``; ``stored`` is None when nothing can be
    reused, and ``note`` then says why each candidate that existed was not.
    """
    notes = []
    for run_id, path in candidates:
        stored, reasons = reuse_problems(path, spec, device, data_root)
        if stored is not None:
            if Path(path).resolve() != Path(target).resolve():
                stored = copy_item(path, target)
            return stored, run_id, ""
        if reasons != ["no stored result"]:
            notes.append(f"not reused from run {run_id}: {'; '.join(reasons)}")
    return None, None, "; ".join(notes)
