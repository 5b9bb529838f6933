"""Layer types: how the input and output-gradient of one kind of layer become row matrices.

The analysis covers every module whose class (or a base class of it) has a registered
:class:`LayerType` in :data:`LAYER_TYPES` (``Registry("layer type", "lcsuite.layer_types")``);
``nn.Linear`` (``"linear"``) and ``nn.Conv2d`` (``"conv2d"``) are built in. A module is handled
by the layer type of the most specific class in its method resolution order.

A layer type is a subclass of :class:`LayerType`, registered (the class itself) under its
``kind``, with the decorator ``@LAYER_TYPES.register("<kind>")`` or an entry point of the group
``lcsuite.layer_types`` (``conv1d = "mypkg.layers:Conv1dRows"``). Its contract:

- ``module_class``: the ``nn.Module`` subclass it handles; the module has a ``weight`` whose
  first dim is the number of output features (``d_out``), as ``Linear`` and ``ConvNd`` have;
- ``kind``: a short name shown in tables (``"linear"``), equal to the registered name;
- ``channel_dim``: the dim of the layer's input and output that holds the features (channels);
  negative, counted from the end (``-1`` for Linear, ``-3`` for Conv2d's ``(N, C, H, W)``);
- ``example_ndim``: the number of dims of one example's input (``1`` for Linear's ``(d_in,)``,
  ``3`` for Conv2d's ``(C, H, W)``); an input with more dims is a batch along dim 0;
- ``supports_patch_mode``: whether ``conv_mode="patch"`` is allowed (rows that do not depend on
  the conv mode, like Linear's, allow it; a type without an im2col unfolding should not);
- ``input_rows(module, x, conv_mode)`` / ``grad_rows(module, g)``: the rows ``X (M, d_in)`` and
  ``G (M', d_out)`` as float tensors; by default every position of every example is a row
  whose columns are the features (the channel dim moved last and the rest flattened), which is
  Linear's rows and Conv2d's channel mode;
- ``unit_masks(module, x)``: ``(ever_nonzero, always_positive)`` boolean masks over the input
  units (the features of ``channel_dim``), by default from each unit's minimum and maximum;
- ``num_examples(x)`` and ``num_output_rows(output)``: ``N`` of one input batch and ``M_g``, the
  rows an output gives (by default derived from ``example_ndim`` and ``channel_dim``);
- ``check_patch_mode(name, module)``: raise ``ValueError`` naming the layer when patch mode
  cannot unfold it (by default: when ``supports_patch_mode`` is false).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from lcsuite.conditioning.conventions import ConvMode
from lcsuite.registry import Registry

__all__ = ["LayerType", "LayerTypeRegistry", "LAYER_TYPES", "LinearRows", "Conv2dRows", "layer_type_of",
           "supported_layers", "require_layers", "check_patch_mode_supported", "layer_class_names",
           "module_class_label"]


class LayerType:
    """How modules of one class become row matrices (see the module docstring)."""

    module_class: ClassVar[type[nn.Module]]
    kind: ClassVar[str]
    channel_dim: ClassVar[int] = -1
    example_ndim: ClassVar[int] = 1
    supports_patch_mode: ClassVar[bool] = False

    def batched(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` with a leading batch dim (an unbatched example gets one of size 1)."""
        return t.unsqueeze(0) if t.ndim == self.example_ndim else t

    def num_examples(self, x: torch.Tensor) -> int:
        """``N``: examples in one input batch ``x``."""
        return x.shape[0] if x.ndim > self.example_ndim else 1

    def num_output_rows(self, output: torch.Tensor) -> int:
        """``M_g``: the rows of ``G`` one backward pass through ``output`` gives."""
        return output.numel() // output.shape[self.channel_dim]

    def _feature_rows(self, t: torch.Tensor) -> torch.Tensor:
        return t.movedim(self.channel_dim, -1).reshape(-1, t.shape[self.channel_dim])

    def input_rows(self, module: nn.Module, x: torch.Tensor, conv_mode: ConvMode) -> torch.Tensor:
        """The input ``x`` as rows ``X (M, d_in)``."""
        return self._feature_rows(x)

    def grad_rows(self, module: nn.Module, g: torch.Tensor) -> torch.Tensor:
        """The output-gradient ``g`` as rows ``G (M, d_out)``."""
        return self._feature_rows(g)

    def unit_masks(self, module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ever_nonzero, always_positive)`` boolean masks over the input units of one batch.

        Computed from each unit's minimum and maximum over the batch (two cheap reductions, no
        row matrix and no boolean temporaries): a unit is nonzero somewhere unless its minimum
        and maximum are both zero (a NaN counts as nonzero, as ``x != 0`` does), and positive
        everywhere exactly when its minimum is.
        """
        channel = x.ndim + self.channel_dim
        if x.numel() == 0:  # no rows: no unit is nonzero, every unit is (vacuously) positive
            units = x.shape[channel]
            return (torch.zeros(units, dtype=torch.bool, device=x.device),
                    torch.ones(units, dtype=torch.bool, device=x.device))
        dims = tuple(d for d in range(x.ndim) if d != channel)
        low, high = (x.amin(dim=dims), x.amax(dim=dims)) if dims else (x, x)
        return ~((low == 0) & (high == 0)), low > 0

    def check_patch_mode(self, name: str, module: nn.Module) -> None:
        """Raise ``ValueError`` when ``conv_mode="patch"`` cannot give this layer's rows."""
        if not self.supports_patch_mode:
            raise ValueError(f"layer {name!r} ({type(module).__name__}): conv_mode 'patch' is not supported "
                             f"for layer type {self.kind!r}; use conv_mode 'channel'")


class LayerTypeRegistry(Registry):
    """:class:`~lcsuite.registry.Registry` of :class:`LayerType` classes, looked up by module class.

    The class → layer type table is built once (plugins loaded) and again after every
    registration, so lookups in a training loop cost a dict access per class of the module's
    method resolution order.
    """

    def __init__(self, kind: str, group: str):
        super().__init__(kind, group)
        self._by_class: dict[type, LayerType] | None = None

    def register(self, name, obj=None, *, owner=None):
        """Register a :class:`LayerType` subclass under its ``kind`` (or use as a decorator)."""
        if obj is None:
            return lambda value: self.register(name, value, owner=owner)
        if not (isinstance(obj, type) and issubclass(obj, LayerType)):
            raise TypeError(f"layer type {name!r}: expected a LayerType subclass, got {obj!r}")
        if getattr(obj, "kind", None) != name or not isinstance(getattr(obj, "module_class", None), type):
            raise ValueError(f"layer type {name!r}: {obj.__qualname__} needs kind = {name!r} and a module_class")
        value = super().register(name, obj, owner=owner)
        self._by_class = None
        return value

    def _table(self) -> dict[type, LayerType]:
        if self._by_class is None:
            table: dict[type, tuple[str, LayerType]] = {}
            for name, cls in self.items():
                if cls.module_class in table:
                    raise ValueError(f"layer types {table[cls.module_class][0]!r} and {name!r} both handle "
                                     f"{cls.module_class.__name__}")
                table[cls.module_class] = (name, cls())
            self._by_class = {module_class: layer_type for module_class, (_, layer_type) in table.items()}
        return self._by_class

    def for_module(self, module: nn.Module) -> LayerType | None:
        """The layer type of the most specific registered class of ``module``, or None."""
        table = self._table()
        for cls in type(module).__mro__:
            if cls in table:
                self.note_use(table[cls].kind)
                return table[cls]
        return None

    def module_classes(self) -> list[type]:
        """The module classes with a layer type, in the order of their kinds."""
        return list(self._table())


LAYER_TYPES = LayerTypeRegistry("layer type", "lcsuite.layer_types")


@LAYER_TYPES.register("linear")
class LinearRows(LayerType):
    """``nn.Linear``: ``X (N, d_in)``, ``G (N, d_out)``; on tokens ``(N, T, d_in)`` every token
    is a row (``X (N·T, d_in)``, ``G (N·T, d_out)``, ``N`` examples), as every position is in
    a conv's channel mode."""

    module_class = nn.Linear
    kind = "linear"
    supports_patch_mode = True  # rows do not depend on the conv mode


def _conv_padding(module: nn.Conv2d) -> tuple[int, int]:
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return (0, 0)
        raise ValueError(
            f"conv_mode 'patch' does not support padding={module.padding!r}; "
            "use integer padding or conv_mode 'channel'"
        )
    return tuple(module.padding)


@LAYER_TYPES.register("conv2d")
class Conv2dRows(LayerType):
    """``nn.Conv2d``: channel mode ``X (N·H·W, C_in)``; patch mode ``X (N·L, C_in·kh·kw)`` from
    ``unfold`` with the layer's stride, padding and dilation; ``G (N·H'·W', C_out)``."""

    module_class = nn.Conv2d
    kind = "conv2d"
    channel_dim = -3
    example_ndim = 3
    supports_patch_mode = True

    def input_rows(self, module, x, conv_mode):
        if ConvMode.parse(conv_mode) is ConvMode.CHANNEL:
            return self._feature_rows(x)
        patches = torch.nn.functional.unfold(
            self.batched(x),
            kernel_size=module.kernel_size,
            dilation=module.dilation,
            padding=_conv_padding(module),
            stride=module.stride,
        )  # (N, C_in·kh·kw, L)
        return patches.transpose(1, 2).reshape(-1, patches.shape[1])

    def check_patch_mode(self, name, module):
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


def layer_type_of(module: nn.Module) -> LayerType | None:
    """The :class:`LayerType` handling ``module`` (None: the analysis passes over it)."""
    return LAYER_TYPES.for_module(module)


def supported_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(module path, module)`` of every module with a layer type, in registration order."""
    return [(name, m) for name, m in model.named_modules() if LAYER_TYPES.for_module(m) is not None]


def module_class_label(cls: type) -> str:
    """A module class as tables name it: ``"nn.Linear"`` for ``torch.nn`` classes, else its
    qualified name (``"VisionTransformer"``)."""
    return f"nn.{cls.__name__}" if cls.__module__.startswith("torch.nn") else cls.__qualname__


def layer_class_names() -> list[str]:
    """The module classes the analysis covers, e.g. ``["nn.Conv2d", "nn.Linear"]`` (sorted by kind)."""
    return [module_class_label(c) for c in LAYER_TYPES.module_classes()]


def require_layers(model: nn.Module, conv_mode: ConvMode | str = ConvMode.CHANNEL) -> list[tuple[str, nn.Module]]:
    """:func:`supported_layers`; ``ValueError`` when there is none, or when ``conv_mode`` is
    ``"patch"`` and a layer cannot be unfolded."""
    layers = supported_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no {' or '.join(layer_class_names())} layer to analyse")
    if ConvMode.parse(conv_mode) is ConvMode.PATCH:
        for name, module in layers:
            check_patch_mode_supported(name, module)
    return layers


def check_patch_mode_supported(name: str, module: nn.Module) -> None:
    """Raise ``ValueError`` when ``module`` cannot give rows in ``conv_mode="patch"``."""
    layer_type = layer_type_of(module)
    if layer_type is not None:
        layer_type.check_patch_mode(name, module)
