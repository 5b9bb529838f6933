"""``Monitor``: the layer-wise conditioning analysis inside a user's own training loop.

Usage (a plain PyTorch loop; the recording context wraps the forward and backward pass)::

    monitor = lcsuite.Monitor(model, every=100)           # empirical Fisher, mean-reduced loss
    for step, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        with monitor.record(step, targets=y):              # a no-op unless step % 100 == 0
            loss = F.cross_entropy(model(x), y)
            loss.backward()
        optimizer.step()
    print(monitor.table())                                 # per layer, last checkpoint
    for finding in monitor.diagnose():
        print(finding)

Conventions (the same statistics as :func:`lcsuite.analyze` on the same batch):

- **Empirical Fisher** (``fisher="empirical"``, the default): the output-gradient rows are
  those of the user's own backward pass. ``analyze`` uses per-example gradients, i.e. those
  of the sum-reduced loss; with ``loss_reduction="mean"`` (PyTorch's default) the rows of the
  user's pass are ``1/n`` of them, ``n`` the number of terms the mean runs over, and the
  monitor multiplies them by ``n``: the number of targets when ``targets`` is given, else
  ``output.numel() / output.shape[1]`` of the model output (``N`` for logits ``(N, C)``).
  With ``"sum"`` nothing is rescaled. The statistics equal ``analyze``'s when the user's loss
  is the cross-entropy on those targets; with another loss they describe that loss's
  gradients. Weights that do not require grad (frozen layers) are made to for the recorded
  pass, so that their output-gradients exist; their ``.grad`` is restored afterwards.
- **True Fisher** (``fisher="true"``): labels come from the model. At the end of the context
  the monitor runs, on ``(inputs, targets)`` and with the parameters the user's backward saw,
  one extra forward pass, one backward pass on the data labels (weight-domination ratio) and
  one per class ``C`` (``1 + C`` backward passes per recorded batch: for 10 classes about
  ``12×`` the cost of a plain step on those steps). The user's own pass is not recorded. The
  extra passes use ``torch.autograd.grad`` (the user's ``.grad`` is untouched), restore the
  BatchNorm running statistics and run under a forked RNG (dropout masks do not shift the
  user's random stream).
- **Checkpoints** open at the steps of the schedule ``every`` and gather the next
  ``batches_per_checkpoint`` recorded batches (in the same step, as with gradient
  accumulation, or in the steps that follow); statistics accumulate over them as in
  ``analyze(..., batch_size=...)``. One forward and one backward pass per context.
- **Hooks** are attached when a recording context opens and removed when it closes, also on
  error (a failed batch discards its checkpoint). Other steps run the user's code untouched:
  ``record`` returns a shared inert context.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from lcsuite.conditioning.analyze import Analysis, layer_analyses
from lcsuite.conditioning.capture import LayerCapture
from lcsuite.conditioning.layer_types import require_layers, supported_layers
from lcsuite.conditioning.conventions import ConvMode, FisherType, LossType
from lcsuite.conditioning.coverage import SkippedParameter, skipped_parameters, unseen_modules, warn_unseen
from lcsuite.conditioning.passes import capture_passes, check_finite_records, weights_requiring_grad
from lcsuite.monitor.history import Checkpoint, History
from lcsuite.monitor.rules import Finding, diagnose
from lcsuite.monitor.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = ["Monitor"]

REDUCTIONS = ("mean", "sum")


def _unseen_lines(checkpoints: list[Checkpoint]) -> list[str]:
    """``"name (Class): reason"`` per parameter skipped at some checkpoint, in order; a parameter
    skipped (for that reason) at some checkpoints only ends with ``" (at steps [...])"``."""
    steps: dict[tuple[str, str], list[int]] = {}
    entries: dict[tuple[str, str], SkippedParameter] = {}
    for checkpoint in checkpoints:
        for entry in checkpoint.analysis.skipped:
            entries.setdefault((entry.name, entry.reason), entry)
            steps.setdefault((entry.name, entry.reason), []).append(checkpoint.step)
    lines = []
    for key, entry in entries.items():
        partial = "" if len(steps[key]) == len(checkpoints) else f" (at steps {steps[key]})"
        lines.append(f"{entry.name} ({entry.module_class}): {entry.reason}{partial}")
    return lines


def _schedule(every) -> Callable[[int], bool]:
    if callable(every):
        return every
    if isinstance(every, (bool, str)) or not isinstance(every, (int, Iterable)):
        raise TypeError(f"every must be an int, a collection of steps or a callable, got {every!r}")
    if isinstance(every, int):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        return lambda step: step % every == 0
    steps = frozenset(int(s) for s in every)
    return steps.__contains__


class _Idle:
    """The context ``record`` returns on steps that are not recorded."""

    recording = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_IDLE = _Idle()


class _Pending:
    """A checkpoint being gathered: its capture and running sums."""

    def __init__(self, step: int, model: nn.Module, conv_mode: ConvMode):
        self.step = step
        self.capture = LayerCapture(model, conv_mode)
        self.weights = [r.module.weight for r in self.capture.records.values()]
        self.weight_grad_sums = [torch.zeros_like(w, dtype=torch.float64) for w in self.weights]
        self.num_examples = 0
        self.batches = 0
        self.loss_sum = 0.0
        self.loss_examples = 0  # examples whose loss the monitor evaluated
        self.frozen = tuple(r.name for r in self.capture.records.values() if not r.module.weight.requires_grad)


class Monitor:
    """Records the layer-wise conditioning statistics of ``model`` at chosen training steps.

    Args:
        model: Any model :func:`lcsuite.analyze` supports (Linear/Conv2d layers; logits
            ``(N, C)`` for ``fisher="true"``).
        every: Recording schedule: an int ``k`` (steps divisible by ``k``), a collection of
            steps, or a callable ``step -> bool``.
        fisher: ``"empirical"`` (default; the user's backward) or ``"true"`` (extra passes).
        conv_mode: ``"channel"`` (the paper's) or ``"patch"``.
        batches_per_checkpoint: Recorded batches aggregated into one checkpoint.
        loss_reduction: How the user's loss reduces over examples, ``"mean"`` or ``"sum"``.
        ps: Fractions ``p`` of the ``κ_p`` kept in the history and tables.
        rtol: Zero tolerance of the spectra, as in ``analyze`` (``None``: the default).

    Attributes:
        history: :class:`~lcsuite.monitor.history.History` of the finished checkpoints.
        unseen: What the statistics do not cover (see :meth:`unseen`).
    """

    def __init__(self, model: nn.Module, every=100, fisher: FisherType | str = FisherType.EMPIRICAL,
                 conv_mode: ConvMode | str = ConvMode.CHANNEL, batches_per_checkpoint: int = 1,
                 loss_reduction: str = "mean", ps=(1.0, 0.8), rtol: float | None = None):
        self.fisher = FisherType.parse(fisher)
        self.conv_mode = ConvMode.parse(conv_mode)
        if loss_reduction not in REDUCTIONS:
            raise ValueError(f"loss_reduction must be one of {', '.join(REDUCTIONS)}, got {loss_reduction!r}")
        if not isinstance(batches_per_checkpoint, int) or batches_per_checkpoint < 1:
            raise ValueError(f"batches_per_checkpoint must be an int >= 1, got {batches_per_checkpoint!r}")
        layers = require_layers(model, self.conv_mode)
        self.model = model
        self.every = every
        self._is_scheduled = _schedule(every)
        self.batches_per_checkpoint = batches_per_checkpoint
        self.loss_reduction = loss_reduction
        self.ps = tuple(float(p) for p in ps)
        self.rtol = rtol
        self.history = History([name for name, _ in layers], self.ps)
        self._pending: _Pending | None = None
        self._opened_steps: set[int] = set()
        self._warned_modules: set[str] = set()

    # -- recording -------------------------------------------------------------------------
    def is_recording(self, step: int) -> bool:
        """Whether ``record(step)`` records: a checkpoint is being gathered, or ``step`` is
        scheduled and has not opened one yet."""
        return self._pending is not None or (self._is_scheduled(step) and step not in self._opened_steps)

    def record(self, step: int, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None):
        """Context manager around one batch's forward and backward pass at ``step``.

        Args:
            step: The training step (labels the checkpoint).
            inputs: The batch's inputs; required with ``fisher="true"``.
            targets: The batch's integer class targets; required with ``fisher="true"``; with
                the empirical Fisher they fix ``n`` of a mean-reduced loss and give the
                checkpoint's mean cross-entropy.

        Returns:
            An inert context when ``step`` is not recorded, else a recording context whose
            ``recording`` attribute is True.
        """
        if not self.is_recording(step):
            return _IDLE
        if self.fisher is FisherType.TRUE and (inputs is None or targets is None):
            raise ValueError("fisher='true' needs monitor.record(step, inputs=..., targets=...): "
                             "the monitor runs its own passes on that batch")
        if self._pending is None:
            self._pending = _Pending(step, self.model, self.conv_mode)
            self._opened_steps.add(step)
        return _Recording(self, self._pending, inputs, targets)

    def _finish_batch(self, pending: _Pending) -> None:
        pending.batches += 1
        if pending.batches < self.batches_per_checkpoint:
            return
        self._pending = None
        layers, skipped = layer_analyses(pending.capture, pending.weight_grad_sums, pending.num_examples,
                                         self.fisher, self.conv_mode, self.rtol)
        complete = pending.num_examples and pending.loss_examples == pending.num_examples
        mean_loss = pending.loss_sum / pending.num_examples if complete else math.nan
        skipped = skipped_parameters(self.model, [layer.name for layer in layers])
        analysis = Analysis(layers, self.fisher, self.conv_mode, LossType.CROSS_ENTROPY,
                            pending.num_examples, mean_loss, skipped)
        self.history.append(Checkpoint(pending.step, analysis, pending.batches, pending.frozen))
        self._warn_new_unseen(skipped)

    def _warn_new_unseen(self, skipped: list[SkippedParameter]) -> None:
        """One ``UserWarning`` (as ``analyze``'s) for parameterised modules no earlier checkpoint missed."""
        new = [entry for entry in skipped if not entry.expected and entry.module not in self._warned_modules]
        if warn_unseen(new, "lcsuite.Monitor", stacklevel=5):
            self._warned_modules.update(unseen_modules(new))

    def _discard(self) -> None:
        self._pending = None

    # -- results ---------------------------------------------------------------------------
    def unseen(self) -> list[str]:
        """What the statistics do not cover: one line ``"name (Class): reason"`` per parameter
        that a checkpoint's ``Analysis.skipped`` lists (biases and normalisation affine
        parameters included), ``" (at steps [...])"`` added when only some checkpoints skip it.
        Before the first checkpoint: the parameters that no layer of a registered type owns as
        its weight (every such layer assumed used)."""
        if self.history.checkpoints:
            return _unseen_lines(self.history.checkpoints)
        layers = [name for name, _ in supported_layers(self.model)]
        return [f"{entry.name} ({entry.module_class}): {entry.reason}"
                for entry in skipped_parameters(self.model, layers)]

    def table(self, step: int | None = None, tablefmt: str = "simple") -> str:
        """The per-layer table of the checkpoint at ``step`` (default: the last), as
        ``Analysis.to_table``, whose footer names that checkpoint's skipped parameters."""
        if not self.history.checkpoints:
            raise ValueError("no checkpoint recorded yet")
        checkpoint = self.history.checkpoints[-1] if step is None else self.history.checkpoint(step)
        return f"step {checkpoint.step} ({checkpoint.batches} batch(es)) " + \
            checkpoint.analysis.to_table(self.ps, tablefmt)

    def diagnose(self, thresholds: Thresholds = DEFAULT_THRESHOLDS, steps=None) -> list[Finding]:
        """The paper's diagnoses (:func:`lcsuite.monitor.rules.diagnose`) on the history."""
        return diagnose(self.history, thresholds, steps)

    def to_dataframe(self):
        """The history as a long ``pandas.DataFrame`` (one row per checkpoint and layer)."""
        return self.history.to_dataframe()

    def save(self, path) -> Path:
        """Write the history to HDF5 (:func:`lcsuite.monitor.save.save_history`)."""
        from lcsuite.monitor.save import save_history

        return save_history(self, path)

    def plot(self, folder) -> list:
        """PNG figures of the history (:func:`lcsuite.monitor.plotting.plot_history`)."""
        from lcsuite.monitor.plotting import plot_history

        return plot_history(self.history, folder)


class _Recording:
    """The context of one recorded batch (see :meth:`Monitor.record`)."""

    recording = True

    def __init__(self, monitor: Monitor, pending: _Pending, inputs, targets):
        self.monitor, self.pending = monitor, pending
        self.inputs, self.targets = inputs, targets
        self._handles: list = []
        self._state = None
        self._grad_rows_before = 0

    def __enter__(self) -> "_Recording":
        if self.monitor.fisher is FisherType.EMPIRICAL:
            self._attach()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self.monitor.fisher is FisherType.EMPIRICAL:
                self._detach(failed=exc_type is not None)
            elif exc_type is None:
                self._true_fisher_passes()
        except BaseException:
            self.monitor._discard()
            raise
        if exc_type is not None:
            self.monitor._discard()
            return False
        self.monitor._finish_batch(self.pending)
        return False

    # -- empirical Fisher: hooks on the user's own passes ----------------------------------
    def _attach(self) -> None:
        pending = self.pending
        self._state = weights_requiring_grad(self.monitor.model, pending.weights, keep_buffers=False)
        self._state.__enter__()
        pending.capture.grad_scale = 1.0
        pending.capture.__enter__()
        self._handles.append(self.monitor.model.register_forward_hook(self._on_model_output))
        for weight, acc in zip(pending.weights, pending.weight_grad_sums):
            self._handles.append(weight.register_hook(self._weight_grad_hook(acc)))
        self._grad_rows_before = sum(r.num_grad_rows for r in pending.capture.records.values())

    def _weight_grad_hook(self, acc: torch.Tensor):
        capture = self.pending.capture

        def hook(grad):
            acc.add_(grad.detach().to(torch.float64) * capture.grad_scale)

        return hook

    def _on_model_output(self, module, args, output) -> None:
        """Batch size, the mean-loss scale ``n`` and the loss, from the model's output."""
        pending, targets = self.pending, self.targets
        if isinstance(output, torch.Tensor) and output.ndim >= 1:
            batch = output.shape[0]
        elif targets is not None:
            batch = targets.shape[0]
        else:
            raise ValueError("the model output is not a tensor: pass targets to monitor.record(...) "
                             "so that the batch size is known")
        if self.monitor.loss_reduction == "mean":
            if targets is not None:
                terms = targets.numel()
            else:
                terms = output.numel() // output.shape[1] if output.ndim >= 2 else output.shape[0]
            pending.capture.grad_scale = float(terms)
        pending.num_examples += batch
        if targets is not None and isinstance(output, torch.Tensor) and output.ndim == 2:
            logits = output.detach()
            pending.loss_sum += float(nn.functional.cross_entropy(logits, targets.to(logits.device).long(),
                                                                  reduction="sum"))
            pending.loss_examples += batch

    def _detach(self, failed: bool) -> None:
        pending = self.pending
        try:
            pending.capture.remove()
            for handle in self._handles:
                handle.remove()
        finally:
            self._handles.clear()
            self._state.__exit__(None, None, None)
        if failed:
            return
        check_finite_records(pending.capture)
        if sum(r.num_grad_rows for r in pending.capture.records.values()) == self._grad_rows_before:
            raise RuntimeError("monitor.record(...) saw no backward pass: call loss.backward() inside "
                               "the 'with' block (fisher='empirical' records the user's own backward)")

    # -- true Fisher: the monitor's own passes ---------------------------------------------
    def _true_fisher_passes(self) -> None:
        pending, model = self.pending, self.monitor.model
        device = pending.weights[0].device
        devices = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []
        targets = self.targets.to(torch.long)
        with torch.random.fork_rng(devices=devices), weights_requiring_grad(model, pending.weights):
            loss_sum, grads = capture_passes(model, pending.capture, [(self.inputs, targets)], FisherType.TRUE)
        for acc, grad in zip(pending.weight_grad_sums, grads):
            acc.add_(grad)
        pending.num_examples += int(self.inputs.shape[0])
        pending.loss_examples += int(self.inputs.shape[0])
        pending.loss_sum += loss_sum
