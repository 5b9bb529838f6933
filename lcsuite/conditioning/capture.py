"""Capture of layer inputs and output-gradients of every ``nn.Linear`` and ``nn.Conv2d``.

:class:`LayerCapture` hooks the layers of any model (BatchNorm, pooling, activations and
residual additions pass through untouched) and turns, per layer, the input ``x`` and the
output-gradient ``g`` into 2-D row matrices:

- ``nn.Linear``: ``X (N, d_in)``, ``G (N, d_out)``; leading dimensions are flattened into
  rows (an input ``(N, T, d_in)`` gives ``N·T`` rows).
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

__all__ = ["LayerCapture", "LayerRecord", "supported_layers", "input_rows", "grad_rows"]

SUPPORTED_LAYER_TYPES = (nn.Linear, nn.Conv2d)


def supported_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(module path, module)`` of every ``nn.Linear`` / ``nn.Conv2d``, in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SUPPORTED_LAYER_TYPES)]


def _conv_padding(module: nn.Conv2d) -> tuple[int, int]:
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return (0, 0)
        raise ValueError(
            f"conv_mode 'patch' does not support padding={module.padding!r}; "
            "use integer padding or conv_mode 'channel'"
        )
    return tuple(module.padding)


def check_patch_mode_supported(name: str, module: nn.Module) -> None:
    """Raise ``ValueError`` when ``module`` cannot be unfolded into im2col patches."""
    if not isinstance(module, nn.Conv2d):
        return
    if module.groups != 1:
        raise ValueError(
            f"layer {name!r}: conv_mode 'patch' supports groups == 1 only, got "
            f"groups={module.groups}; use conv_mode 'channel'"
        )
    if module.padding_mode != "zeros":
        raise ValueError(
            f"layer {name!r}: conv_mode 'patch' supports padding_mode 'zeros' only, got "
            f"{module.padding_mode!r}; use conv_mode 'channel'"
        )
    _conv_padding(module)


def _batched_conv_tensor(t: torch.Tensor) -> torch.Tensor:
    return t.unsqueeze(0) if t.ndim == 3 else t


def input_rows(module: nn.Module, x: torch.Tensor, conv_mode: ConvMode | str) -> torch.Tensor:
    """The layer input ``x`` as the row matrix ``X`` described in the module docstring."""
    conv_mode = ConvMode.parse(conv_mode)
    x = x.detach()
    if isinstance(module, nn.Linear):
        return x.reshape(-1, x.shape[-1])
    x = _batched_conv_tensor(x)
    if conv_mode is ConvMode.CHANNEL:
        return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
    patches = torch.nn.functional.unfold(
        x,
        kernel_size=module.kernel_size,
        dilation=module.dilation,
        padding=_conv_padding(module),
        stride=module.stride,
    )  # (N, C_in·kh·kw, L)
    return patches.transpose(1, 2).reshape(-1, patches.shape[1])


def grad_rows(module: nn.Module, g: torch.Tensor) -> torch.Tensor:
    """The output-gradient ``g`` as the row matrix ``G`` (same rows in both conv modes)."""
    g = g.detach()
    if isinstance(module, nn.Linear):
        return g.reshape(-1, g.shape[-1])
    g = _batched_conv_tensor(g)
    return g.permute(0, 2, 3, 1).reshape(-1, g.shape[1])


def _unit_masks(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ever_nonzero, always_positive)`` boolean masks over the input units of one batch.

    Units are input features (Linear) or input channels (Conv2d), whatever the conv mode.
    Computed from each unit's minimum and maximum over the batch (two cheap reductions, no
    row matrix and no boolean temporaries): a unit is nonzero somewhere unless its minimum and
    maximum are both zero (a NaN counts as nonzero, as ``x != 0`` does), and positive
    everywhere exactly when its minimum is.
    """
    x = x.detach()
    if isinstance(module, nn.Linear):
        dims = tuple(range(x.ndim - 1))
    else:
        x = _batched_conv_tensor(x)
        dims = (0, 2, 3)
    if x.numel() == 0:  # no rows: no unit is nonzero, every unit is (vacuously) positive
        units = x.shape[-1] if isinstance(module, nn.Linear) else x.shape[1]
        return (torch.zeros(units, dtype=torch.bool, device=x.device),
                torch.ones(units, dtype=torch.bool, device=x.device))
    if not dims:  # an unbatched Linear input: one row
        low = high = x
    else:
        low, high = x.amin(dim=dims), x.amax(dim=dims)
    return ~((low == 0) & (high == 0)), low > 0


@dataclass
class LayerRecord:
    """Running float64 statistics of one layer.

    Attributes:
        name: Module path in the model (``model.get_submodule(name)``).
        module: The layer.
        kind: ``"linear"`` or ``"conv2d"``.
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
    """Context manager recording ``X``/``G`` statistics of every Linear and Conv2d layer.

    Example::

        with LayerCapture(model, conv_mode="channel") as capture:
            loss = F.cross_entropy(model(x), y, reduction="sum")
            torch.autograd.grad(loss, params)
        Sx = capture.records["fc1"].input_covariance()

    Args:
        model: Any ``nn.Module`` with at least one Linear/Conv2d layer.
        conv_mode: :class:`ConvMode` or its string.
        keep_rows: Also keep the raw float64 rows.
        record_gradients: Whether output-gradients are recorded; can be toggled between
            backward passes through the attribute of the same name.
        grad_scale: Factor applied to every output-gradient row before it is accumulated
            (attribute of the same name, settable per batch). ``1``: the backpropagated scalar
            is the sum-reduced loss. A mean-reduced loss over ``N`` terms gives rows ``1/N``
            times the per-example gradients; ``grad_scale = N`` restores them.

    Raises:
        ValueError: The model has no Linear/Conv2d layer; unknown ``conv_mode``; a Conv2d
            that ``"patch"`` mode cannot unfold.
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
        layers = supported_layers(model)
        if not layers:
            raise ValueError(
                f"{type(model).__name__} has no nn.Linear or nn.Conv2d layer to analyse"
            )
        if self.conv_mode is ConvMode.PATCH:
            for name, module in layers:
                check_patch_mode_supported(name, module)
        self.model = model
        self.keep_rows = keep_rows
        self.record_gradients = record_gradients
        self.grad_scale = grad_scale
        self.records: dict[str, LayerRecord] = {
            name: LayerRecord(name, m, "linear" if isinstance(m, nn.Linear) else "conv2d")
            for name, m in layers
        }
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
            x = args[0]
            record.input_dtype = x.dtype
            batch = _batched_conv_tensor(x) if record.kind == "conv2d" else x
            record.num_examples += batch.shape[0] if batch.ndim > 1 else 1
            rows = input_rows(module, x, self.conv_mode).to(torch.float64)
            gram = _gram(rows)
            if record.nonfinite is None and not _finite_gram(gram):
                record.nonfinite = "input"
            record.input_gram = _add(record.input_gram, gram)
            record.num_rows += rows.shape[0]
            channel_dim = -1 if record.kind == "linear" else -3
            record.num_output_rows += output.numel() // output.shape[channel_dim]
            ever_nonzero, always_positive = _unit_masks(module, x)
            if record.unit_ever_nonzero is None:
                record.unit_ever_nonzero, record.unit_always_positive = ever_nonzero, always_positive
            else:
                record.unit_ever_nonzero |= ever_nonzero
                record.unit_always_positive &= always_positive
            if self.keep_rows:  # a copy: float64 rows may be a view of the caller's tensor
                record.input_row_batches.append(rows.clone())
            if output.requires_grad:
                # A tensor hook (not a module backward hook) sees the gradient w.r.t. the
                # output even when an in-place activation later overwrites that output.
                output.register_hook(self._make_grad_hook(record))

        return forward_hook

    def _make_grad_hook(self, record: LayerRecord):
        def grad_hook(grad):
            if not self.record_gradients:
                return None
            rows = grad_rows(record.module, grad).to(torch.float64)
            if self.grad_scale != 1.0:  # out of place: the rows may be autograd's own tensor
                rows = rows * self.grad_scale
            gram = _gram(rows)
            if record.nonfinite is None and not _finite_gram(gram):
                record.nonfinite = "output-gradient"
            record.grad_gram = _add(record.grad_gram, gram)
            record.num_grad_rows += rows.shape[0]
            if self.keep_rows:
                record.grad_row_batches.append(rows.clone())
            return None

        return grad_hook
