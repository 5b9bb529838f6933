"""Data sets by name: :data:`DATASETS`, and :func:`load_dataset` under a claim's data policy.

A registered data set is a resolver ``resolver(root, *, allow_substitute, allow_unverified,
download, **options) -> Dataset``: it finds the real data under ``root`` / ``$LCSUITE_DATA``,
or falls back to a labelled substitute where allowed (:func:`lcsuite.data.resolve_mnist` is the
model). Plugins register more through the ``lcsuite.datasets`` entry point group.
"""

from __future__ import annotations

from functools import partial

from lcsuite.data.dataset import Dataset
from lcsuite.data.resolve import ALLOW_UNVERIFIED_OPTION, resolve_cifar, resolve_mnist
from lcsuite.registry import Registry

__all__ = ["DATASETS", "data_policy", "load_dataset"]

DATASETS: Registry = Registry("data set", "lcsuite.datasets")

DATASETS.register("mnist", resolve_mnist)
DATASETS.register("cifar10", partial(resolve_cifar, num_classes=10), owner=__name__)
DATASETS.register("cifar100", partial(resolve_cifar, num_classes=100), owner=__name__)


def data_policy(requires_real_data: bool, allow_unverified: bool) -> dict[str, bool]:
    """The resolvers' ``allow_substitute`` / ``allow_unverified`` for a claim: both, unless it
    requires real data; unverified files then only with the user's override."""
    return dict(allow_substitute=not requires_real_data, allow_unverified=(not requires_real_data) or allow_unverified)


def load_dataset(name: str, root=None, *, requires_real_data: bool = False, allow_unverified: bool = False,
                 download: bool = False, **options) -> Dataset:
    """The data set ``name`` under the claim's policy; the provenance notes an override that let
    unverified files through. Raises the resolver's errors (missing, unverified, corrupt)."""
    resolver = DATASETS.get(name)
    data = resolver(root, download=download, **data_policy(requires_real_data, allow_unverified), **options)
    if requires_real_data and data.provenance.status == "unverified":
        data.provenance = data.provenance.with_note(
            f"unverified files used because the run passed {ALLOW_UNVERIFIED_OPTION}")
    return data
