"""The data this paper's experiments use, through the context (policy and provenance included).

- :func:`mnist`: MNIST (or the digits substitute where the claim allows), the first examples.
- :func:`mnist_train_test`: MNIST's train split (or what resolves in its place), split
  deterministically into a training part and a held-out part.
- :func:`cifar_train_test`: CIFAR-10/100's train and test splits (or the substitute).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lcsuite.harness.experiments import ExperimentContext

__all__ = ["mnist", "mnist_train_test", "mnist_subset", "cifar_train_test", "augment_option"]


def mnist(ctx: ExperimentContext, *, split: str = "train", limit: int | None = None,
          image_size: int | None = None, standardize: bool | tuple[float, float] = False):
    """MNIST ``split`` through ``ctx.dataset`` (provenance recorded).

    Returns:
        :class:`lcsuite.data.Dataset`, inputs ``(N, 1, S, S)`` float32 (S = 28 for MNIST, 8 for
        the substitute unless ``image_size``), targets ``(N,)``; first ``limit`` examples.
    """
    return ctx.dataset("mnist", split=split, image_size=image_size, standardize=standardize, limit=limit)


def mnist_train_test(ctx: ExperimentContext, *, test_fraction: float, limit: int | None = None,
                     split_seed: int = 0, image_size: int | None = None,
                     standardize: bool | tuple[float, float] = False):
    """The first ``limit`` examples of MNIST's train split, split deterministically (permutation
    seeded by ``split_seed``) into ``(train, held-out)``; both provenances are recorded."""
    data = ctx.dataset("mnist", record=False, split="train", image_size=image_size, standardize=standardize,
                       limit=limit)
    train, test = data.split(test_fraction, seed=split_seed)
    ctx.record_data(train.provenance.to_dict())
    ctx.record_data(test.provenance.to_dict())
    return train, test


def cifar_train_test(ctx: ExperimentContext, *, train_size: int | None, test_size: int | None,
                     num_classes: int = 10, image_size: int | None = None):
    """CIFAR-10/100's train and test splits (or the labelled substitute, where the claim allows).

    Real data: the first ``train_size`` / ``test_size`` examples of the official splits. The
    substitute draws its train and test splits from separate random streams, so the two parts
    never share an example; a size of 0 skips that part (returned as None). ``image_size``
    (e.g. 16) area-downsamples both parts (32 -> S); the provenance notes say so.

    Returns:
        ``(train, test)`` :class:`lcsuite.data.Dataset` pair, inputs ``(N, 3, S, S)`` float32
        (S = 32 unless ``image_size``), targets ``(N,)`` int64.
    """
    from lcsuite.data.preprocess import resize

    parts = []
    for split, size in (("train", train_size), ("test", test_size)):
        if size == 0:  # this part is not needed
            parts.append(None)
            continue
        data = ctx.dataset(f"cifar{num_classes}", record=False, split=split, limit=size, substitute_size=size, seed=0)
        if image_size is not None and image_size != data.inputs.shape[-1]:
            data.inputs = resize(data.inputs, image_size).contiguous()
            data.provenance = data.provenance.with_note(
                f"area-downsampled to {image_size}x{image_size} to fit the tier's budget")
        ctx.record_data(data.provenance.to_dict())
        parts.append(data)
    return parts[0], parts[1]


def augment_option(name: str) -> str | None:
    """The ``augment`` argument of :func:`lcsuite.train.train` for a claim's string param
    (``"none"`` -> None, ``"crop_flip"`` -> itself)."""
    if name not in ("none", "crop_flip"):
        raise ValueError(f"augment must be 'none' or 'crop_flip', got {name!r}")
    return None if name == "none" else name


class Subset(NamedTuple):
    """Examples on the context's device: inputs ``(N, ...)`` float32, targets ``(N,)`` int64,
    and the number of classes of the data set they come from."""

    inputs: Any
    targets: Any
    num_classes: int


def mnist_subset(ctx: ExperimentContext, num_examples: int, image_size: int = 12) -> Subset:
    """``num_examples`` random MNIST examples (seeded by ``ctx.seed``), center-cropped and resized
    to ``image_size`` (the paper's 12×12 for Fig. 1, 2), provenance recorded; inputs
    ``(N, 1, S, S)`` in [0, 1]."""
    import torch

    data = mnist(ctx, image_size=image_size)
    if num_examples > len(data.targets):
        raise ValueError(f"asked for {num_examples} examples, the data set has {len(data.targets)}")
    index = torch.from_numpy(ctx.rng().permutation(len(data.targets))[:num_examples])
    return Subset(data.inputs[index].to(ctx.device), data.targets[index].to(ctx.device), data.num_classes)
