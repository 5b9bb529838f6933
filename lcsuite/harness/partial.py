"""The seeds an unfinished item has measured, kept so that measuring it again resumes from them.

An item runs its seeds one after the other (:mod:`lcsuite.harness.measure`). After each seed
that ends without error, except the last, the seeds finished so far are written atomically to
``<item>.h5.partial`` beside the item's result file (:func:`partial_file`). The file is in the
store's format (:mod:`lcsuite.harness.store`) with ``status = "partial"``: the quantities
stacked over the finished seeds, their provenance and the reuse key, as a result would hold
them. It never passes for a result: its name does not end in ``.h5``, and judging one is an
error.

When the item is measured again in the same run (a Slurm requeue after a time limit or a
preemption, a resumed run after a killed worker), :func:`load_partial` takes the partial's seeds
only where a stored result would be reused (:func:`lcsuite.harness.reuse.reuse_problems`: the
same spec, the same source of every measurement module it recorded, the same library versions,
device kind and data), and only the other seeds are run; any other partial is ignored, and the
item's note says why. Each seed is seeded on its own before its call
(:func:`lcsuite.harness.determinism.seed_all`), so a resumed item stores the same tensors, bit
for bit, as an uninterrupted one. The partial is removed once the item's complete result is
stored; beside an error result it stays, so that measuring the item again resumes from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lcsuite.harness.enums import MeasurementStatus
from lcsuite.harness.quantities import SEED, Quantity
from lcsuite.harness.reuse import reuse_problems
from lcsuite.harness.runs import item_file
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import CorruptResult, StoredItem, read_item

__all__ = ["PARTIAL_SUFFIX", "Resumed", "partial_file", "load_partial", "discard_partial"]

PARTIAL_SUFFIX = ".partial"


def partial_file(run_dir: Path, key: str) -> Path:
    """``<run>/<paper>/<claim>/<item>.h5.partial``, beside the item's result file."""
    path = item_file(run_dir, key)
    return path.with_name(path.name + PARTIAL_SUFFIX)


@dataclass
class Resumed:
    """What a usable partial gives a new attempt (nothing when there is none).

    Attributes:
        per_seed: the finished seeds' quantities, in seed order (dims without ``seed``).
        timings: seconds per finished seed (``{str(seed): s}``), as first measured.
        data: the data sets those seeds read (provenance entries).
        elapsed_s: the wall-clock seconds of the attempts that measured them.
        code: the partial's code manifest (checked against the source on disk; its entries stay
            in the result's manifest).
        note: for the item's verdict: which seeds were resumed, or why a partial was ignored.
    """

    per_seed: list[dict[str, Quantity]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    data: list[dict] = field(default_factory=list)
    elapsed_s: float = 0.0
    note: str = ""
    code: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        """How many of the item's seeds, from its first, are resumed."""
        return len(self.per_seed)


def _seed_list(seeds) -> str:
    return ", ".join(str(s) for s in seeds)


def _unstacked(stored: StoredItem) -> list[dict[str, Quantity]] | None:
    """The stored quantities split into one dict per finished seed; None when malformed."""
    count = len(stored.provenance.get("seeds_measured", []))
    if not count or list(stored.spec.seeds[:count]) != list(stored.provenance["seeds_measured"]):
        return None
    if any(q.dims[:1] != (SEED,) or q.values.shape[0] != count for q in stored.quantities.values()):
        return None
    return [{path: Quantity(np.asarray(q.values[index, ...]), q.dims[1:], q.timing)
             for path, q in stored.quantities.items()} for index in range(count)]


def _ignored(path: Path, reasons: list[str]) -> Resumed:
    try:
        seeds = f" (seeds {_seed_list(read_item(path).provenance.get('seeds_measured', []))})"
    except CorruptResult:
        seeds = ""
    return Resumed(note=f"ignored the partial measurement{seeds} in {path.name}: {'; '.join(reasons)}")


def load_partial(path: Path, spec: ItemSpec, device: str, data_root: Path | None) -> Resumed:
    """The finished seeds of the partial at ``path``, when it may stand in for them (see the
    module docstring); else an empty :class:`Resumed` whose ``note`` says why it was ignored."""
    path = Path(path)
    if not path.exists():
        return Resumed()
    stored, reasons = reuse_problems(path, spec, device, data_root)
    if stored is not None and stored.status is not MeasurementStatus.PARTIAL:
        stored, reasons = None, [f"status {stored.status}, not a partial measurement"]
    per_seed = _unstacked(stored) if stored is not None else None
    if stored is not None and per_seed is None:
        reasons = ["its seeds do not match the item's"]
    if per_seed is None:
        return _ignored(path, reasons)
    seeds = stored.spec.seeds[: len(per_seed)]
    return Resumed(per_seed, {str(s): float(stored.provenance.get("timings", {}).get(str(s), 0.0)) for s in seeds},
                   stored.data, stored.elapsed_s,
                   f"resumed seeds {_seed_list(seeds)} from the partial measurement of {stored.provenance.get('job')}",
                   dict(stored.provenance.get("code", {})))


def discard_partial(path: Path) -> bool:
    """Remove the partial at ``path``; True when there was one."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True
