"""The fields of a check's TOML table: their kinds, parsing and errors.

A check class declares ``fields = {"name": Field(kind, ...)}``; :func:`parse_field` turns the
TOML value into the attribute the check reads, or raises :class:`SpecError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SpecError", "Field", "FIELD_KINDS", "COMMON_FIELDS", "parse_field", "is_number", "type_name",
           "threshold_text"]

FIELD_KINDS = ("operand", "path", "number", "dim", "dims", "bool", "choice", "text")
"""``operand``: a quantity path or a number (float); ``path`` / ``dim`` / ``text``: a non-empty
string; ``dims``: a list of dim names or ``"a,b"`` (tuple); ``number``: int or float within
``[low, high]`` (float); ``bool``; ``choice``: one of ``choices``."""


class SpecError(ValueError):
    """A field of an expectation (or claim) is wrong; ``key`` is its dotted path."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message

    def under(self, prefix: str) -> "SpecError":
        """The same error with ``prefix`` prepended to its key path."""
        return SpecError(f"{prefix}.{self.key}" if self.key else prefix, self.message)


@dataclass(frozen=True)
class Field:
    """One TOML field of a check: kind (one of :data:`FIELD_KINDS`), whether required, default,
    allowed values (``choice``) and bounds (``number``)."""

    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}; kinds: {', '.join(FIELD_KINDS)}")


COMMON_FIELDS: dict[str, Field] = {
    "check": Field("text", required=True),
    "description": Field("text"),
    "name": Field("text"),
    "at_least": Field("number", default=1.0, low=0.0, high=1.0),
    "over": Field("dims"),
    "per_seed": Field("bool", default=False),
    "rule": Field("choice", default="exact", choices=("exact", "sign", "t")),
    "statistic": Field("choice", default="fraction", choices=("fraction", "margin", "log_margin")),
    "alpha": Field("number", default=0.05, low=1e-6, high=0.5),
}
"""Fields every check accepts (see :mod:`lcsuite.harness.checks`)."""


def type_name(value: Any) -> str:
    """The TOML name of ``value``'s type, for error messages."""
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )


def is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def threshold_text(value: float) -> str:
    """A number written in a claim file, shown as written (up to 12 significant digits).

    Measured numbers are shortened (:func:`lcsuite.format.fmt_number`); a bound is
    not, so that ``min_r2 = 0.999999`` never reads "R² ≥ 1".
    """
    return f"{value:.12g}"


def _parse_string(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(name, f"expected a non-empty string, got {type_name(value)} {value!r}")
    return value


def _parse_dims(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise SpecError(name, f"expected a list of dim names (or 'a,b'), got {value!r}")
    return tuple(value)


def _parse_number(name: str, spec: Field, value: Any) -> float:
    if not is_number(value):
        raise SpecError(name, f"expected a number, got {type_name(value)} {value!r}")
    if spec.low is not None and value < spec.low or spec.high is not None and value > spec.high:
        raise SpecError(name, f"must lie in [{spec.low}, {spec.high}], got {value!r}")
    return float(value)


def parse_field(name: str, spec: Field, value: Any) -> Any:
    """The value of field ``name`` as the check reads it; :class:`SpecError` when malformed."""
    if spec.kind == "operand":
        if is_number(value):
            return float(value)
        if isinstance(value, str) and value:
            return value
        raise SpecError(name, f"expected a quantity path or a number, got {type_name(value)} {value!r}")
    if spec.kind in ("path", "dim", "text"):
        return _parse_string(name, value)
    if spec.kind == "dims":
        return _parse_dims(name, value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(name, f"expected true or false, got {type_name(value)} {value!r}")
        return value
    if spec.kind == "choice":
        if value not in spec.choices:
            raise SpecError(name, f"expected one of {', '.join(map(repr, spec.choices))}, got {value!r}")
        return value
    return _parse_number(name, spec, value)
