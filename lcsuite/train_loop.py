"""The steps of one training run of :func:`lcsuite.train.train`: its plan (sizes and learning
rates), its batches and the update loop (learning-rate changes, recording, divergence checks).

Conventions are those of :mod:`lcsuite.train`: ``losses[s]`` is the loss of the batch of step
``s`` before its update; the recording callback runs before update ``s`` at the scheduled
steps and after the last one; divergence is checked every ``check_every`` steps, at the end
and before every recording, one host sync each.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch.nn import functional as F

from lcsuite.progress import loop_progress

__all__ = ["OPTIMIZERS", "RunPlan", "Batches", "UpdateLoop", "progress_bar"]

OPTIMIZERS = ("gd", "sgd", "adam")


@dataclass(frozen=True)
class RunPlan:
    """The sizes of one run, resolved from ``train``'s arguments."""

    num_examples: int
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    milestone_steps: tuple[int, ...]

    @staticmethod
    def check(optimizer: str, steps, epochs) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if (steps is None) == (epochs is None):
            raise ValueError("give exactly one of steps and epochs")

    @classmethod
    def resolve(cls, optimizer: str, steps, epochs, batch_size, milestones, num_examples: int) -> "RunPlan":
        if optimizer == "gd" or batch_size is None or batch_size >= num_examples:
            batch_size = num_examples
        steps_per_epoch = math.ceil(num_examples / batch_size)
        total_steps = steps if steps is not None else epochs * steps_per_epoch
        unit = steps_per_epoch if epochs is not None else 1
        return cls(num_examples, batch_size, steps_per_epoch, total_steps, tuple(sorted(int(m) * unit for m in milestones)))

    def lr_at(self, step: int, lr: float, gamma: float) -> float:
        """The learning rate of ``step``: ``lr`` times ``gamma`` per milestone passed."""
        return lr * gamma ** sum(step >= m for m in self.milestone_steps)


class Batches:
    """The batch of every step: the whole set, or a seeded permutation per epoch; augmented."""

    def __init__(self, inputs, targets, plan: RunPlan, seed: int, augment_fn, device):
        self.inputs, self.targets, self.plan, self.device = inputs, targets, plan, device
        self.augment_fn = augment_fn
        self.order_generator = torch.Generator().manual_seed(seed)
        self.augment_generator = torch.Generator(device=device).manual_seed(seed + 1) if augment_fn else None
        self.order = None

    def at(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, targets)`` of ``step`` (steps are visited in order)."""
        plan = self.plan
        position = step % plan.steps_per_epoch
        if plan.batch_size == plan.num_examples:
            batch_inputs, batch_targets = self.inputs, self.targets
        else:
            if position == 0:
                self.order = torch.randperm(plan.num_examples, generator=self.order_generator).to(self.device)
            index = self.order[position * plan.batch_size : (position + 1) * plan.batch_size]
            batch_inputs, batch_targets = self.inputs[index], self.targets[index]
        if self.augment_fn is not None:
            batch_inputs = self.augment_fn(batch_inputs, self.augment_generator)
        return batch_inputs, batch_targets


class UpdateLoop:
    """The update loop of one run: learning-rate schedule, recording, divergence checks."""

    def __init__(self, model, opt, plan: RunPlan, record, schedule: set[int], check_every: int, device):
        self.model, self.opt, self.plan = model, opt, plan
        self.record, self.schedule, self.check_every = record, schedule, check_every
        self.losses = torch.full((plan.total_steps,), math.nan, dtype=torch.float32, device=device)
        self.records: list[tuple[int, Any]] = []
        self.lr_changes: list[tuple[int, float]] = []
        self.checked_until = 0
        self.diverged_at: int | None = None
        self.bar = None
        self.progress = loop_progress(plan.total_steps, plan.steps_per_epoch)

    def call_record(self, step: int) -> None:
        value = self.record(step, self.model)
        self.model.train()
        if value is not None:
            self.records.append((step, value))

    def set_lr(self, step: int, lr: float, gamma: float) -> None:
        current = self.plan.lr_at(step, lr, gamma)
        if not self.lr_changes or self.lr_changes[-1][1] != current:
            self.lr_changes.append((step, current))
            for group in self.opt.param_groups:
                group["lr"] = current

    def update(self, step: int, batch_inputs, batch_targets) -> None:
        """One update on the batch; its loss (before the update) is kept at ``step``."""
        self.model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(batch_inputs), batch_targets)
        self.losses[step] = loss.detach()
        loss.backward()
        self.opt.step()
        if self.bar is not None:
            self.bar.update(1)

    def check(self, done: int) -> bool:
        """After ``done`` updates: whether a loss since the last check was NaN/inf (checked
        every ``check_every`` steps, at the end and before recordings: one host sync each)."""
        if not (done % self.check_every == 0 or done == self.plan.total_steps or done in self.schedule):
            return False
        window = self.losses[self.checked_until:done]
        if not bool(torch.isfinite(window).all()):
            self.diverged_at = self.checked_until + int((~torch.isfinite(window)).nonzero()[0, 0])
            return True
        self.checked_until = done
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{float(self.losses[done - 1]):.4g}")
        return False

    def run(self, batches: Batches, lr: float, gamma: float) -> int:
        """All updates (or until divergence); returns the number of steps run."""
        self.model.train()
        step = 0
        if self.progress is not None:
            self.progress.update(0)
        while step < self.plan.total_steps:
            batch_inputs, batch_targets = batches.at(step)
            if step in self.schedule:
                self.call_record(step)
            self.set_lr(step, lr, gamma)
            self.update(step, batch_inputs, batch_targets)
            step += 1
            if self.progress is not None:
                self.progress.update(step)
            if self.check(step):
                break
        if self.diverged_at is not None:
            self.losses = self.losses[: self.diverged_at + 1]
            return self.diverged_at + 1
        if step in self.schedule:
            self.call_record(step)
        return step


@contextmanager
def progress_bar(show: bool, total: int, description: str) -> Iterator:
    """A tqdm bar (``None`` when not shown), closed at the end."""
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=description, leave=False)
    try:
        yield bar
    finally:
        bar.close()
