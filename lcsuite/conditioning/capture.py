"""Capture of layer inputs and output-gradients of every layer the analysis covers.

:class:`LayerCapture` hooks the layers of any model whose class has a layer type
(:mod:`lcsuite.conditioning.layer_types`: ``nn.Linear`` and ``nn.Conv2d`` built in, others by
registration; BatchNorm, pooling, activations and residual additions pass through untouched)
and turns, per layer, the input ``x`` and the output-gradient ``g`` into 2-D row matrices:

- ``nn.Linear`` on ``(N, d_in)``: ``X (N, d_in)``, ``G (N, d_out)``.
- ``nn.Linear`` on tokens ``(N, T, d_in)`` (a transformer's MLP block; any number of middle
  dims): each token is one row, as each spatial position is in a conv's channel mode:
  ``X (N·T, d_in)``, ``G (N·T, d_out)``, ``M_x = M_g = N·T``. Dim 0 holds the examples
  (``num_examples = N``). The row of token ``t`` of example ``i`` is ``∂ℓ_i/∂h_{i,t}``: the
  tokens of one example share its loss ``ℓ_i`` (attention may couple them). A sequence-first
  layout ``(T, N, d_in)`` gives the same rows, ``Sx`` and ``Sg``, but ``num_examples = T``.
- ``nn.Conv2d`` in :attr:`ConvMode.CHANNEL` (each spatial position is an example):
  ``X (N·H·W, C_in)``, ``G (N·H'·W', C_out)``.
- ``nn.Conv2d`` in :attr:`ConvMode.PATCH` (K-FAC "expand"): ``X (N·L, C_in·kh·kw)`` from
  ``torch.nn.functional.unfold`` with the layer's stride, padding and dilation (columns in
  the order of ``weight.reshape(C_out, -1)``), ``G (N·L, C_out)``; ``groups == 1`` only.

Output-gradient rows are gradients of whatever scalar is backpropagated with respect to the
layer output. With the sum-reduced loss ``Σ_i ℓ_i`` the row of example ``i`` is
``dℓ_i/dh_i`` (per-example gradients). With BatchNorm in train mode the examples of a batch
are coupled through the batch statistics, and the row is then the ``i``-th row of the
gradient of the summed batch loss, as the paper's official code measures.

Statistics accumulate in float64 running sums (``XᵀX``, ``GᵀG``, row counts), so memory does
not grow with ``N``; ``keep_rows=True`` also keeps the raw rows (small cases, tests).
Normalisation: ``Sx = XᵀX / M_x`` and ``Sg = (Σ over backward passes of GᵀG) / M_g``, with
``M_x`` the number of input rows and ``M_g`` the number of output rows seen in forward passes
(``N`` for Linear; ``N·H·W`` and ``N·H'·W'`` for a conv in channel mode, which differ when the
conv changes the spatial size; both ``N·L`` in patch mode). Several backward passes through
one forward pass (e.g. one per class for the true Fisher) therefore add up, weighted by
whatever the backpropagated scalars carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lcsuite.conditioning.conventions import ConvMode
from lcsuite.conditioning.layer_types import LayerType, layer_type_of, require_layers, supported_layers

__all__ = ["LayerCapture", "LayerRecord", "supported_layers", "input_rows", "grad_rows"]


def _layer_type(module: nn.Module) -> LayerType:
    layer_type = layer_type_of(module)
    if layer_type is None:
        raise TypeError(f"{type(module).__name__} has no registered layer type (see lcsuite.conditioning.layer_types)")
    return layer_type


def input_rows(module: nn.Module, x: torch.Tensor, conv_mode: ConvMode | str) -> torch.Tensor:
    """The layer input ``x`` as the row matrix ``X`` described in the module docstring."""
    return _layer_type(module).input_rows(module, x.detach(), ConvMode.parse(conv_mode))


def grad_rows(module: nn.Module, g: torch.Tensor) -> torch.Tensor:
    """The output-gradient ``g`` as the row matrix ``G`` (same rows in both conv modes)."""
    return _layer_type(module).grad_rows(module, g.detach())


@dataclass
class LayerRecord:
    """Running float64 statistics of one layer.

    Attributes:
        name: Module path in the model (``model.get_submodule(name)``).
        module: The layer.
        kind: The layer type's kind (``"linear"``, ``"conv2d"``, ...).
        input_gram: ``XᵀX``, shape ``(d_in, d_in)`` (``d_in = C_in·kh·kw`` in patch mode).
        grad_gram: ``Σ GᵀG`` over backward passes, shape ``(d_out, d_out)``.
        num_rows: ``M_x``, rows of ``X`` seen in forward passes.
        num_output_rows: ``M_g``, rows the layer outputs gave in forward passes.
        num_examples: ``N``, examples seen in forward passes (leading batch dimension).
        num_grad_rows: Rows of ``G`` seen over all backward passes.
        unit_ever_nonzero / unit_always_positive: Boolean masks over input units (features
            or channels), for dying and full units.
        input_row_batches / grad_row_batches: Raw float64 rows when ``keep_rows``.
        nonfinite: Set to ``"input"`` or ``"output-gradient"`` when a non-finite value was seen
            (detected on the diagonal of the batch's float64 Gram matrix, see
            :func:`_finite_gram`).
        layer_type: The :class:`~lcsuite.conditioning.layer_types.LayerType` giving the rows.
    """

    name: str
    module: nn.Module
    kind: str
    input_gram: torch.Tensor | None = None
    grad_gram: torch.Tensor | None = None
    num_rows: int = 0
    num_output_rows: int = 0
    num_examples: int = 0
    num_grad_rows: int = 0
    unit_ever_nonzero: torch.Tensor | None = None
    unit_always_positive: torch.Tensor | None = None
    input_row_batches: list = field(default_factory=list)
    grad_row_batches: list = field(default_factory=list)
    nonfinite: str | None = None
    input_dtype: torch.dtype | None = None
    layer_type: LayerType | None = field(default=None, repr=False, compare=False)

    def add_input(self, x: torch.Tensor, output: torch.Tensor, conv_mode: ConvMode, keep_rows: bool) -> None:
        """Accumulate one forward pass: its input ``x`` and the row count of its ``output``."""
        layer_type = self.layer_type
        x = x.detach()
        self.input_dtype = x.dtype
        self.num_examples += layer_type.num_examples(x)
        rows = layer_type.input_rows(self.module, x, conv_mode).to(torch.float64)
        gram = _gram(rows)
        if self.nonfinite is None and not _finite_gram(gram):
            self.nonfinite = "input"
        self.input_gram = _add(self.input_gram, gram)
        self.num_rows += rows.shape[0]
        self.num_output_rows += layer_type.num_output_rows(output)
        ever_nonzero, always_positive = layer_type.unit_masks(self.module, x)
        if self.unit_ever_nonzero is None:
            self.unit_ever_nonzero, self.unit_always_positive = ever_nonzero, always_positive
        else:
            self.unit_ever_nonzero |= ever_nonzero
            self.unit_always_positive &= always_positive
        if keep_rows:  # a copy: float64 rows may be a view of the caller's tensor
            self.input_row_batches.append(rows.clone())

    def add_grad(self, grad: torch.Tensor, scale: float, keep_rows: bool) -> None:
        """Accumulate one output-gradient, its rows multiplied by ``scale``."""
        rows = self.layer_type.grad_rows(self.module, grad.detach()).to(torch.float64)
        if scale != 1.0:  # out of place: the rows may be autograd's own tensor
            rows = rows * scale
        gram = _gram(rows)
        if self.nonfinite is None and not _finite_gram(gram):
            self.nonfinite = "output-gradient"
        self.grad_gram = _add(self.grad_gram, gram)
        self.num_grad_rows += rows.shape[0]
        if keep_rows:
            self.grad_row_batches.append(rows.clone())

    def input_covariance(self) -> torch.Tensor:
        """``Sx = XᵀX / M_x``, float64, shape ``(d_in, d_in)``."""
        self._require_rows()
        return self.input_gram / self.num_rows

    def grad_covariance(self) -> torch.Tensor:
        """``Sg = Σ GᵀG / M_g``, float64, shape ``(d_out, d_out)``."""
        self._require_rows()
        if self.grad_gram is None:
            raise ValueError(f"layer {self.name!r}: no output-gradient was recorded")
        return self.grad_gram / self.num_output_rows

    def input_rows(self) -> torch.Tensor:
        """All kept input rows ``X`` (``keep_rows=True`` only), float64 ``(M, d_in)``."""
        return torch.cat(self.input_row_batches) if self.input_row_batches else None

    def grad_rows(self) -> torch.Tensor:
        """All kept output-gradient rows ``G`` (``keep_rows=True`` only)."""
        return torch.cat(self.grad_row_batches) if self.grad_row_batches else None

    def _require_rows(self):
        if self.num_rows == 0:
            raise ValueError(f"layer {self.name!r} saw no input rows (was it used in forward?)")


def _add(acc: torch.Tensor | None, value: torch.Tensor) -> torch.Tensor:
    return value if acc is None else acc.add_(value)


def _gram(rows: torch.Tensor) -> torch.Tensor:
    """``RᵀR`` of float64 rows ``R (M, d)``, float64 ``(d, d)``, exactly symmetric on CPU.

    On CPU the product goes through NumPy, whose ``matmul`` recognises ``Aᵀ @ A`` on one
    buffer and calls BLAS ``dsyrk``: one triangle is computed (half the multiply-adds of the
    general product ``rows.T @ rows``) and mirrored. Still a float64 product of the same rows;
    only the order of the float64 additions differs. Elsewhere (CUDA) it is ``rows.T @ rows``.
    """
    if (rows.device.type == "cpu" and type(rows) is torch.Tensor and rows.ndim == 2
            and rows.dtype == torch.float64 and rows.layout == torch.strided
            and not rows.is_neg() and not rows.is_conj()):
        a = rows.contiguous().numpy()
        with np.errstate(all="ignore"):  # non-finite rows are reported through `nonfinite`
            return torch.from_numpy(a.T @ a)
    return rows.T @ rows


def _finite_gram(gram: torch.Tensor) -> bool:
    """Whether the float64 Gram matrix ``RᵀR`` of a batch of rows ``R`` is finite.

    Its diagonal holds the column sums of squares ``Σ_i r_ij²``, which are non-finite exactly
    when a column holds a NaN or an infinity (a NaN or ``inf²`` makes the sum NaN or ``+inf``),
    or, for float64 rows only, when finite entries above ``~1e154`` overflow the sum (the
    statistic itself is then non-finite). Checking ``d`` diagonal entries replaces a pass over
    all ``M·d`` row entries.
    """
    return bool(torch.isfinite(gram.diagonal()).all())


class LayerCapture:
    """Context manager recording ``X``/``G`` statistics of every layer with a layer type.

    Example::

        with LayerCapture(model, conv_mode="channel") as capture:
            loss = F.cross_entropy(model(x), y, reduction="sum")
            torch.autograd.grad(loss, params)
        Sx = capture.records["fc1"].input_covariance()

    Args:
        model: Any ``nn.Module`` with at least one layer of a registered layer type.
        conv_mode: :class:`ConvMode` or its string.
        keep_rows: Also keep the raw float64 rows.
        record_gradients: Whether output-gradients are recorded; can be toggled between
            backward passes through the attribute of the same name.
        grad_scale: Factor applied to every output-gradient row before it is accumulated
            (attribute of the same name, settable per batch). ``1``: the backpropagated scalar
            is the sum-reduced loss. A mean-reduced loss over ``N`` terms gives rows ``1/N``
            times the per-example gradients; ``grad_scale = N`` restores them.

    Raises:
        ValueError: The model has no layer of a registered type; unknown ``conv_mode``; a
            layer that ``"patch"`` mode cannot unfold.
    """

    def __init__(
        self,
        model: nn.Module,
        conv_mode: ConvMode | str = ConvMode.CHANNEL,
        keep_rows: bool = False,
        record_gradients: bool = True,
        grad_scale: float = 1.0,
    ):
        self.conv_mode = ConvMode.parse(conv_mode)
        layers = require_layers(model, self.conv_mode)
        self.model = model
        self.keep_rows = keep_rows
        self.record_gradients = record_gradients
        self.grad_scale = grad_scale
        self.records: dict[str, LayerRecord] = {}
        for name, module in layers:
            layer_type = layer_type_of(module)
            self.records[name] = LayerRecord(name, module, layer_type.kind, layer_type=layer_type)
        self._handles: list = []

    def __enter__(self) -> "LayerCapture":
        for record in self.records.values():
            self._handles.append(
                record.module.register_forward_hook(self._make_forward_hook(record))
            )
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove all hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _make_forward_hook(self, record: LayerRecord):
        def forward_hook(module, args, output):
            record.add_input(args[0], output, self.conv_mode, self.keep_rows)
            if output.requires_grad:
                # A tensor hook (not a module backward hook) sees the gradient w.r.t. the
                # output even when an in-place activation later overwrites that output.
                output.register_hook(self._make_grad_hook(record))

        return forward_hook

    def _make_grad_hook(self, record: LayerRecord):
        def grad_hook(grad):
            if self.record_gradients:
                record.add_grad(grad, self.grad_scale, self.keep_rows)
            return None

        return grad_hook
