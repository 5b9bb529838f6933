"""The last linear layer of CIFAR residual networks across depth (Sec. 5, Figs. 6, 7, 9).

For every architecture in ``archs`` and depth in ``depths`` (6n+2) one network is built from
the seed (the same seed for every architecture, so a pair shares its initial convolution
weights where the layers coincide) and the input of its last linear layer (``model.classifier``)
is analysed: ``Sx_last = E[x xᵀ]`` over ``measure_examples`` training examples, taken in train
mode (BN normalises with the statistics of each measurement batch of ``measure_batch_size``,
as during training; BN running buffers are restored afterwards), through
:class:`lcsuite.conditioning.LayerCapture` restricted to the classifier.

At the depths in ``loss_depths`` the network is then trained for the first ``steps``
iterations with the paper's optimiser (SGD, lr ``lr``, momentum, weight decay) on mini-batches
of ``batch_size``; the loss of every iteration is kept, and ``λmax(Sx_last)`` and the
classifier's weight norm are measured again at ``record_steps``. A run that diverges has its
remaining losses and measurements set to +inf (a blow-up, not missing data).

Quantities (``A`` = an arch name, e.g. ``resnet``; dims after the leading ``seed``):

============================================== ============================ ====================
``A/last_input/lambda_max``                    (depth,)                     λmax(Sx_last) at init
``A/last_input/rms_norm``                      (depth,)                     sqrt(E‖x_last‖²) at init
``A/last_input/lambda_max_deepest``            ()                           the same at max(depths)
``A/loss``                                     (loss_depth, step)           mini-batch loss before update ``step``
``A/early_peak_loss``                          (loss_depth,)                max of ``A/loss`` over the steps
``A/early_peak_loss_deepest``                  ()                           the same at max(loss_depths)
``A/last_input/lambda_max_along_training``     (loss_depth, record_step)    λmax(Sx_last) at ``record_steps``
``A/classifier/weight_norm``                   (loss_depth, record_step)    ‖W_last‖_F at ``record_steps``
============================================== ============================ ====================

Loss quantities exist only when ``loss_depths`` is not empty. Coordinates (the depths and
steps) are the ``depths``, ``loss_depths`` and ``record_steps`` params stored with the result.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from torch import nn

from lcsuite.conditioning import LayerCapture, lambda_max, preserved_state, symmetric_spectrum
from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.papers.huang2020.experiments.data import augment_option, cifar_train_test
from lcsuite.models import cifar_net
from lcsuite.train import seed_everything, train

__all__ = ["classifier_input_statistics", "resnet_last_layer_depth"]


@torch.no_grad()
def classifier_input_statistics(model: nn.Module, inputs: torch.Tensor, batch_size: int) -> dict[str, float]:
    """``λmax`` and RMS norm of the last linear layer's input second moment ``Sx_last``.

    ``inputs (N, 3, S, S)`` are forwarded in train mode in batches of ``batch_size`` (BN uses
    batch statistics, as in training); the model's buffers and mode are restored afterwards.

    Returns:
        ``{"lambda_max": λmax(Sx_last), "rms_norm": sqrt(trace Sx_last)}``.
    """
    with preserved_state(model), LayerCapture(model.classifier, record_gradients=False) as capture:
        model.train()
        for start in range(0, len(inputs), batch_size):
            model(inputs[start : start + batch_size])
    record = capture.records[""]  # the classifier itself is the captured module
    if record.nonfinite:
        stats = {"lambda_max": math.inf, "rms_norm": math.inf}
    else:
        sx = record.input_covariance()
        stats = {"lambda_max": lambda_max(symmetric_spectrum(sx)), "rms_norm": float(torch.trace(sx).sqrt())}
    return stats


def _outputs(params: Mapping) -> dict[str, tuple[str, ...]]:
    spec: dict[str, tuple[str, ...]] = {}
    for arch in params["archs"]:
        spec[f"{arch}/last_input/lambda_max"] = ("depth",)
        spec[f"{arch}/last_input/rms_norm"] = ("depth",)
        spec[f"{arch}/last_input/lambda_max_deepest"] = ()
        if params["loss_depths"]:
            spec[f"{arch}/loss"] = ("loss_depth", "step")
            spec[f"{arch}/early_peak_loss"] = ("loss_depth",)
            spec[f"{arch}/early_peak_loss_deepest"] = ()
            spec[f"{arch}/last_input/lambda_max_along_training"] = ("loss_depth", "record_step")
            spec[f"{arch}/classifier/weight_norm"] = ("loss_depth", "record_step")
    return spec


def _early_run(ctx: ExperimentContext, model: nn.Module, data, measure: torch.Tensor,
               init_stats: dict[str, float]) -> dict[str, np.ndarray]:
    """Train the first ``steps`` iterations; losses (step,), λmax and ‖W‖ (record_step,).

    ``init_stats`` (from :func:`classifier_input_statistics` on the untrained model) is reused
    for a record at step 0."""
    p = ctx.params
    record_steps = [int(s) for s in p["record_steps"]]
    measure_bs = int(p["measure_batch_size"])

    def record(step: int, net: nn.Module):
        stats = init_stats if step == 0 else classifier_input_statistics(net, measure, measure_bs)
        return stats["lambda_max"], float(net.classifier.weight.detach().norm())

    result = train(
        model, data, optimizer="sgd", lr=float(p["lr"]), momentum=float(p["momentum"]),
        weight_decay=float(p["weight_decay"]), steps=int(p["steps"]), batch_size=int(p["batch_size"]),
        augment=augment_option(p["augment"]), record=record, record_schedule=record_steps,
        evaluate_train=False, seed=ctx.seed, device=ctx.device,
    )
    losses = np.full(int(p["steps"]), math.inf)
    losses[: result.steps_run] = result.losses.numpy()
    losses[~np.isfinite(losses)] = math.inf
    recorded = dict(result.records)
    lam = np.array([recorded.get(s, (math.inf, math.inf))[0] for s in record_steps])
    weight = np.array([recorded.get(s, (math.inf, math.inf))[1] for s in record_steps])
    return {"loss": losses, "lambda_max": lam, "weight_norm": weight}


@experiment("resnet_last_layer_depth", outputs=_outputs,
            params=("archs", "augment", "batch_size", "depths", "image_size", "loss_depths", "lr", "measure_batch_size", "measure_examples", "momentum", "num_classes", "record_steps", "steps", "train_size", "weight_decay",))
def resnet_last_layer_depth(ctx: ExperimentContext) -> dict:
    """Last-layer input statistics at init and early losses, per arch and depth (see module)."""
    p = ctx.params
    depths = [int(d) for d in p["depths"]]
    loss_depths = [int(d) for d in p["loss_depths"]]
    unknown = set(loss_depths) - set(depths)
    if unknown:
        raise ValueError(f"loss_depths {sorted(unknown)} are not in depths {depths}")
    image_size = int(p["image_size"])
    train_data, _ = cifar_train_test(ctx, train_size=int(p["train_size"]), test_size=0,
                                          num_classes=int(p["num_classes"]),
                                          image_size=None if image_size == 32 else image_size)
    train_data = train_data.to(ctx.device)
    measure = train_data.inputs[: int(p["measure_examples"])]
    out: dict[str, object] = {}
    for arch in p["archs"]:
        lam, rms, runs = [], [], {}
        for depth in depths:
            seed_everything(ctx.seed)
            model = cifar_net(arch, depth, num_classes=int(p["num_classes"])).to(ctx.device)
            stats = classifier_input_statistics(model, measure, int(p["measure_batch_size"]))
            lam.append(stats["lambda_max"])
            rms.append(stats["rms_norm"])
            if depth in loss_depths:
                runs[depth] = _early_run(ctx, model, train_data, measure, stats)
            ctx.progress(f"{arch}-{depth}: λmax(Sx_last) {stats['lambda_max']:.3g}")
        out[f"{arch}/last_input/lambda_max"] = (np.asarray(lam), ("depth",))
        out[f"{arch}/last_input/rms_norm"] = (np.asarray(rms), ("depth",))
        out[f"{arch}/last_input/lambda_max_deepest"] = lam[int(np.argmax(depths))]
        if loss_depths:
            runs = [runs[d] for d in loss_depths]
            loss = np.stack([r["loss"] for r in runs])
            peak = loss.max(axis=1)
            out[f"{arch}/loss"] = (loss, ("loss_depth", "step"))
            out[f"{arch}/early_peak_loss"] = (peak, ("loss_depth",))
            out[f"{arch}/early_peak_loss_deepest"] = float(peak[int(np.argmax(loss_depths))])
            out[f"{arch}/last_input/lambda_max_along_training"] = (
                np.stack([r["lambda_max"] for r in runs]), ("loss_depth", "record_step"))
            out[f"{arch}/classifier/weight_norm"] = (
                np.stack([r["weight_norm"] for r in runs]), ("loss_depth", "record_step"))
    return out
