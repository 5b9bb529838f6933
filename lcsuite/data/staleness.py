"""Would the data a stored measurement read be read again now? (the data part of reuse)

A stored provenance entry names the folder read (or ``substitute``) and, per file, its name
relative to that folder and its sha256. It is stale when:

- a file it lists is gone or its bytes changed: for every data set that lists files, lcsuite's
  own and those plugins register in :data:`lcsuite.data.DATASETS` alike;
- for lcsuite's own data sets (MNIST, CIFAR-10/100, whose folders the code knows how to find),
  resolving the same data set now, with the current data folders, would read another folder,
  or real data where a substitute was used.

An entry that lists no files and is none of lcsuite's data sets is synthetic: the item's spec
and seeds determine it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from lcsuite.data.cifar import cifar_folder_in
from lcsuite.data.digests import file_digests
from lcsuite.data.mnist import locate_mnist
from lcsuite.data.resolve import candidate_roots

__all__ = ["stale_data_reasons", "current_source"]

STANDS_FOR = {"digits (MNIST substitute)": "mnist", "cifar10-shaped synthetic (CIFAR substitute)": "cifar10",
              "cifar100-shaped synthetic (CIFAR substitute)": "cifar100"}
"""The real data set each substitute stands in for."""

LOCATED = ("mnist", "cifar10", "cifar100")
"""The data sets whose folder :func:`current_source` finds."""


def current_source(name: str, split: str, roots: list[Path]) -> str | None:
    """The folder the loaders would read ``name``/``split`` from now (resolved), or None."""
    if name == "mnist":
        located = locate_mnist(roots, split) or locate_mnist(roots, "test" if split == "train" else "train")
        folder = located.folder if located is not None else None
    elif name in ("cifar10", "cifar100"):
        folder = cifar_folder_in(roots, int(name[5:]))
    else:
        return None
    return str(Path(folder).resolve()) if folder is not None else None


def _file_reasons(entry: Mapping[str, Any]) -> list[str]:
    reasons = []
    for record in entry.get("files") or ():
        path = Path(str(entry.get("source", ""))) / str(record.get("name", ""))
        if not path.is_file():
            reasons.append(f"data file {path} is gone")
        elif file_digests(path).sha256 != record.get("sha256"):
            reasons.append(f"data file {path} changed (sha256)")
    return reasons


def stale_data_reasons(entry: Mapping[str, Any], data_root=None) -> list[str]:
    """Why ``entry`` (a stored data provenance) would not be read again now; empty if it would."""
    name = str(entry.get("name", ""))
    real_name = STANDS_FOR.get(name, name)
    if real_name not in LOCATED:
        return _file_reasons(entry)
    recorded = None if entry.get("substitute") else str(Path(str(entry.get("source", ""))).resolve())
    now = current_source(real_name, str(entry.get("split", "train")), candidate_roots(data_root))
    reasons = []
    if now != recorded:
        reasons.append(f"{real_name} was read from {recorded or 'its substitute'}, now resolves to "
                       f"{now or 'its substitute'}")
    return reasons + _file_reasons(entry)
