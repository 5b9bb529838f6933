"""Training loops: full-batch GD, SGD and Adam.

:func:`train` wires the steps of :mod:`lcsuite.train_loop` (plan, batches, update loop) to the
model, the optimiser and the final evaluation.

Conventions:

- The loss is the mean cross-entropy over a (mini-)batch; ``TrainResult.losses[s]`` is the
  loss of the batch used at step ``s``, measured *before* that step's update (for full-batch
  GD: the training loss after ``s`` updates, in train mode).
- Step ``s`` counts updates done so far; the recording callback ``record(step, model)`` is
  called at the scheduled steps, before update ``step`` (``step == total`` after the last one).
- Data lives on ``device`` for the whole run; per-step losses stay on the device and are
  copied to the host once at the end. Divergence (a NaN/inf loss) is checked every step on the
  CPU and every ``check_every`` steps (default 25) on accelerators; it stops training and is
  reported (``diverged``, ``diverged_at_step``), never raised.
- ``frozen`` is a mask over the model's Linear/Conv layers in module order
  (:func:`lcsuite.models.weight_layers`), e.g. ``"10111"`` for a 5-layer MLP: a ``0`` layer's
  weight and bias are not given to the optimiser and never change (its gradients are still
  computed, so the analysis can look at them). BatchNorm parameters are never frozen.
- ``seed`` fixes the mini-batch order and the augmentation; the model's initial weights are the
  caller's (build it after :func:`seed_everything`). Runs are bitwise repeatable on the CPU.
- Inside a local or Slurm executor's task, the loop writes progress lines (seed, step, epoch,
  ETA) to stderr for ``lcsuite status``, rate-limited (:mod:`lcsuite.progress`); elsewhere none.
- SGD's ``milestones`` are epochs when ``epochs`` is given, else steps; at each milestone the
  learning rate is multiplied by ``gamma`` (e.g. the fb.resnet.torch CIFAR protocol: lr 0.1, x0.1 at
  epochs 80 and 120, momentum 0.9, weight decay 1e-4, batch 128, 160 epochs).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lcsuite.data import Dataset, random_crop_flip
from lcsuite.models.utils import weight_layers
from lcsuite.train_loop import OPTIMIZERS, Batches, RunPlan, UpdateLoop, progress_bar

__all__ = [
    "OPTIMIZERS",
    "TrainResult",
    "evaluate",
    "parse_frozen",
    "record_schedule",
    "seed_everything",
    "train",
]

DEFAULT_RECORD_POINTS = 20


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and all CUDA devices) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def record_schedule(kind: str, total_steps: int, num_points: int = DEFAULT_RECORD_POINTS) -> list[int]:
    """Sorted distinct steps in [0, total_steps], always including both ends.

    ``"linear"``: evenly spaced; ``"log"``: 0 plus geometrically spaced steps from 1 (dense early,
    where the paper's figures use log axes). Fewer than ``num_points`` when steps coincide.
    """
    if total_steps < 0 or num_points < 1:
        raise ValueError("total_steps must be >= 0 and num_points >= 1")
    if kind == "linear":
        points = np.linspace(0, total_steps, num_points)
    elif kind == "log":
        points = [0.0] + (list(np.geomspace(1, total_steps, num_points - 1)) if total_steps >= 1 and num_points > 1 else [])
    else:
        raise ValueError(f"schedule kind must be 'linear' or 'log', got {kind!r}")
    return sorted({int(round(p)) for p in points} | {0, total_steps})


def parse_frozen(frozen, num_layers: int) -> list[bool]:
    """``"10111"`` / ``[1, 0, 1]`` / ``[True, False]`` -> list of *frozen* flags (``0`` = frozen)."""
    if isinstance(frozen, str):
        if set(frozen) - {"0", "1"}:
            raise ValueError(f"frozen mask must contain only 0 and 1, got {frozen!r}")
        trainable = [c == "1" for c in frozen]
    else:
        trainable = [bool(v) for v in frozen]
    if len(trainable) != num_layers:
        raise ValueError(f"frozen mask has {len(trainable)} entries, the model has {num_layers} Linear/Conv layers")
    return [not t for t in trainable]


@dataclass
class TrainResult:
    """What one training run produced.

    Attributes:
        losses: (steps_run,) float32 CPU tensor, per-step batch loss (see module docstring);
            on divergence it ends with the first non-finite loss.
        steps_run: number of updates performed.
        final_train_loss, final_train_error: on the whole training set in eval mode
            (``nan`` when diverged or not evaluated).
        test_loss, test_error: likewise on ``eval_data`` (None without it).
        diverged: a NaN/inf loss occurred; diverged_at_step: the first such step.
        records: ``(step, value)`` for every call of the recording callback.
        wall_time_s: seconds for the whole call, evaluation included.
        lr_schedule: ``(step, lr)`` at the start and at every change of the learning rate.
        config: the run's settings (JSON-serialisable).
    """

    losses: torch.Tensor
    steps_run: int
    final_train_loss: float
    final_train_error: float
    test_loss: float | None = None
    test_error: float | None = None
    diverged: bool = False
    diverged_at_step: int | None = None
    records: list[tuple[int, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    lr_schedule: list[tuple[int, float]] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        """``final_train_loss`` when evaluated, else the last batch loss; ``inf`` if diverged."""
        if self.diverged:
            return math.inf
        if not math.isnan(self.final_train_loss):
            return self.final_train_loss
        return float(self.losses[-1]) if len(self.losses) else math.nan


def _tensors(data, device) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, Dataset):
        inputs, targets = data.inputs, data.targets
    else:
        inputs, targets = data
    return inputs.to(device), targets.to(device)


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 1000, device=None) -> tuple[float, float]:
    """Mean cross-entropy and error rate of ``model`` on ``data`` in eval mode (BN uses its
    running statistics), in batches; one host sync at the end. The model's mode is restored.

    Args:
        data: a :class:`Dataset` or an ``(inputs, targets)`` pair.
        device: where to evaluate; default the model's device.
    """
    if device is None:
        device = next(model.parameters()).device
    inputs, targets = _tensors(data, device)
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(targets), batch_size):
        logits = model(inputs[start : start + batch_size])
        batch_targets = targets[start : start + batch_size]
        total_loss += F.cross_entropy(logits, batch_targets, reduction="sum").double()
        wrong += (logits.argmax(1) != batch_targets).sum()
    model.train(was_training)
    count = max(len(targets), 1)
    return total_loss.item() / count, wrong.item() / count


def _make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float, nesterov: bool):
    if name == "gd":
        return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


def _resolve_schedule(schedule, total_steps: int, has_callback: bool) -> set[int]:
    if not has_callback:
        return set()
    if schedule is None:
        return set(record_schedule("log", total_steps))
    if isinstance(schedule, str):
        return set(record_schedule(schedule, total_steps))
    if isinstance(schedule, tuple) and len(schedule) == 2 and isinstance(schedule[0], str):
        return set(record_schedule(schedule[0], total_steps, schedule[1]))
    return {int(s) for s in schedule if 0 <= int(s) <= total_steps}


def _resolve_augment(augment) -> Callable | None:
    if augment is None or callable(augment):
        return augment
    if augment == "crop_flip":
        return random_crop_flip
    raise ValueError(f"augment must be None, 'crop_flip' or a callable (images, generator), got {augment!r}")



def _frozen_flags(model: nn.Module, frozen) -> list[bool]:
    layers = weight_layers(model)
    return parse_frozen(frozen, len(layers)) if frozen is not None else [False] * len(layers)


def _trainable(model: nn.Module, frozen_flags: list[bool]) -> list[nn.Parameter]:
    """Parameters given to the optimiser: those requiring grad, outside the frozen layers."""
    frozen_ids = {id(p) for layer, f in zip(weight_layers(model), frozen_flags) if f
                  for p in layer.parameters(recurse=False)}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in frozen_ids]


def _config(plan: RunPlan, frozen_flags, *, optimizer, lr, epochs, momentum, nesterov, weight_decay,
            milestones, gamma, frozen, augment, seed, device) -> dict:
    """The run's settings, JSON-serialisable (``TrainResult.config``)."""
    return dict(
        optimizer=optimizer, lr=lr, steps=plan.total_steps, epochs=epochs, batch_size=plan.batch_size,
        momentum=momentum if optimizer == "sgd" else 0.0, nesterov=nesterov, weight_decay=weight_decay,
        milestones=list(milestones), gamma=gamma,
        frozen=None if frozen is None else "".join("0" if f else "1" for f in frozen_flags),
        augment=None if augment is None else (augment if isinstance(augment, str) else getattr(augment, "__name__", "callable")),
        seed=seed, device=str(device), num_examples=plan.num_examples,
    )


def _final_evaluation(model, diverged: bool, train_data, eval_data, evaluate_train: bool, batch_size: int,
                      device) -> dict:
    """``final_train_loss/error`` and ``test_loss/error`` of :class:`TrainResult`."""
    out = dict(final_train_loss=math.nan, final_train_error=math.nan, test_loss=None, test_error=None)
    if not diverged:
        if evaluate_train:
            out["final_train_loss"], out["final_train_error"] = evaluate(model, train_data, batch_size, device)
        if eval_data is not None:
            out["test_loss"], out["test_error"] = evaluate(model, eval_data, batch_size, device)
    elif eval_data is not None:
        out["test_loss"] = out["test_error"] = math.nan
    model.train()
    return out


def train(
    model: nn.Module, data, *, optimizer: str = "sgd", lr: float, steps: int | None = None,
    epochs: int | None = None, batch_size: int | None = None, momentum: float = 0.9, nesterov: bool = False,
    weight_decay: float = 0.0, milestones: Sequence[int] = (), gamma: float = 0.1,
    frozen: str | Sequence | None = None, record: Callable[[int, nn.Module], Any] | None = None,
    record_schedule: str | tuple | Iterable[int] | None = None, augment: str | Callable | None = None,
    eval_data=None, evaluate_train: bool = True, eval_batch_size: int = 1000, seed: int = 0,
    device: str | torch.device = "cpu", progress: bool = False, check_every: int | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` (a :class:`Dataset` or ``(inputs, targets)``) in place.

    Args:
        optimizer: ``"gd"`` (full batch, no momentum), ``"sgd"`` (momentum, weight decay,
            step schedule) or ``"adam"``.
        lr: learning rate.
        steps / epochs: length of the run; give exactly one. For ``"gd"`` one epoch = one step.
        batch_size: None = the whole data set (forced for ``"gd"``); else mini-batches drawn
            by a seeded permutation per epoch (the last batch of an epoch may be smaller).
        milestones, gamma: learning-rate drops (epochs if ``epochs`` is given, else steps).
        frozen: mask over Linear/Conv layers, ``0`` = not updated (see module docstring).
        record: callback ``record(step, model)``; non-None return values are kept.
        record_schedule: steps at which to call it: a list of steps, ``"log"``/``"linear"``,
            or ``(kind, num_points)``; default ``"log"`` with 20 points.
        augment: None, ``"crop_flip"`` (CIFAR pad-4 crop + flip) or ``fn(images, generator)``.
        eval_data: evaluated at the end (test loss / error).
        evaluate_train: evaluate the whole training set at the end.
        seed: batch order and augmentation randomness.
        device: where the model and the data live during training.
        progress: show a tqdm bar.
        check_every: steps between divergence checks (host syncs); default 1 on CPU, 25 else.
    """
    started = time.perf_counter()
    RunPlan.check(optimizer, steps, epochs)
    device = torch.device(device)
    model.to(device)
    inputs, targets = _tensors(data, device)
    plan = RunPlan.resolve(optimizer, steps, epochs, batch_size, milestones, len(targets))
    frozen_flags = _frozen_flags(model, frozen)
    opt = _make_optimizer(optimizer, _trainable(model, frozen_flags), lr, momentum, weight_decay, nesterov)
    schedule = _resolve_schedule(record_schedule, plan.total_steps, record is not None)
    batches = Batches(inputs, targets, plan, seed, _resolve_augment(augment), device)
    config = _config(plan, frozen_flags, optimizer=optimizer, lr=lr, epochs=epochs, momentum=momentum,
                     nesterov=nesterov, weight_decay=weight_decay, milestones=milestones, gamma=gamma,
                     frozen=frozen, augment=augment, seed=seed, device=device)
    if check_every is None:
        check_every = 1 if device.type == "cpu" else 25
    loop = UpdateLoop(model, opt, plan, record, schedule, check_every, device)
    with progress_bar(progress, plan.total_steps, f"{optimizer} lr={lr:g}") as bar:
        loop.bar = bar
        steps_run = loop.run(batches, lr, gamma)
    evaluation = _final_evaluation(model, loop.diverged_at is not None, (inputs, targets), eval_data,
                                   evaluate_train, eval_batch_size, device)
    return TrainResult(losses=loop.losses.cpu(), steps_run=steps_run, **evaluation,
                       diverged=loop.diverged_at is not None, diverged_at_step=loop.diverged_at,
                       records=loop.records, wall_time_s=time.perf_counter() - started,
                       lr_schedule=loop.lr_changes, config=config)
