"""Conventions of the conditioning analysis, as enums that also accept their string values.

- :class:`FisherType` says which curvature matrix the output-gradients describe.
- :class:`ConvMode` says how a ``Conv2d`` layer's input and output-gradient become rows.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["FisherType", "ConvMode", "LossType"]


class _StrEnum(str, Enum):
    """A string enum whose constructor names the valid values when it rejects one."""

    @classmethod
    def parse(cls, value: "str | _StrEnum") -> "_StrEnum":
        """Return the member for ``value`` (a member or its string value).

        Raises:
            ValueError: ``value`` is not one of the members' values.
        """
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(repr(m.value) for m in cls)
            raise ValueError(f"unknown {cls.__name__} {value!r}; expected one of {valid}") from None

    def __str__(self) -> str:
        return self.value


class FisherType(_StrEnum):
    """Which Fisher the output-gradient statistics (and exact matrices) describe.

    Attributes:
        TRUE: ``"true"``. Labels come from the model's own predictive distribution; the
            expectation over the classes is computed exactly (no sampling). This is the FIM
            ``F = (1/N) Σ_i J_iᵀ (diag p_i − p_i p_iᵀ) J_i`` of the paper (cross-entropy).
        EMPIRICAL: ``"empirical"``. The data labels are used; the curvature matrix is the
            second moment of sample gradients ``M = (1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ`` (the paper's M,
            and what the official code measures).
    """

    TRUE = "true"
    EMPIRICAL = "empirical"


class ConvMode(_StrEnum):
    """How a ``Conv2d`` layer's input ``x`` and output-gradient ``g`` become row matrices.

    Attributes:
        CHANNEL: ``"channel"``. Each spatial position of a feature map is one example:
            ``X`` has shape ``(N·H·W, C_in)`` and ``G`` has shape ``(N·H'·W', C_out)``. This is
            the paper's (and its official code's) choice.
        PATCH: ``"patch"``. im2col patches, as K-FAC "expand": ``X`` has shape
            ``(N·L, C_in·kh·kw)`` (``L = H'·W'`` output positions) and ``G`` has shape
            ``(N·L, C_out)``; ``X``'s columns follow ``weight.reshape(C_out, -1)``.
    """

    CHANNEL = "channel"
    PATCH = "patch"


class LossType(_StrEnum):
    """Supported losses. Only cross-entropy on logits of shape ``(N, C)``."""

    CROSS_ENTROPY = "cross_entropy"
