"""Case ``overhead``: a training step with every layer's statistics recorded vs a plain step.

A step is ``zero_grad → forward → mean cross-entropy → backward → SGD update``. The recorded
step runs the same inside :class:`lcsuite.conditioning.LayerCapture` (forward hooks on every
Linear/Conv2d, a tensor hook on each output, float64 ``XᵀX`` / ``GᵀG`` accumulation and the
dying/full-unit masks), entering and leaving the capture as a recording step of a training run
does. CPU: the paper's 20-layer, 256-wide MLP, full batch of ``N`` MNIST-sized random examples
(784 inputs, 10 classes), float32. CUDA: also ResNet-56 at batch 128 on CIFAR-shaped inputs
(conv layers in the paper's channel mode).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.config import Config
from bench.results import CaseResult, goal
from lcsuite.timing import compare
from lcsuite.conditioning import LayerCapture
from lcsuite.models import MLP, cifar_net

__all__ = ["run", "memory_workloads", "workload", "workload_kinds", "GOAL_RATIO"]

GOAL_RATIO = 1.3


def workload(config: Config, kind: str):
    """(label, model, inputs, targets, optimiser) on the case's device."""
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    if kind == "mlp":
        in_features, depth, width, n = config.overhead_mlp
        model = MLP(in_features, config.num_classes, depth, width)
        inputs = torch.randn(n, in_features, generator=generator)
        device = torch.device("cpu")
        label = f"MLP {depth}x{width}, full batch N={n} (784-dim random inputs)" if not config.quick \
            else f"MLP {depth}x{width}, N={n}"
    else:
        depth, n = config.overhead_resnet
        model = cifar_net("resnet", depth, config.num_classes)
        inputs = torch.randn(n, 3, 32, 32, generator=generator)
        device = config.torch_device
        label = f"ResNet-{depth}, batch {n} (CIFAR-shaped random inputs)"
    targets = torch.randint(0, config.num_classes, (n,), generator=generator)
    model, inputs, targets = model.to(device), inputs.to(device), targets.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    return label, model, inputs, targets, optimizer, device


def _steps(model, inputs, targets, optimizer):
    def plain_step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()

    def recorded_step():
        with LayerCapture(model, conv_mode="channel"):
            plain_step()

    return plain_step, recorded_step


def workload_kinds(config: Config) -> list[str]:
    return ["mlp", "resnet"] if config.torch_device.type == "cuda" else ["mlp"]


def run(config: Config) -> CaseResult:
    rows, medians, ratios, goals, details = [], {}, {}, [], {"models": {}}
    for kind in workload_kinds(config):
        label, model, inputs, targets, optimizer, device = workload(config, kind)
        plain_step, recorded_step = _steps(model, inputs, targets, optimizer)
        timings = compare({"plain": plain_step, "recorded": recorded_step}, config.repeats,
                          config.warmup, config.budget_s, device)
        plain, recorded = timings["plain"].median, timings["recorded"].median
        ratio = recorded / plain
        rows.append([label, str(device), plain * 1e3, recorded * 1e3, ratio,
                     len(timings["plain"].samples)])
        medians[f"{kind}/plain_step"] = plain
        medians[f"{kind}/recorded_step"] = recorded
        ratios[f"{kind}/recorded_over_plain"] = ratio
        details["models"][kind] = {"label": label, "device": str(device),
                                   "timings": {k: t.to_dict() for k, t in timings.items()}}
        goals.append(goal(f"{kind}: recorded step / plain step", ratio, GOAL_RATIO, False))
    notes = [] if config.torch_device.type == "cuda" else \
        ["ResNet-56 at batch 128 runs only with --device cuda (no CUDA device here)"]
    return CaseResult(
        "overhead", "capture overhead on a training step (medians, ms)",
        ["model", "device", "plain step ms", "recorded step ms", "ratio", "repeats"],
        rows, medians, ratios, goals, notes, details,
    )


def memory_workloads(config: Config) -> list[tuple[str, object, torch.device]]:
    """(label, zero-argument callable, device) of the largest model of this case."""
    kind = workload_kinds(config)[-1]
    label, model, inputs, targets, optimizer, device = workload(config, kind)
    plain_step, recorded_step = _steps(model, inputs, targets, optimizer)
    return [(f"{label}: plain step", plain_step, device),
            (f"{label}: recorded step", recorded_step, device)]
