"""The base of every check: fields, quantity lookup, finiteness, the fraction / per-seed judgement.

A check's :meth:`Expectation.evaluate` says, for each point of its operands, whether the claim
holds there (a boolean array with named dims). :meth:`Expectation.check` runs it on measured
quantities and judges the points: all of them (default), a fraction ``at_least`` of them for
every combination of the dims outside ``over``, or (``per_seed``) a fraction of whole seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from lcsuite.harness.checks.fields import COMMON_FIELDS, Field, SpecError, is_number, parse_field
from lcsuite.harness.quantities import SEED, Quantity, QuantityError
from lcsuite.registry import did_you_mean

__all__ = ["Outcome", "Expectation", "Evaluation", "nanmin", "nanmax", "require_finite"]

Evaluation = tuple[np.ndarray, tuple[str, ...], dict, str, str]
"""What :meth:`Expectation.evaluate` returns: ``(ok, dims, numbers, expected, detail)``."""


@dataclass
class Outcome:
    """The verdict of one expectation on measured quantities.

    Attributes:
        passed: Whether the expectation holds (enough points, or seeds, hold).
        expected / measured / where: Text for tables: the claim, what was found, failing points.
        numbers: The arrays behind it (the check's own, plus ``ok``, the per-point booleans).
        headline: The one number tables show for it (a fraction, or the check's own figure).
    """

    passed: bool
    expected: str
    measured: str
    where: str
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    headline: float | None = None


def _finite_values(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[~np.isnan(values)]


def nanmin(values) -> float:
    """Minimum ignoring NaN; NaN (without a warning) when nothing else is left."""
    finite = _finite_values(values)
    return float(finite.min()) if finite.size else float("nan")


def nanmax(values) -> float:
    """Maximum ignoring NaN; NaN (without a warning) when nothing else is left."""
    finite = _finite_values(values)
    return float(finite.max()) if finite.size else float("nan")


def _point_name(dims: tuple[str, ...], index: tuple[int, ...]) -> str:
    return ", ".join(f"{d}={i}" for d, i in zip(dims, index)) or "the single point"


def _failing_points(ok: np.ndarray, dims: tuple[str, ...], limit: int = 5) -> str:
    bad = np.argwhere(~ok)
    names = [_point_name(dims, tuple(int(i) for i in row)) for row in bad[:limit]]
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return "; ".join(names) + more


def require_finite(path: str, quantity: Quantity) -> None:
    """Non-finite values (NaN, ±inf) cannot be judged: a QuantityError naming where they are."""
    values = np.asarray(quantity.values)
    if values.dtype.kind != "f":
        return
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        value = values[first] if values.ndim else values
        raise QuantityError(f"{path} is non-finite at {int(bad.sum())} of {values.size} points "
                            f"(first: {_point_name(quantity.dims, first)}: {value})")


class Expectation:
    """Base class of every check (see :mod:`lcsuite.harness.checks` for the contract)."""

    check_name: ClassVar[str] = ""
    fields: ClassVar[dict[str, Field]] = {}

    def __init__(self, spec: Mapping[str, Any], index: int = 0):
        allowed = {**COMMON_FIELDS, **self.fields}
        for key in spec:
            if key not in allowed:
                raise SpecError(key, f"unknown field for check {self.check_name!r}{did_you_mean(key, allowed)}; "
                                     f"allowed: {', '.join(sorted(allowed))}")
        for key, field_spec in allowed.items():
            if key == "check":
                continue  # the class itself; ``check`` is the method
            if key in spec:
                setattr(self, key, parse_field(key, field_spec, spec[key]))
            elif field_spec.required:
                raise SpecError(key, f"missing (required by check {self.check_name!r})")
            else:
                setattr(self, key, field_spec.default)
        if self.per_seed and self.over is not None:
            raise SpecError("over", "cannot be combined with per_seed = true (per_seed judges whole seeds)")
        if self.at_least <= 0:
            raise SpecError("at_least", "must be greater than 0")
        self.index = index
        self.label = self.name or f"{self.check_name}{index}"
        self._validate()

    # subclasses override -----------------------------------------------------------------------
    def _validate(self) -> None:
        """Cross-field validation (raise SpecError)."""

    def quantity_fields(self) -> dict[str, str]:
        """``{field name: quantity path}`` of the quantities this check reads."""
        return {}

    def evaluate(self, operands: dict[str, Quantity]) -> Evaluation:
        """``(ok, dims, numbers, expected, detail)`` on ``operands`` (field name → quantity).

        ``ok``: boolean array, one entry per point, with dim names ``dims``; ``numbers``: arrays
        kept with the outcome; ``expected``: the claim in words; ``detail``: what was measured.
        """
        raise NotImplementedError

    def headline_value(self, numbers: dict[str, np.ndarray], fraction: float) -> float:
        """The number tables show; default the judged fraction of points (or seeds)."""
        return fraction

    def _auto_description(self) -> str:
        return self.check_name

    # shared machinery -------------------------------------------------------------------------
    def describe(self) -> str:
        return self.description or self._auto_description()

    def used_dims(self) -> dict[str, tuple[str, ...]]:
        """``{field name: dims}`` of the dims the fields name (``over``, ``along``)."""
        dims = {}
        if self.over:
            dims["over"] = self.over
        along = getattr(self, "along", None)
        if along:
            dims["along"] = (along,)
        return dims

    def validate_against(self, produced: Mapping[str, tuple[str, ...]], experiment: str) -> None:
        """Check quantity paths and dims against what the experiment produces (dims with seed)."""
        available: set[str] = set()
        for field_name, path in self.quantity_fields().items():
            if path not in produced:
                raise SpecError(field_name, f"quantity {path!r} is not produced by experiment {experiment!r}"
                                            f"{did_you_mean(path, produced)}")
            available.update(produced[path])
        available.add(SEED)
        for field_name, dims in self.used_dims().items():
            for dim in dims:
                if dim not in available:
                    raise SpecError(
                        field_name,
                        f"dim {dim!r} is not a dim of {', '.join(self.quantity_fields().values()) or 'the operands'} "
                        f"(dims: {', '.join(sorted(available))}){did_you_mean(dim, available)}",
                    )
        if getattr(self, "along", None) == SEED and self.per_seed:
            raise SpecError("along", "cannot be 'seed' with per_seed = true")

    def _operands(self, quantities: Mapping[str, Quantity]) -> dict[str, Quantity]:
        """The quantities the fields name (finite), plus number operands as 0-d quantities."""
        operands = {name: quantities[path] for name, path in self.quantity_fields().items()}
        for path in self.quantity_fields().values():
            require_finite(path, quantities[path])
        for name in ("left", "right"):
            value = getattr(self, name, None)
            if is_number(value):
                operands[name] = Quantity(np.asarray(value, dtype=float), ())
        return operands

    def check(self, quantities: Mapping[str, Quantity]) -> Outcome:
        """Judge the measured ``quantities`` (path → quantity, first dim ``seed``)."""
        self.validate_against({p: q.dims for p, q in quantities.items()}, "the experiment")
        ok, dims, numbers, expected, detail = self.evaluate(self._operands(quantities))
        ok = np.asarray(ok, dtype=bool)
        numbers = {**numbers, "ok": ok}
        passed, fraction, measured = self._judge_seeds(ok, dims) if self.per_seed else self._judge_points(ok, dims)
        measured = f"{measured}; {detail}" if detail else measured
        if self.at_least < 1:
            expected += f", for at least {self.at_least:.0%} of {'seeds' if self.per_seed else 'points'}"
        elif self.per_seed:
            expected += ", for every seed"
        where = f"fails at {_failing_points(ok, dims)}" if not ok.all() else ""
        return Outcome(passed, expected, measured, where, numbers, self.headline_value(numbers, fraction))

    def _judge_seeds(self, ok: np.ndarray, dims: tuple[str, ...]) -> tuple[bool, float, str]:
        if SEED not in dims:
            raise SpecError("per_seed", "the compared points have no seed dim")
        axis = dims.index(SEED)
        others = tuple(i for i in range(ok.ndim) if i != axis)
        seed_ok = ok.all(axis=others) if others else ok
        fraction = float(seed_ok.mean())
        measured = f"{int(seed_ok.sum())} of {seed_ok.size} seeds hold at every point"
        return fraction >= self.at_least - 1e-12, fraction, measured

    def _judge_points(self, ok: np.ndarray, dims: tuple[str, ...]) -> tuple[bool, float, str]:
        over = self.over or dims
        missing = [d for d in over if d not in dims]
        if missing:
            raise SpecError("over", f"dims {missing} are not dims of the compared points {list(dims)}")
        axes = tuple(dims.index(d) for d in over)
        fractions = ok.mean(axis=axes) if ok.ndim else ok.astype(float)
        fraction = float(np.min(fractions)) if np.size(fractions) else 1.0
        if np.ndim(fractions) == 0 or np.size(fractions) == 1:
            measured = f"{int(ok.sum())} of {ok.size} points hold ({fraction:.1%})"
        else:
            measured = f"lowest fraction over {','.join(over)}: {fraction:.1%} ({int(ok.sum())} of {ok.size} points hold)"
        return fraction >= self.at_least - 1e-12, fraction, measured
