"""Find the real data set or fall back to a labelled substitute, as the caller allows.

Search order: the explicit ``root`` (when given), then every folder in the environment variable
``LCSUITE_DATA`` (``os.pathsep``-separated). Nothing else: lcsuite never reads data from a
place the user did not name.

What is refused is the caller's decision, made from the claim (``requires_real_data`` and the
user's override), never from a tier's name:

- ``allow_substitute=False``: the real data set is required; when it is missing,
  :class:`DataNotFoundError` names the folders searched. With ``allow_substitute=True`` a
  missing data set is replaced by its substitute (provenance ``substitute=True``), and a missing
  split by the other split of the real data set (the provenance says ``split="test"`` and the
  note explains), e.g. the MNIST test set alone, as on CI.
- ``allow_unverified=False``: files whose digests do not match the published ones raise
  :class:`UnverifiedDataError` naming the file, its digest and the override
  (``--lc-allow-unverified``). With ``True`` they are used and labelled ``unverified``.

A file that is found but unusable always raises, whatever is allowed: unreadable or refused
content (:class:`CorruptDataError`), or a data set found in part, e.g. images without labels
(:class:`DataNotFoundError` naming the missing file). No fallback hides them.
"""

from __future__ import annotations

import os
from pathlib import Path

from lcsuite.data.cifar import CIFAR_LAYOUT, cifar_folder_in, load_cifar
from lcsuite.data.dataset import DataNotFoundError, Dataset, UnverifiedDataError
from lcsuite.data.download import download_cifar, download_mnist
from lcsuite.data.mnist import load_mnist, locate_mnist
from lcsuite.data.provenance import UNVERIFIED
from lcsuite.data.substitutes import cifar_substitute, digits_substitute

__all__ = ["ALLOW_UNVERIFIED_OPTION", "ENV_VAR", "candidate_roots", "require_verified", "resolve_cifar",
           "resolve_mnist"]

ENV_VAR = "LCSUITE_DATA"
ALLOW_UNVERIFIED_OPTION = "--lc-allow-unverified"


def candidate_roots(root=None) -> list[Path]:
    """Folders searched, in order: ``root``, then each entry of ``$LCSUITE_DATA``."""
    roots = [Path(root)] if root is not None else []
    roots += [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return roots


def require_verified(data: Dataset, allow_unverified: bool) -> Dataset:
    """``data`` itself, unless it is real data with an unverified file and that is not allowed.

    Raises:
        UnverifiedDataError: naming the first unverified file, why, its sha256 and the override.
    """
    provenance = data.provenance
    if allow_unverified or provenance.status != UNVERIFIED:
        return data
    record = (provenance.unverified_files or (None,))[0]
    if record is None:
        raise UnverifiedDataError(f"{provenance.source}: {provenance.name} lists no files read, so it "
                                  f"cannot be verified; pass {ALLOW_UNVERIFIED_OPTION} to use it anyway")
    raise UnverifiedDataError(
        f"{Path(provenance.source) / record.name}: unverified {provenance.name} file ({record.reason}; "
        f"sha256 {record.sha256}); this claim requires verified data: check the folder with "
        f"'lcsuite data check', or pass {ALLOW_UNVERIFIED_OPTION} to run on it anyway (recorded with the results)"
    )


def _other(split: str) -> str:
    return "test" if split == "train" else "train"


def _download_root(roots) -> Path:
    if not roots:
        raise DataNotFoundError(f"download requested but no data folder is named: give root or set ${ENV_VAR}")
    roots[0].mkdir(parents=True, exist_ok=True)
    return roots[0]


def _searched(roots) -> str:
    return ", ".join(str(r) for r in roots) if roots else f"nothing (no root given, ${ENV_VAR} unset)"


def _mnist_folder(roots, split: str) -> Path | None:
    """The first folder holding the complete ``split``; a split found only in part raises."""
    located = locate_mnist(roots, split)
    if located is not None and not located.complete:
        raise located.incomplete_error()
    return located.folder if located else None


def resolve_mnist(
    root=None,
    *,
    allow_substitute: bool,
    allow_unverified: bool,
    split: str = "train",
    image_size: int | None = None,
    crop: int | None = None,
    standardize: bool | tuple[float, float] = False,
    limit: int | None = None,
    download: bool = False,
) -> Dataset:
    """MNIST ``split`` if found (see the module docstring), else scikit-learn's digits when
    ``allow_substitute``.

    ``image_size``/``crop``/``standardize``/``limit`` as in :func:`lcsuite.data.load_mnist`;
    the digits substitute keeps 8x8 unless ``image_size`` is given. ``download=True`` fetches
    MNIST into the first searched folder when the split is missing (never the default).

    Raises:
        DataNotFoundError: MNIST missing and substitutes not allowed, or found in part.
        UnverifiedDataError: unverified files and ``allow_unverified`` False.
        CorruptDataError: a file is unreadable.
    """
    roots = candidate_roots(root)
    options = dict(image_size=image_size, crop=crop, standardize=standardize, limit=limit)
    folder = _mnist_folder(roots, split)
    if folder is None and download:
        folder = _download_root(roots)
        download_mnist(folder)
    if folder is not None:
        return require_verified(load_mnist(folder, split, **options), allow_unverified)
    if not allow_substitute:
        raise DataNotFoundError(
            f"real MNIST ({split} split) required; searched {_searched(roots)}. "
            f"Point root or ${ENV_VAR} at a folder with the IDX files "
            "(lcsuite.data.download_mnist(root) fetches them)."
        )
    folder = _mnist_folder(roots, _other(split))
    if folder is not None:
        data = require_verified(load_mnist(folder, _other(split), **options), allow_unverified)
        data.provenance = data.provenance.with_note(
            f"MNIST {split} split not found; the {_other(split)} split is used in its place"
        )
        return data
    data = digits_substitute(split, image_size=image_size, standardize=standardize, limit=limit)
    data.provenance = data.provenance.with_note(f"MNIST not found; searched {_searched(roots)}")
    return data


def resolve_cifar(
    root=None,
    *,
    allow_substitute: bool,
    allow_unverified: bool,
    num_classes: int = 10,
    split: str = "train",
    normalize: bool = True,
    limit: int | None = None,
    substitute_size: int | None = None,
    seed: int = 0,
    download: bool = False,
) -> Dataset:
    """CIFAR-10/100 ``split`` if found, else (when ``allow_substitute``) :func:`cifar_substitute`
    (``substitute_size`` examples, default 5000/1000, templates from ``seed``; ``limit`` also
    caps it). ``download=True`` fetches the data set into the first searched folder when it is
    missing. Raises as :func:`resolve_mnist` does."""
    roots = candidate_roots(root)
    folder = cifar_folder_in(roots, num_classes)
    if folder is None and download:
        folder = _download_root(roots)
        download_cifar(folder, num_classes)
    if folder is not None:
        data = load_cifar(folder, num_classes, split, normalize=normalize, limit=limit)
        return require_verified(data, allow_unverified)
    if not allow_substitute:
        raise DataNotFoundError(
            f"real CIFAR-{num_classes} required; searched {_searched(roots)}. "
            f"Point root or ${ENV_VAR} at a folder holding {CIFAR_LAYOUT[num_classes]['folder']}/ "
            "(lcsuite.data.download_cifar(root) fetches it)."
        )
    size = substitute_size
    if limit is not None:
        size = min(limit, size) if size is not None else limit
    data = cifar_substitute(num_classes, split, size=size, seed=seed)
    data.provenance = data.provenance.with_note(f"CIFAR-{num_classes} not found; searched {_searched(roots)}")
    return data
