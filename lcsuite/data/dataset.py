"""The in-memory data set every loader returns and the loaders' errors (provenance: see
:mod:`lcsuite.data.provenance`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from lcsuite.data.provenance import Provenance

__all__ = ["CorruptDataError", "DataError", "DataNotFoundError", "Dataset", "Provenance", "UnverifiedDataError"]


class DataError(Exception):
    """Base of the loaders' errors: the data named cannot be used as asked."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A required data file or folder is missing; the message names where it was looked for."""


class CorruptDataError(DataError, ValueError):
    """A data file exists but cannot be read (truncated, wrong format, refused content); the
    message names it."""


class UnverifiedDataError(DataError, ValueError):
    """Real data was found, but its bytes do not match a published digest, and the caller did not
    allow unverified data; the message names the file, its digest and the override."""


@dataclass
class Dataset:
    """A labelled data set held as two tensors.

    Attributes:
        inputs: float32 tensor (N, ...) , e.g. (N, 1, 28, 28) for MNIST, (N, 3, 32, 32) for CIFAR.
        targets: int64 tensor (N,) of class indices in [0, num_classes).
        provenance: see :class:`Provenance`.
        num_classes: number of classes of the task (not only those present).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    provenance: Provenance
    num_classes: int = field(default=0)

    def __post_init__(self):
        if self.inputs.dtype != torch.float32:
            raise TypeError(f"inputs must be float32, got {self.inputs.dtype}")
        if self.targets.dtype != torch.int64 or self.targets.dim() != 1:
            raise TypeError("targets must be an int64 tensor of shape (N,)")
        if len(self.inputs) != len(self.targets):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.targets)} targets")
        if not self.num_classes:
            self.num_classes = int(self.targets.max()) + 1 if len(self.targets) else 0

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def device(self) -> torch.device:
        return self.inputs.device

    def to(self, device) -> "Dataset":
        """The same data on ``device`` (no copy when already there)."""
        return dataclasses.replace(self, inputs=self.inputs.to(device), targets=self.targets.to(device))

    def subset(self, indices, note: str | None = None) -> "Dataset":
        """Examples at ``indices`` (a LongTensor, a slice or a range)."""
        if isinstance(indices, range):
            indices = slice(indices.start, indices.stop, indices.step)
        inputs, targets = self.inputs[indices], self.targets[indices]
        prov = self.provenance.with_note(note, size=len(targets)) if note else dataclasses.replace(
            self.provenance, size=len(targets)
        )
        return Dataset(inputs, targets, prov, self.num_classes)

    def head(self, n: int | None) -> "Dataset":
        """The first ``n`` examples (all when ``n`` is None or >= len)."""
        if n is None or n >= len(self):
            return self
        return self.subset(slice(0, n), note=f"first {n} examples")

    def split(self, test_fraction: float, seed: int = 0) -> tuple["Dataset", "Dataset"]:
        """Deterministic random split into (train, test); provenances record it."""
        if not 0 < test_fraction < 1:
            raise ValueError("test_fraction must be in (0, 1)")
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=generator).to(self.targets.device)
        n_test = max(1, round(test_fraction * len(self)))
        what = f"random split (seed {seed}) of {len(self)} {self.provenance.split} examples"
        train = self.subset(order[n_test:], note=f"train part of {what}")
        test = self.subset(order[:n_test], note=f"test part of {what}")
        return train, test
