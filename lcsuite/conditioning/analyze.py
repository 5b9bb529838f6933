"""``analyze``: the layer-wise conditioning analysis of a model on a batch of data.

For every layer ``k`` of a registered layer type (``nn.Linear``, ``nn.Conv2d``, others by
registration: :mod:`lcsuite.conditioning.layer_types`) it reports the spectra of
``Sx = E[x xᵀ]`` and ``Sg = E[g gᵀ]`` (see :mod:`lcsuite.conditioning.capture` for rows and
normalisation), the Kronecker (sub-FIM approximation) quantities of ``Sx ⊗ Sg`` through
Proposition 1, magnitudes, dying/full units and the weight-domination ratio. Every other
parameter of the model is listed in ``Analysis.skipped`` with its reason, named in the table's
footer, and warned about unless skipped by construction (:mod:`lcsuite.conditioning.coverage`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tabulate import tabulate
from torch import nn

from lcsuite.conditioning.capture import LayerCapture, LayerRecord
from lcsuite.conditioning.conventions import ConvMode, FisherType, LossType
from lcsuite.conditioning.coverage import SkipCategory, SkippedParameter, coverage_footer, skipped_parameters
from lcsuite.conditioning.coverage import warn_unseen
from lcsuite.conditioning.layer_types import layer_class_names
from lcsuite.conditioning.passes import capture_passes, weights_requiring_grad
from lcsuite.conditioning.spectrum import (
    default_rtol,
    kappa,
    kronecker_spectrum,
    nonzero_spectrum,
    symmetric_spectrum,
)
from lcsuite.conditioning.statistics import weight_domination_ratio

__all__ = ["analyze", "Analysis", "LayerAnalysis", "layer_analyses"]

_FACTORS = ("fim", "input", "grad")


@dataclass
class LayerAnalysis:
    """Conditioning of one layer.

    Attributes:
        name: Module path in the model.
        kind: The layer type's kind (``"linear"``, ``"conv2d"``, ...).
        weight_shape: Shape of the layer's weight.
        input_spectrum: Eigenvalues of ``Sx``, descending float64, shape ``(d_in,)``.
        grad_spectrum: Eigenvalues of ``Sg``, descending float64, shape ``(d_out,)``.
        input_rtol / grad_rtol: Zero tolerances used for ``Sx`` / ``Sg``.
        input_magnitude / grad_magnitude: ``sqrt(E‖x‖²) = sqrt(trace Sx)``, likewise for g.
        dying_units / full_units: Input units (features, or channels of a conv) that are zero
            for every example / positive for every example; ``num_units`` in total.
        weight_domination_ratio: ``σ_max(∂L/∂W) / σ_max(W)``, ``L`` the mean loss on the
            data labels.
        num_examples: ``N``, the examples along dim 0 of the layer's inputs, summed over the
            forward passes (a layer called twice per forward pass counts them twice).
        num_rows: ``M``, the rows of ``X`` (``Sx = XᵀX / M``): ``N`` for a Linear on
            ``(N, d_in)``, ``N·T`` for a Linear on tokens ``(N, T, d_in)``, ``N·H·W`` for a
            conv in channel mode, ``N·L`` in patch mode (see :mod:`~lcsuite.conditioning.capture`).
        fisher, conv_mode: Conventions the statistics were taken with.
        rtol: The tolerance that was asked for (``None``: dtype-dependent default).
    """

    name: str
    kind: str
    weight_shape: tuple
    input_spectrum: torch.Tensor
    grad_spectrum: torch.Tensor
    input_rtol: float
    grad_rtol: float
    input_magnitude: float
    grad_magnitude: float
    dying_units: int
    full_units: int
    num_units: int
    weight_domination_ratio: float
    num_examples: int
    num_rows: int
    fisher: FisherType
    conv_mode: ConvMode
    rtol: float | None
    _fim_spectrum: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def input_lambda_max(self) -> float:
        """``λ_max(Sx)``."""
        return max(float(self.input_spectrum[0]), 0.0)

    @property
    def grad_lambda_max(self) -> float:
        """``λ_max(Sg)``."""
        return max(float(self.grad_spectrum[0]), 0.0)

    @property
    def lambda_max(self) -> float:
        """``λ_max(Sx ⊗ Sg) = λ_max(Sx) · λ_max(Sg)`` (Proposition 1)."""
        return self.input_lambda_max * self.grad_lambda_max

    def fim_spectrum(self) -> torch.Tensor:
        """Nonzero spectrum of ``Sx ⊗ Sg``: outer product of the factors' nonzero spectra.

        Zero-ness is decided in each factor (with its own tolerance) because the rank of a
        Kronecker product is the product of the ranks; no further threshold is applied.
        """
        if self._fim_spectrum is None:  # d_in·d_out values: computed once, kept
            a = nonzero_spectrum(self.input_spectrum, self.input_rtol)
            b = nonzero_spectrum(self.grad_spectrum, self.grad_rtol)
            empty = a.numel() == 0 or b.numel() == 0
            self._fim_spectrum = torch.zeros(0, dtype=torch.float64) if empty else kronecker_spectrum(a, b)
        return self._fim_spectrum

    def kappa(self, p: float = 1.0, of: str = "fim") -> float:
        """``kappa_p`` of ``Sx ⊗ Sg`` (``of="fim"``), ``Sx`` (``"input"``) or ``Sg`` (``"grad"``).

        ``inf`` when the matrix has no nonzero eigenvalue.
        """
        if of == "input":
            return kappa(self.input_spectrum, p, self.input_rtol)
        if of == "grad":
            return kappa(self.grad_spectrum, p, self.grad_rtol)
        if of == "fim":
            spectrum = self.fim_spectrum()
            if spectrum.numel() == 0:
                return kappa(torch.zeros(1, dtype=torch.float64), p)  # validates p, gives inf
            return kappa(spectrum, p, rtol=0.0)
        raise ValueError(f"unknown factor {of!r}; expected one of {', '.join(_FACTORS)}")

    def to_dict(self) -> dict:
        """Plain-data view (lists, floats, strings) for storage."""
        return {
            "name": self.name,
            "kind": self.kind,
            "weight_shape": list(self.weight_shape),
            "input_spectrum": self.input_spectrum.tolist(),
            "grad_spectrum": self.grad_spectrum.tolist(),
            "input_rtol": self.input_rtol,
            "grad_rtol": self.grad_rtol,
            "lambda_max": self.lambda_max,
            "input_lambda_max": self.input_lambda_max,
            "grad_lambda_max": self.grad_lambda_max,
            "kappa": {of: self.kappa(1.0, of) for of in _FACTORS},
            "input_magnitude": self.input_magnitude,
            "grad_magnitude": self.grad_magnitude,
            "dying_units": self.dying_units,
            "full_units": self.full_units,
            "num_units": self.num_units,
            "weight_domination_ratio": self.weight_domination_ratio,
            "num_examples": self.num_examples,
            "num_rows": self.num_rows,
            "fisher": self.fisher.value,
            "conv_mode": self.conv_mode.value,
            "rtol": self.rtol,
        }


@dataclass
class Analysis:
    """Result of :func:`analyze`: one :class:`LayerAnalysis` per layer, in module order.

    Attributes:
        layers: The analysed layers (registered layer type, used in the forward pass).
        skipped: Every other parameter of the model, with its owner module and the reason
            (:class:`~lcsuite.conditioning.coverage.SkippedParameter`); the analysed layers'
            weights and these are exactly ``model.named_parameters()``.
        fisher, conv_mode, loss, num_examples, mean_loss: As :func:`analyze` measured them.
    """

    layers: list[LayerAnalysis]
    fisher: FisherType
    conv_mode: ConvMode
    loss: LossType
    num_examples: int
    mean_loss: float
    skipped: list[SkippedParameter] = field(default_factory=list)

    @property
    def skipped_layers(self) -> list[str]:
        """Module paths of the layers of a registered type that the forward pass did not call
        (``nn.MultiheadAttention``'s ``out_proj``, unused layers), in module order."""
        return list(dict.fromkeys(p.module for p in self.skipped if p.category is SkipCategory.UNUSED_LAYER))

    def __getitem__(self, name: str) -> LayerAnalysis:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_table(self, ps=(1.0, 0.8), tablefmt: str = "simple") -> str:
        """Per-layer table: λ_max and kappa_p of ``Sx ⊗ Sg``, ``Sx`` and ``Sg`` for each ``p``,
        magnitudes, dying/full units and the weight-domination ratio."""
        headers = ["layer", "kind", "λmax(F)", "λmax(Sx)", "λmax(Sg)"]
        for p in ps:
            tag = f"{100 * p:g}%"
            headers += [f"κ{tag}(F)", f"κ{tag}(Sx)", f"κ{tag}(Sg)"]
        headers += ["|x|", "|g|", "dying", "full", "‖∇W‖/‖W‖"]
        rows = []
        for layer in self.layers:
            row = [layer.name, layer.kind, layer.lambda_max, layer.input_lambda_max,
                   layer.grad_lambda_max]
            for p in ps:
                row += [layer.kappa(p, of) for of in _FACTORS]
            row += [layer.input_magnitude, layer.grad_magnitude,
                    f"{layer.dying_units}/{layer.num_units}",
                    f"{layer.full_units}/{layer.num_units}", layer.weight_domination_ratio]
            rows.append(row)
        title = (f"fisher={self.fisher.value} conv_mode={self.conv_mode.value} "
                 f"N={self.num_examples} mean loss={self.mean_loss:.4g}")
        return (title + "\n" + tabulate(rows, headers=headers, tablefmt=tablefmt, floatfmt=".3g")
                + "\n" + self.coverage())

    def coverage(self) -> str:
        """The table's footer: the share of parameters analysed, and the skipped parameters
        grouped by reason (:func:`~lcsuite.conditioning.coverage.coverage_footer`). Each
        analysed layer counts its weight once."""
        analysed_values = sum(math.prod(layer.weight_shape) for layer in self.layers)
        return coverage_footer(self.skipped, len(self.layers) + len(self.skipped),
                               analysed_values + sum(p.numel for p in self.skipped))

    def to_dict(self) -> dict:
        """Plain-data view for storage."""
        return {
            "fisher": self.fisher.value,
            "conv_mode": self.conv_mode.value,
            "loss": self.loss.value,
            "num_examples": self.num_examples,
            "mean_loss": self.mean_loss,
            "skipped": [entry.to_dict() for entry in self.skipped],
            "skipped_layers": self.skipped_layers,
            "layers": [layer.to_dict() for layer in self.layers],
        }


def _check_data(inputs, targets):
    if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("inputs and targets must be tensors")
    if inputs.ndim == 0 or inputs.shape[0] == 0:
        raise ValueError("empty data: inputs must hold at least one example")
    if targets.ndim != 1:
        raise ValueError(f"targets must be 1-D class indices, got shape {tuple(targets.shape)}")
    if targets.dtype.is_floating_point or targets.dtype.is_complex or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
    if targets.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"targets length {targets.shape[0]} differs from inputs length {inputs.shape[0]}"
        )
    if inputs.is_floating_point() and not torch.isfinite(inputs).all():
        raise ValueError("inputs contain non-finite values")


def _batches(inputs: torch.Tensor, targets: torch.Tensor, batch_size: int | None) -> list:
    """``[(inputs chunk, long targets chunk)]`` of ``batch_size`` examples (None: one batch)."""
    _check_data(inputs, targets)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    targets = targets.to(torch.long)
    step = inputs.shape[0] if batch_size is None else batch_size
    return [(inputs[start:start + step], targets[start:start + step]) for start in range(0, inputs.shape[0], step)]


def _layer_analysis(record: LayerRecord, weight_grad, fisher, conv_mode, rtol) -> LayerAnalysis:
    weight = record.module.weight
    sx = record.input_covariance()
    if record.grad_gram is None:  # the layer's output does not reach the loss
        sg = torch.zeros(weight.shape[0], weight.shape[0], dtype=torch.float64)
    else:
        sg = record.grad_covariance()
    dtype = record.input_dtype or weight.dtype
    return LayerAnalysis(
        name=record.name,
        kind=record.kind,
        weight_shape=tuple(weight.shape),
        input_spectrum=symmetric_spectrum(sx),
        grad_spectrum=symmetric_spectrum(sg),
        input_rtol=default_rtol(sx.shape[0], dtype) if rtol is None else float(rtol),
        grad_rtol=default_rtol(sg.shape[0], dtype) if rtol is None else float(rtol),
        input_magnitude=math.sqrt(max(float(torch.trace(sx)), 0.0)),
        grad_magnitude=math.sqrt(max(float(torch.trace(sg)), 0.0)),
        dying_units=int((~record.unit_ever_nonzero).sum()),
        full_units=int(record.unit_always_positive.sum()),
        num_units=int(record.unit_ever_nonzero.numel()),
        weight_domination_ratio=weight_domination_ratio(weight_grad, weight),
        num_examples=record.num_examples,
        num_rows=record.num_rows,
        fisher=fisher,
        conv_mode=conv_mode,
        rtol=rtol,
    )


def layer_analyses(
    capture: LayerCapture,
    weight_grad_sums: list[torch.Tensor],
    num_examples: int,
    fisher: FisherType,
    conv_mode: ConvMode,
    rtol: float | None = None,
) -> tuple[list[LayerAnalysis], list[str]]:
    """Turn a capture's records into :class:`LayerAnalysis` objects.

    Args:
        capture: The capture after its passes (records in module order).
        weight_grad_sums: Per record (same order), the sum over examples of the per-example
            weight gradients, i.e. the gradient of the sum-reduced loss; divided by
            ``num_examples`` it is the mean-loss gradient of the weight-domination ratio.
        num_examples: ``N`` of the data the passes saw.
        fisher / conv_mode / rtol: As for :func:`analyze`.

    Returns:
        ``(layers that saw input rows, names of the layers that did not)``.
    """
    layers, skipped = [], []
    for record, grad_sum in zip(capture.records.values(), weight_grad_sums):
        if record.num_rows == 0:
            skipped.append(record.name)
            continue
        layers.append(_layer_analysis(record, grad_sum / num_examples, fisher, conv_mode, rtol))
    return layers, skipped


def analyze(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    fisher: FisherType | str = FisherType.EMPIRICAL,
    conv_mode: ConvMode | str = ConvMode.CHANNEL,
    loss: LossType | str = LossType.CROSS_ENTROPY,
    rtol: float | None = None,
    batch_size: int | None = None,
) -> Analysis:
    """Layer-wise conditioning analysis of ``model`` on ``(inputs, targets)``.

    Args:
        model: Any ``nn.Module`` mapping ``inputs`` to logits ``(N, C)``; used in its current
            train/eval mode. Its parameters, ``requires_grad`` flags, ``.grad`` and buffers
            (BatchNorm running statistics) are as before afterwards; hooks are removed even
            on error.
        inputs: ``(N, ...)`` examples.
        targets: ``(N,)`` integer class indices in ``[0, C)``.
        fisher: ``"empirical"`` (data labels: per-example gradients of the sum-reduced loss)
            or ``"true"`` (model's labels, exact expectation over classes).
        conv_mode: ``"channel"`` (paper) or ``"patch"`` (K-FAC expand).
        loss: Only ``"cross_entropy"``.
        rtol: Zero tolerance for kappa; ``None`` uses
            :func:`lcsuite.conditioning.spectrum.default_rtol` per matrix, from its size and
            the dtype of the layer inputs.
        batch_size: Process the data in chunks of this size (statistics accumulate; with
            BatchNorm in train mode the chunk is the batch). ``None``: one batch.

    Returns:
        :class:`Analysis`: the analysed layers, and in ``skipped`` every other parameter of
        the model with its reason (:mod:`lcsuite.conditioning.coverage`).

    Warns:
        UserWarning: Once, naming the parameterised modules the analysis does not see
            (attention projections, embeddings, layers without a registered type, layers not
            called through their module); biases of analysed layers and normalisation
            affine parameters are expected and not warned about.

    Raises:
        ValueError: No layer of a registered layer type; empty data; targets of the wrong length, dtype
            or out of class range; non-finite inputs, logits, layer inputs or output-gradients
            (the layer is named); unknown ``fisher``, ``conv_mode`` or ``loss``.
    """
    fisher, conv_mode, loss = FisherType.parse(fisher), ConvMode.parse(conv_mode), LossType.parse(loss)
    batches = _batches(inputs, targets, batch_size)
    capture = LayerCapture(model, conv_mode)
    weights = [record.module.weight for record in capture.records.values()]
    with weights_requiring_grad(model, weights):
        loss_total, weight_grad_sums = capture_passes(model, capture, batches, fisher)
    num_examples = inputs.shape[0]
    layers, _ = layer_analyses(capture, weight_grad_sums, num_examples, fisher, conv_mode, rtol)
    if not layers:
        raise ValueError(f"no {' or '.join(layer_class_names())} layer was used in the forward pass")
    skipped = skipped_parameters(model, [layer.name for layer in layers])
    warn_unseen(skipped, "lcsuite.analyze", stacklevel=3)
    return Analysis(layers, fisher, conv_mode, loss, num_examples, loss_total / num_examples, skipped)
