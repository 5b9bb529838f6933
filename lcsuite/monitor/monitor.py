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
from lcsuite.conditioning.layer_types import layer_class_names, require_layers, supported_layers
from lcsuite.conditioning.conventions import ConvMode, FisherType, LossType
from lcsuite.conditioning.passes import capture_passes, check_finite_records, weights_requiring_grad
from lcsuite.monitor.history import Checkpoint, History
from lcsuite.monitor.rules import Finding, diagnose
from lcsuite.monitor.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = ["Monitor", "unanalysed_parameters"]

REDUCTIONS = ("mean", "sum")


def unanalysed_parameters(model: nn.Module) -> list[str]:
    """Parameters no Linear/Conv2d layer owns (BatchNorm affine, embeddings, attention's
    ``in_proj_weight``, ...): ``"name (ModuleType)"``, in registration order."""
    analysed = {id(m) for _, m in supported_layers(model)}
    return [f"{prefix + '.' if prefix else ''}{name} ({type(module).__name__})"
            for prefix, module in model.named_modules() if id(module) not in analysed
            for name, _ in module.named_parameters(recurse=False)]


def _unseen_footer(parameters: list[str], unused_layers: list[str]) -> str:
    """``not analysed: ...`` lines: parameters counted by module type, unused layers named."""
    lines = []
    if parameters:
        by_type: dict[str, int] = {}
        for entry in parameters:
            kind = entry.rsplit("(", 1)[-1].rstrip(")")
            by_type[kind] = by_type.get(kind, 0) + 1
        kinds = ", ".join(f"{count} of {kind}" for kind, count in by_type.items())
        lines.append(f"not analysed: {len(parameters)} parameters outside {'/'.join(layer_class_names())} layers ({kinds}; "
                     "Monitor.unseen() names them)")
    if unused_layers:
        lines.append("not analysed: layers unused in the forward pass: " + ", ".join(unused_layers))
    return "".join("\n" + line for line in lines)


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
        analysis = Analysis(layers, self.fisher, self.conv_mode, LossType.CROSS_ENTROPY,
                            pending.num_examples, mean_loss, skipped)
        self.history.append(Checkpoint(pending.step, analysis, pending.batches, pending.frozen))

    def _discard(self) -> None:
        self._pending = None

    # -- results ---------------------------------------------------------------------------
    def unseen(self) -> list[str]:
        """What the statistics do not cover: parameters outside any Linear/Conv2d layer, and
        Linear/Conv2d layers that no recorded forward pass used (``"name (not used at steps
        ...)"``)."""
        unused: dict[str, list[int]] = {}
        for checkpoint in self.history.checkpoints:
            for name in checkpoint.analysis.skipped_layers:
                unused.setdefault(name, []).append(checkpoint.step)
        return unanalysed_parameters(self.model) + [
            f"{name} (not used in the forward pass at steps {steps})" for name, steps in unused.items()]

    def table(self, step: int | None = None, tablefmt: str = "simple") -> str:
        """The per-layer table of the checkpoint at ``step`` (default: the last), as
        ``Analysis.to_table``, with the unseen parameters and layers as a footer."""
        if not self.history.checkpoints:
            raise ValueError("no checkpoint recorded yet")
        checkpoint = self.history.checkpoints[-1] if step is None else self.history.checkpoint(step)
        table = f"step {checkpoint.step} ({checkpoint.batches} batch(es)) " + \
            checkpoint.analysis.to_table(self.ps, tablefmt)
        return table + _unseen_footer(unanalysed_parameters(self.model), checkpoint.analysis.skipped_layers)

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
