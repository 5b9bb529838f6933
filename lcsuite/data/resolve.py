"""Find the real data set or fall back to a labelled substitute, as the claims' tiers require.

Search order: the explicit ``root`` (when given), then every folder in the environment variable
``LCSUITE_DATA`` (``os.pathsep``-separated). Nothing else: lcsuite never reads data from a
place the user did not name.

Tiers (see CLAIMS.md): ``smoke`` and ``gpu`` use real data when found, else the substitute
(provenance ``substitute=True``); ``paper`` requires the real data and raises
:class:`DataNotFoundError` naming the folders searched. A file that is found but unreadable
always raises :class:`CorruptDataError` (no fallback hides it).

When only the other split of a real data set is present (e.g. the MNIST test set alone, as on
CI), smoke/gpu use that split; the provenance says ``split="test"`` and the note explains.
"""

from __future__ import annotations

import os
from pathlib import Path

from lcsuite.data.cifar import CIFAR_LAYOUT, cifar_folder_in, load_cifar
from lcsuite.data.dataset import DataNotFoundError, Dataset
from lcsuite.data.download import download_cifar, download_mnist
from lcsuite.data.mnist import find_mnist, load_mnist
from lcsuite.data.substitutes import cifar_substitute, digits_substitute

__all__ = ["ENV_VAR", "TIERS", "candidate_roots", "describe_data", "resolve_cifar", "resolve_mnist"]

ENV_VAR = "LCSUITE_DATA"
TIERS = ("smoke", "gpu", "paper")


def candidate_roots(root=None) -> list[Path]:
    """Folders searched, in order: ``root``, then each entry of ``$LCSUITE_DATA``."""
    roots = [Path(root)] if root is not None else []
    roots += [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return roots


def _check_tier(tier: str) -> None:
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")


def _other(split: str) -> str:
    return "test" if split == "train" else "train"


def _download_root(roots) -> Path:
    if not roots:
        raise DataNotFoundError(f"download requested but no data folder is named: give root or set ${ENV_VAR}")
    roots[0].mkdir(parents=True, exist_ok=True)
    return roots[0]


def _searched(roots) -> str:
    return ", ".join(str(r) for r in roots) if roots else f"nothing (no root given, ${ENV_VAR} unset)"


def resolve_mnist(
    root=None,
    tier: str = "smoke",
    split: str = "train",
    image_size: int | None = None,
    crop: int | None = None,
    standardize: bool | tuple[float, float] = False,
    limit: int | None = None,
    download: bool = False,
) -> Dataset:
    """MNIST ``split`` if found (see module docstring), else scikit-learn's digits.

    ``image_size``/``crop``/``standardize``/``limit`` as in :func:`lcsuite.data.load_mnist`;
    the digits substitute keeps 8x8 unless ``image_size`` is given. ``download=True`` fetches
    MNIST into the first searched folder when the split is missing (never the default).
    """
    _check_tier(tier)
    roots = candidate_roots(root)
    options = dict(image_size=image_size, crop=crop, standardize=standardize, limit=limit)
    for folder in roots:
        if find_mnist(folder, split):
            return load_mnist(folder, split, **options)
    if download:
        folder = _download_root(roots)
        download_mnist(folder)
        return load_mnist(folder, split, **options)
    if tier == "paper":
        raise DataNotFoundError(
            f"tier 'paper' needs real MNIST ({split} split); searched {_searched(roots)}. "
            f"Point root or ${ENV_VAR} at a folder with the IDX files "
            "(lcsuite.data.download_mnist(root) fetches them)."
        )
    for folder in roots:
        if find_mnist(folder, _other(split)):
            data = load_mnist(folder, _other(split), **options)
            data.provenance = data.provenance.with_note(
                f"MNIST {split} split not found; the {_other(split)} split is used in its place"
            )
            return data
    data = digits_substitute(split, image_size=image_size, standardize=standardize, limit=limit)
    data.provenance = data.provenance.with_note(f"MNIST not found; searched {_searched(roots)}")
    return data


def resolve_cifar(
    root=None,
    tier: str = "smoke",
    num_classes: int = 10,
    split: str = "train",
    normalize: bool = True,
    limit: int | None = None,
    substitute_size: int | None = None,
    seed: int = 0,
    download: bool = False,
) -> Dataset:
    """CIFAR-10/100 ``split`` if found, else :func:`cifar_substitute` (``substitute_size``
    examples, default 5000/1000, templates from ``seed``; ``limit`` also caps it).
    ``download=True`` fetches the data set into the first searched folder when it is missing."""
    _check_tier(tier)
    roots = candidate_roots(root)
    for folder in roots:
        if cifar_folder_in(folder, num_classes):
            return load_cifar(folder, num_classes, split, normalize=normalize, limit=limit)
    if download:
        folder = _download_root(roots)
        download_cifar(folder, num_classes)
        return load_cifar(folder, num_classes, split, normalize=normalize, limit=limit)
    if tier == "paper":
        raise DataNotFoundError(
            f"tier 'paper' needs real CIFAR-{num_classes}; searched {_searched(roots)}. "
            f"Point root or ${ENV_VAR} at a folder holding {CIFAR_LAYOUT[num_classes]['folder']}/ "
            "(lcsuite.data.download_cifar(root) fetches it)."
        )
    size = substitute_size
    if limit is not None:
        size = min(limit, size) if size is not None else limit
    data = cifar_substitute(num_classes, split, size=size, seed=seed)
    data.provenance = data.provenance.with_note(f"CIFAR-{num_classes} not found; searched {_searched(roots)}")
    return data


def describe_data(root=None) -> dict:
    """What is found where, and what would be substituted; cheap (no file is decoded).

    Returns:
        ``{"searched": [folders], "datasets": {name: {split: {"found": path | None,
        "would_use": "real" | "substitute" | "real (other split)", "substitute": name}}}}``
        for ``mnist``, ``cifar10`` and ``cifar100``.
    """
    roots = candidate_roots(root)
    report: dict = {"searched": [str(r) for r in roots], "datasets": {}}

    mnist: dict = {}
    for split in ("train", "test"):
        found = next((f for f in (find_mnist(r, split) for r in roots) if f), None)
        mnist[split] = {"found": str(found[0].parent) if found else None,
                        "substitute": "digits (MNIST substitute)"}
    for split in ("train", "test"):
        entry = mnist[split]
        entry["would_use"] = (
            "real" if entry["found"] else "real (other split)" if mnist[_other(split)]["found"] else "substitute"
        )
    report["datasets"]["mnist"] = mnist

    for num_classes in (10, 100):
        folder = next((f for f in (cifar_folder_in(r, num_classes) for r in roots) if f), None)
        entry = {
            "found": str(folder) if folder else None,
            "would_use": "real" if folder else "substitute",
            "substitute": f"cifar{num_classes}-shaped synthetic (CIFAR substitute)",
        }
        report["datasets"][f"cifar{num_classes}"] = {"train": dict(entry), "test": dict(entry)}
    return report
