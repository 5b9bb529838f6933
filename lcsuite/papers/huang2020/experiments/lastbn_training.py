"""Paired training of CIFAR networks with and without a BN before the last linear layer
(Tables 1, 2, A2, Fig. 8).

For every architecture in ``archs`` and depth in ``depths`` (6n+2) one network is built from
the seed (the same seed for every architecture: a pair starts from the same convolution
weights) and trained with one schedule: SGD with momentum, lr ``lr`` multiplied by ``gamma``
at ``milestone_fractions`` of ``epochs`` (the paper: 160 epochs, x0.1 at 80 and 120, i.e.
fractions 0.5 and 0.75), weight decay, mini-batches of ``batch_size``, the same batch order
for every network. Data: ``train_size`` / ``test_size`` examples of CIFAR's train / test
splits (or the labelled substitute), optionally downsampled to ``image_size``.

Quantities (``A`` = an arch name, e.g. ``resnet_lastbn``; dims after the leading ``seed``):

================================ ================ ==============================================
``A/final_train_loss``           (depth,)         cross-entropy over the training set, eval mode
``A/final_train_error``          (depth,)         error rate over the training set, eval mode
``A/test_loss``                  (depth,)         cross-entropy over the test set
``A/test_error``                 (depth,)         error rate over the test set
``A/epoch_loss``                 (depth, epoch)   mean mini-batch training loss of each epoch
``A/diverged``                   (depth,)         1 when the loss became non-finite, else 0
``gap/<A>-<B>/test_error``       (depth,)         A's minus B's test error, for consecutive
``gap/<A>-<B>/final_train_loss`` (depth,)         pairs (archs[0], archs[1]), (archs[2], archs[3]) …
================================ ================ ==============================================

A diverged run has no trained model: its losses are +inf and its error rates 1.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.papers.huang2020.experiments.data import augment_option, cifar_train_test
from lcsuite.models import cifar_net
from lcsuite.train import seed_everything, train

__all__ = ["paired_depth_training", "arch_pairs"]

PER_ARCH = ("final_train_loss", "final_train_error", "test_loss", "test_error", "diverged")
GAPPED = ("test_error", "final_train_loss")


def arch_pairs(archs) -> list[tuple[str, str]]:
    """Consecutive pairs of ``archs``: ``[(archs[0], archs[1]), (archs[2], archs[3]), ...]``."""
    if len(archs) % 2:
        raise ValueError(f"archs must come in (baseline, variant) pairs, got {list(archs)}")
    return [(archs[i], archs[i + 1]) for i in range(0, len(archs), 2)]


def _outputs(params: Mapping) -> dict[str, tuple[str, ...]]:
    spec: dict[str, tuple[str, ...]] = {}
    for arch in params["archs"]:
        for name in PER_ARCH:
            spec[f"{arch}/{name}"] = ("depth",)
        spec[f"{arch}/epoch_loss"] = ("depth", "epoch")
    for base, variant in arch_pairs(params["archs"]):
        for name in GAPPED:
            spec[f"gap/{base}-{variant}/{name}"] = ("depth",)
    return spec


def _epoch_means(losses: np.ndarray, epochs: int) -> np.ndarray:
    """(steps,) mini-batch losses -> (epochs,) per-epoch means (+inf after a divergence)."""
    per_epoch = np.full(epochs, math.inf)
    chunks = np.array_split(losses, epochs) if len(losses) >= epochs else []
    for index, chunk in enumerate(chunks):
        if np.isfinite(chunk).all():
            per_epoch[index] = chunk.mean()
    return per_epoch


def _train_one(ctx: ExperimentContext, arch: str, depth: int, train_data, test_data) -> dict[str, object]:
    p = ctx.params
    epochs = int(p["epochs"])
    seed_everything(ctx.seed)
    model = cifar_net(arch, depth, num_classes=int(p["num_classes"]))
    milestones = sorted({max(1, round(f * epochs)) for f in p["milestone_fractions"]})
    result = train(
        model, train_data, optimizer="sgd", lr=float(p["lr"]), momentum=float(p["momentum"]),
        weight_decay=float(p["weight_decay"]), epochs=epochs, batch_size=int(p["batch_size"]),
        milestones=milestones, gamma=float(p["gamma"]), augment=augment_option(p["augment"]),
        eval_data=test_data, seed=ctx.seed, device=ctx.device,
    )
    steps = result.config["steps"]
    losses = np.full(steps, math.inf)
    losses[: result.steps_run] = result.losses.numpy()
    losses[~np.isfinite(losses)] = math.inf
    if result.diverged:
        values = dict(final_train_loss=math.inf, final_train_error=1.0, test_loss=math.inf, test_error=1.0)
    else:
        values = dict(final_train_loss=result.final_train_loss, final_train_error=result.final_train_error,
                      test_loss=result.test_loss, test_error=result.test_error)
    values["diverged"] = float(result.diverged)
    values["epoch_loss"] = _epoch_means(losses, epochs)
    return values


@experiment("paired_depth_training", outputs=_outputs,
            params=("archs", "augment", "batch_size", "depths", "epochs", "gamma", "image_size", "lr", "milestone_fractions", "momentum", "num_classes", "test_size", "train_size", "weight_decay",))
def paired_depth_training(ctx: ExperimentContext) -> dict:
    """Train every (arch, depth) with one schedule; final losses and errors (see module)."""
    p = ctx.params
    depths = [int(d) for d in p["depths"]]
    image_size = int(p["image_size"])
    train_data, test_data = cifar_train_test(
        ctx, train_size=int(p["train_size"]), test_size=int(p["test_size"]),
        num_classes=int(p["num_classes"]), image_size=None if image_size == 32 else image_size)
    train_data, test_data = train_data.to(ctx.device), test_data.to(ctx.device)
    out: dict[str, object] = {}
    per_arch: dict[str, dict[str, np.ndarray]] = {}
    for arch in p["archs"]:
        runs = [_train_one(ctx, arch, depth, train_data, test_data) for depth in depths]
        for depth, run in zip(depths, runs):
            ctx.progress(f"{arch}-{depth}: train loss {run['final_train_loss']:.4g}, test error {run['test_error']:.4g}")
        per_arch[arch] = {name: np.asarray([run[name] for run in runs], dtype=np.float64) for name in PER_ARCH}
        for name in PER_ARCH:
            out[f"{arch}/{name}"] = (per_arch[arch][name], ("depth",))
        out[f"{arch}/epoch_loss"] = (np.stack([run["epoch_loss"] for run in runs]), ("depth", "epoch"))
    for base, variant in arch_pairs(p["archs"]):
        for name in GAPPED:
            with np.errstate(invalid="ignore"):
                gap = per_arch[base][name] - per_arch[variant][name]
            out[f"gap/{base}-{variant}/{name}"] = (np.nan_to_num(gap, nan=0.0), ("depth",))
    return out
