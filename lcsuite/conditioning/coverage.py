"""Coverage: every parameter of a model is an analysed weight or a skipped parameter with a reason.

The analysis covers, per layer of a registered layer type (:mod:`lcsuite.conditioning.layer_types`)
that the forward pass called through its module, the sub-FIM of that layer's ``weight``.
Every other parameter of ``model.named_parameters()`` is a :class:`SkippedParameter`, in one
of these categories (:class:`SkipCategory`):

Expected (the paper's layer-wise analysis leaves them out by construction; no warning):

- ``bias``: the bias of an analysed layer. The analysis covers ``Sx ⊗ Sg``, the sub-FIM of the
  weight; the bias block (``Sg``) and the weight-bias cross terms are not part of it.
- ``norm_affine``: the scale and shift of a normalisation layer (BatchNorm, LayerNorm,
  GroupNorm, InstanceNorm, RMSNorm): not a layer weight of the paper's analysis.

Warned (a reader of the table could believe it covers them; :func:`warn_unseen` names their
modules in one ``UserWarning``):

- ``unused_layer``: a layer of a registered type that no forward pass called through its
  module: unused, or its weight applied functionally. ``nn.MultiheadAttention``'s
  ``out_proj`` is the common case: the attention's forward passes ``out_proj.weight`` to
  ``F.multi_head_attention_forward`` and never calls the ``Linear``.
- ``no_layer_type``: a parameter owned by a module with no registered layer type: attention's
  ``in_proj_weight`` / ``in_proj_bias`` (used functionally), ``nn.Embedding``, ``nn.Conv1d``,
  ``nn.Conv3d``, transposed convs, and parameters a model uses directly in its ``forward``
  (a class token, a positional embedding).
- ``other``: a parameter of an analysed layer other than its weight and bias (for example the
  factors of a weight reparametrisation); the analysis sees the weight the layer computes.

A parameter shared between modules is listed once, under its first name (as
``named_parameters`` does); when it is the weight of an analysed layer it counts as analysed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable

from torch import nn

from lcsuite.conditioning.conventions import _StrEnum
from lcsuite.conditioning.layer_types import layer_type_of, module_class_label

__all__ = ["SkipCategory", "SkippedParameter", "skipped_parameters", "coverage_footer", "unseen_modules",
           "unseen_message", "warn_unseen"]

ROOT_LABEL = "(model)"  # how the model itself (module path "") is named in messages
_NAMES_SHOWN = 3  # parameter names shown per reason in the table footer
_MODULES_SHOWN = 8  # modules named in the warning


class SkipCategory(_StrEnum):
    """Why a parameter is not analysed (see the module docstring)."""

    BIAS = "bias"
    NORM_AFFINE = "norm_affine"
    UNUSED_LAYER = "unused_layer"
    NO_LAYER_TYPE = "no_layer_type"
    OTHER = "other"

    @property
    def expected(self) -> bool:
        """Whether the category is left out by the analysis's construction (no warning)."""
        return self in (SkipCategory.BIAS, SkipCategory.NORM_AFFINE)


def _norm_classes() -> tuple[type, ...]:
    from torch.nn.modules.batchnorm import _NormBase  # BatchNorm*d, SyncBatchNorm, InstanceNorm*d

    names = ("LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm")
    return (_NormBase,) + tuple(getattr(nn, name) for name in names if hasattr(nn, name))


NORM_CLASSES = _norm_classes()


@dataclass(frozen=True)
class SkippedParameter:
    """One parameter the analysis does not cover.

    Attributes:
        name: Its name in ``model.named_parameters()``.
        module: Path of the module that owns it (``""``: the model itself).
        module_class: That module's class, as tables name it (``"nn.MultiheadAttention"``).
        shape: The parameter's shape.
        category: :class:`SkipCategory`.
        reason: One sentence, e.g. ``"nn.Embedding: no registered layer type"``.
    """

    name: str
    module: str
    module_class: str
    shape: tuple
    category: SkipCategory
    reason: str

    @property
    def expected(self) -> bool:
        """Whether it is skipped by construction (bias, normalisation affine): no warning."""
        return self.category.expected

    @property
    def numel(self) -> int:
        """The number of values it holds."""
        count = 1
        for size in self.shape:
            count *= size
        return count

    def to_dict(self) -> dict:
        """Plain-data view (strings, lists, a bool) for storage."""
        return {"name": self.name, "module": self.module, "module_class": self.module_class,
                "shape": list(self.shape), "category": self.category.value, "reason": self.reason,
                "expected": self.expected}


def _classify(path: str, module: nn.Module, local_name: str, parent: nn.Module | None,
              analysed: set[str]) -> tuple[SkipCategory, str]:
    """``(category, reason)`` of the parameter ``local_name`` of ``module`` (not an analysed weight)."""
    label = module_class_label(type(module))
    if layer_type_of(module) is not None:
        if path not in analysed:
            if isinstance(parent, nn.MultiheadAttention) and path.rsplit(".", 1)[-1] == "out_proj":
                return SkipCategory.UNUSED_LAYER, ("nn.MultiheadAttention's out_proj: its weight is applied "
                                                   "functionally (F.multi_head_attention_forward), the layer is "
                                                   "never called")
            return SkipCategory.UNUSED_LAYER, (f"{label} not called through its module in the forward pass "
                                               "(unused, or its weight applied functionally)")
        if local_name == "bias":
            return SkipCategory.BIAS, "bias of an analysed layer: not part of the sub-FIM the analysis covers"
        return SkipCategory.OTHER, (f"{label}: a parameter other than the weight and bias of an analysed layer "
                                    "(the analysis sees the weight the layer computes)")
    if isinstance(module, NORM_CLASSES):
        return SkipCategory.NORM_AFFINE, f"{label} affine parameter: a normalisation's scale or shift"
    if isinstance(module, nn.MultiheadAttention):
        return SkipCategory.NO_LAYER_TYPE, ("nn.MultiheadAttention's own parameters (in_proj_weight, "
                                            "in_proj_bias, ...): applied functionally, not through a "
                                            "registered layer type")
    return SkipCategory.NO_LAYER_TYPE, f"{label}: no registered layer type"


def skipped_parameters(model: nn.Module, analysed_layers: Iterable[str]) -> list[SkippedParameter]:
    """Every parameter of ``model`` that is not the weight of an analysed layer.

    Args:
        model: The model.
        analysed_layers: Module paths of the analysed layers (layers of a registered type that
            the forward pass used; ``[la.name for la in analysis.layers]``).

    Returns:
        The skipped parameters in the order of ``model.named_parameters()``; together with the
        analysed layers' weights they are exactly the model's parameters.
    """
    analysed = set(analysed_layers)
    modules = dict(model.named_modules())
    analysed_weights = {id(modules[name].weight) for name in analysed}
    seen: set[int] = set()
    skipped = []
    for path, module in modules.items():
        parent = modules.get(path.rpartition(".")[0]) if path else None
        for local_name, parameter in module.named_parameters(recurse=False):
            if id(parameter) in seen or id(parameter) in analysed_weights:
                seen.add(id(parameter))
                continue
            seen.add(id(parameter))
            category, reason = _classify(path, module, local_name, parent, analysed)
            skipped.append(SkippedParameter(f"{path}.{local_name}" if path else local_name, path,
                                            module_class_label(type(module)), tuple(parameter.shape),
                                            category, reason))
    return skipped


def _by_reason(skipped: list[SkippedParameter]) -> dict[str, list[SkippedParameter]]:
    """Skipped parameters grouped by reason: warned reasons first, then expected, each in order."""
    groups: dict[str, list[SkippedParameter]] = {}
    for entry in sorted(skipped, key=lambda p: p.expected):  # stable: model order within a group
        groups.setdefault(entry.reason, []).append(entry)
    return groups


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _names(names: list[str], shown: int) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f", ... (+{more} more)" if more > 0 else "")


def coverage_footer(skipped: list[SkippedParameter], num_parameters: int, num_values: int) -> str:
    """Lines under the per-layer table: how much of the model is covered, then one line per
    reason (``!`` marks the warned ones) with the count and the first parameter names.

    Args:
        skipped: The skipped parameters.
        num_parameters / num_values: The model's parameter tensors and their values in total.
    """
    skipped_values = sum(p.numel for p in skipped)
    if not skipped:
        return f"coverage: all {num_parameters} parameters are weights of the analysed layers"
    lines = [f"not analysed: {len(skipped)} of {num_parameters} parameters ({skipped_values:,} of "
             f"{num_values:,} values); Analysis.skipped lists them all"]
    for reason, group in _by_reason(skipped).items():
        mark = " " if group[0].expected else "!"
        lines.append(f" {mark} {reason} [{len(group)}]: {_names([p.name for p in group], _NAMES_SHOWN)}")
    if any(not p.expected for p in skipped):
        lines.append("(! = a parameterised module the table does not cover)")
    return "\n".join(lines)


def unseen_modules(skipped: list[SkippedParameter]) -> dict[str, list[SkippedParameter]]:
    """The warned (not expected) skipped parameters grouped by owner module path, in order."""
    modules: dict[str, list[SkippedParameter]] = {}
    for entry in skipped:
        if not entry.expected:
            modules.setdefault(entry.module, []).append(entry)
    return modules


def unseen_message(skipped: list[SkippedParameter], who: str) -> str | None:
    """The warning text naming the parameterised modules ``who`` did not see (None: no such module)."""
    modules = unseen_modules(skipped)
    if not modules:
        return None
    entries = [f"{path or ROOT_LABEL} ({group[0].module_class}: "
               f"{', '.join(p.name.rsplit('.', 1)[-1] for p in group)})" for path, group in modules.items()]
    count = sum(len(group) for group in modules.values())
    return (f"{who} does not analyse {_counted(count, 'parameter')} of {_counted(len(modules), 'module')}; "
            "the table does not cover them (the reasons are in Analysis.skipped and the table's footer): "
            + _names(entries, _MODULES_SHOWN))


def warn_unseen(skipped: list[SkippedParameter], who: str = "lcsuite.analyze", stacklevel: int = 3) -> bool:
    """Emit one ``UserWarning`` naming the parameterised modules the analysis did not see
    (warned categories only); returns whether it warned."""
    message = unseen_message(skipped, who)
    if message is None:
        return False
    warnings.warn(message, UserWarning, stacklevel=stacklevel)
    return True
