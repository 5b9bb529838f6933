"""The expectation vocabulary: ``[[expect]] check = "..."`` in claim files.

Each check is a small class built from its TOML table (fields validated on construction) with
``check(quantities) -> Outcome``. Quantities are :class:`~lcsuite.harness.quantities.Quantity`
arrays whose first dim is ``seed``; operands are matched by dim name (broadcasting).

Common fields (every check):
    description  text shown in reports (default: generated from the fields)
    name         short label of the headline number in tables (default ``<check><index>``)
    at_least     fraction in (0, 1] of points that must hold (default 1: all)
    over         dims the fraction is taken over (list or "a,b" string; default: all dims).
                 For each combination of the remaining dims the fraction must be met.
    per_seed     true: a seed passes when all its points hold, and ``at_least`` is the fraction
                 of seeds that must pass (paired-over-seeds semantics); excludes ``over``.

Checks (points are the elements of the broadcast operands, or one per series for checks that
reduce ``along`` a dim):
    less         left·factor < right       (left, right: quantity path or number; factor = 1)
    greater      left > right·factor
    close        |left − right| ≤ atol + rtol·|right|
    ratio        min ≤ left/right ≤ max
    monotone     quantity along a dim is increasing/decreasing (``strict``) or has Kendall tau
                 ≥ ``kendall_tau_min`` in the given direction
    exponential  log|quantity| is linear along a dim with slope sign ``direction`` (decay or
                 growth), R² ≥ ``min_r2``, and (optional) first-to-last fold ≥ ``min_fold``
    spread       max/min of |quantity| along a dim ≤ ``max_ratio``
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from lcsuite.harness.quantities import SEED, Quantity, QuantityError, align
from lcsuite.harness.trends import is_exponential, kendall_tau, log_linear_fit, spread_ratio

__all__ = [
    "Outcome",
    "SpecError",
    "Expectation",
    "CHECKS",
    "build_expectation",
]


class SpecError(ValueError):
    """A field of an expectation (or claim) is wrong; ``key`` is its dotted path."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message

    def under(self, prefix: str) -> "SpecError":
        """The same error with ``prefix`` prepended to its key path."""
        return SpecError(f"{prefix}.{self.key}" if self.key else prefix, self.message)


@dataclass
class Outcome:
    """The verdict of one expectation on measured quantities."""

    passed: bool
    expected: str
    measured: str
    where: str
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    headline: float | None = None


# --- field validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One TOML field of a check: kind, whether required, default, allowed values/bounds."""

    kind: str  # operand | path | number | dim | dims | bool | choice | text
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_field(name: str, spec: Field, value: Any) -> Any:
    if spec.kind == "operand":
        if _is_number(value):
            return float(value)
        if isinstance(value, str) and value:
            return value
        raise SpecError(name, f"expected a quantity path or a number, got {_type_name(value)} {value!r}")
    if spec.kind in ("path", "dim", "text"):
        if not isinstance(value, str) or not value:
            raise SpecError(name, f"expected a non-empty string, got {_type_name(value)} {value!r}")
        return value
    if spec.kind == "dims":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise SpecError(name, f"expected a list of dim names (or 'a,b'), got {value!r}")
        return tuple(value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(name, f"expected true or false, got {_type_name(value)} {value!r}")
        return value
    if spec.kind == "choice":
        if value not in spec.choices:
            raise SpecError(name, f"expected one of {', '.join(map(repr, spec.choices))}, got {value!r}")
        return value
    if spec.kind == "number":
        if not _is_number(value):
            raise SpecError(name, f"expected a number, got {_type_name(value)} {value!r}")
        if spec.low is not None and value < spec.low or spec.high is not None and value > spec.high:
            raise SpecError(name, f"must lie in [{spec.low}, {spec.high}], got {value!r}")
        return float(value)
    raise AssertionError(spec.kind)


COMMON_FIELDS: dict[str, Field] = {
    "check": Field("text", required=True),
    "description": Field("text"),
    "name": Field("text"),
    "at_least": Field("number", default=1.0, low=0.0, high=1.0),
    "over": Field("dims"),
    "per_seed": Field("bool", default=False),
}


def did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- helpers ----------------------------------------------------------------------------------


def _nanmin(values) -> float:
    """Minimum ignoring NaN; NaN (without a warning) when nothing else is left."""
    values = np.asarray(values, dtype=float)
    finite = values[~np.isnan(values)]
    return float(finite.min()) if finite.size else float("nan")


def _nanmax(values) -> float:
    values = np.asarray(values, dtype=float)
    finite = values[~np.isnan(values)]
    return float(finite.max()) if finite.size else float("nan")


def _fmt(x: float) -> str:
    return f"{x:.4g}" if np.isfinite(x) else str(x)


def _point_name(dims: tuple[str, ...], index: tuple[int, ...]) -> str:
    return ", ".join(f"{d}={i}" for d, i in zip(dims, index)) or "the single point"


def _failing_points(ok: np.ndarray, dims: tuple[str, ...], limit: int = 5) -> str:
    bad = np.argwhere(~ok)
    names = [_point_name(dims, tuple(int(i) for i in row)) for row in bad[:limit]]
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return "; ".join(names) + more


def _require_finite(path: str, quantity: Quantity) -> None:
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
    """Base class: field parsing, quantity lookup and the fraction / per-seed judgement."""

    check_name: ClassVar[str] = ""
    fields: ClassVar[dict[str, Field]] = {}
    reduces_along: ClassVar[bool] = False

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
                setattr(self, key, _parse_field(key, field_spec, spec[key]))
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

    def evaluate(self, operands: dict[str, Quantity]) -> tuple[np.ndarray, tuple[str, ...], dict, str, str]:
        """Return (ok points, their dims, numbers, expected text, measured-detail text)."""
        raise NotImplementedError

    def headline_value(self, numbers: dict[str, np.ndarray], fraction: float) -> float:
        return fraction

    # shared machinery -------------------------------------------------------------------------
    def describe(self) -> str:
        return self.description or self._auto_description()

    def _auto_description(self) -> str:
        return self.check_name

    def used_dims(self) -> dict[str, tuple[str, ...]]:
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
                raise SpecError(
                    field_name,
                    f"quantity {path!r} is not produced by experiment {experiment!r}"
                    f"{did_you_mean(path, produced)}",
                )
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

    def check(self, quantities: Mapping[str, Quantity]) -> Outcome:
        self.validate_against({p: q.dims for p, q in quantities.items()}, "the experiment")
        operands = {name: quantities[path] for name, path in self.quantity_fields().items()}
        for path in self.quantity_fields().values():
            _require_finite(path, quantities[path])
        for name in ("left", "right"):
            value = getattr(self, name, None)
            if _is_number(value):
                operands[name] = Quantity(np.asarray(value, dtype=float), ())
        ok, dims, numbers, expected, detail = self.evaluate(operands)
        ok = np.asarray(ok, dtype=bool)
        numbers = {**numbers, "ok": ok}
        passed, fraction, measured, where = self._judge(ok, dims)
        measured = f"{measured}; {detail}" if detail else measured
        if self.at_least < 1:
            expected += f", for at least {self.at_least:.0%} of {'seeds' if self.per_seed else 'points'}"
        elif self.per_seed:
            expected += ", for every seed"
        return Outcome(passed, expected, measured, where, numbers, self.headline_value(numbers, fraction))

    def _judge(self, ok: np.ndarray, dims: tuple[str, ...]) -> tuple[bool, float, str, str]:
        where_bad = _failing_points(ok, dims) if not ok.all() else ""
        if self.per_seed:
            if SEED not in dims:
                raise SpecError("per_seed", "the compared points have no seed dim")
            axis = dims.index(SEED)
            others = tuple(i for i in range(ok.ndim) if i != axis)
            seed_ok = ok.all(axis=others) if others else ok
            fraction = float(seed_ok.mean())
            passed = fraction >= self.at_least - 1e-12
            measured = f"{int(seed_ok.sum())} of {seed_ok.size} seeds hold at every point"
            return passed, fraction, measured, (f"fails at {where_bad}" if where_bad else "")
        over = self.over or dims
        missing = [d for d in over if d not in dims]
        if missing:
            raise SpecError("over", f"dims {missing} are not dims of the compared points {list(dims)}")
        axes = tuple(dims.index(d) for d in over)
        fractions = ok.mean(axis=axes) if ok.ndim else ok.astype(float)
        fraction = float(np.min(fractions)) if np.size(fractions) else 1.0
        passed = fraction >= self.at_least - 1e-12
        if np.ndim(fractions) == 0 or np.size(fractions) == 1:
            measured = f"{int(ok.sum())} of {ok.size} points hold ({fraction:.1%})"
        else:
            measured = f"lowest fraction over {','.join(over)}: {fraction:.1%} ({int(ok.sum())} of {ok.size} points hold)"
        return passed, fraction, measured, (f"fails at {where_bad}" if where_bad else "")


class _Comparison(Expectation):
    """Shared parts of two-operand checks (left, right)."""

    def quantity_fields(self):
        return {k: getattr(self, k) for k in ("left", "right") if isinstance(getattr(self, k), str)}

    def _operand_text(self, name):
        value = getattr(self, name)
        return _fmt(value) if _is_number(value) else value

    def _aligned(self, operands):
        try:
            dims, (left, right) = align(operands["left"], operands["right"])
        except QuantityError as exc:
            raise SpecError("right", f"cannot compare {self.left!r} with {self.right!r}: {exc}") from None
        left, right = np.broadcast_arrays(left.astype(float), right.astype(float))
        return dims, left, right


class Less(_Comparison):
    check_name = "less"
    fields = {"left": Field("operand", required=True), "right": Field("operand", required=True),
              "factor": Field("number", default=1.0, low=0.0)}
    strictly = "<"

    def _holds(self, left, right):
        return left * self.factor < right

    def evaluate(self, operands):
        dims, left, right = self._aligned(operands)
        with np.errstate(invalid="ignore"):
            ok = self._holds(left, right)
        factor = f"{_fmt(self.factor)}·" if self.factor != 1 and self.check_name == "less" else ""
        rfactor = f"{_fmt(self.factor)}·" if self.factor != 1 and self.check_name == "greater" else ""
        expected = f"{factor}{self._operand_text('left')} {self.strictly} {rfactor}{self._operand_text('right')}"
        detail = ""
        if left.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = left / right
            finite = np.isfinite(ratio)
            if finite.any():
                detail = f"left/right ranges {_fmt(np.min(ratio[finite]))} .. {_fmt(np.max(ratio[finite]))}"
        return ok, dims, {"left": left, "right": right}, expected, detail

    def _auto_description(self):
        return f"{self._operand_text('left')} {self.strictly} {self._operand_text('right')}"

    def headline_value(self, numbers, fraction):
        # Against a fixed bound the extreme left value says more than the fraction.
        if self.at_least == 1 and _is_number(self.right) and not _is_number(self.left) and numbers["left"].size:
            return float(_nanmax(numbers["left"]) if self.check_name == "less" else _nanmin(numbers["left"]))
        return fraction


class Greater(Less):
    check_name = "greater"
    strictly = ">"

    def _holds(self, left, right):
        return left > right * self.factor


class Close(_Comparison):
    check_name = "close"
    fields = {"left": Field("operand", required=True), "right": Field("operand", required=True),
              "rtol": Field("number", default=0.0, low=0.0), "atol": Field("number", default=0.0, low=0.0)}

    def _validate(self):
        if self.rtol == 0 and self.atol == 0:
            raise SpecError("rtol", "give rtol and/or atol (both are 0: only exact equality would pass)")

    def evaluate(self, operands):
        dims, left, right = self._aligned(operands)
        error = np.abs(left - right)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(right != 0, error / np.abs(right), np.where(error == 0, 0.0, np.inf))
        ok = error <= self.atol + self.rtol * np.abs(right)
        expected = f"{self._operand_text('left')} equals {self._operand_text('right')} to rtol {_fmt(self.rtol)}, atol {_fmt(self.atol)}"
        detail = f"max relative error {_fmt(_nanmax(relative))}, max absolute error {_fmt(_nanmax(error))}" if error.size else ""
        return ok, dims, {"left": left, "right": right, "relative_error": relative}, expected, detail

    def headline_value(self, numbers, fraction):
        rel = numbers["relative_error"]
        return float(np.max(rel)) if rel.size else 0.0

    def _auto_description(self):
        return f"{self._operand_text('left')} ≈ {self._operand_text('right')}"


class Ratio(_Comparison):
    check_name = "ratio"
    fields = {"left": Field("operand", required=True), "right": Field("operand", required=True),
              "min": Field("number"), "max": Field("number")}

    def _validate(self):
        if self.min is None and self.max is None:
            raise SpecError("min", "give min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecError("min", f"min {self.min} exceeds max {self.max}")

    def evaluate(self, operands):
        dims, left, right = self._aligned(operands)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = left / right
            ok = np.isfinite(ratio)
            if self.min is not None:
                ok &= ratio >= self.min
            if self.max is not None:
                ok &= ratio <= self.max
        low = _fmt(self.min) if self.min is not None else "-inf"
        high = _fmt(self.max) if self.max is not None else "inf"
        expected = f"{self._operand_text('left')} / {self._operand_text('right')} within [{low}, {high}]"
        detail = f"ratio ranges {_fmt(_nanmin(ratio))} .. {_fmt(_nanmax(ratio))}" if ratio.size else ""
        return ok, dims, {"left": left, "right": right, "ratio": ratio}, expected, detail


class _AlongCheck(Expectation):
    """Checks that reduce a quantity along one dim: one point per series."""

    reduces_along = True

    def quantity_fields(self):
        return {"quantity": self.quantity}

    def _series(self, operands):
        quantity = operands["quantity"]
        axis = quantity.dims.index(self.along)
        values = np.moveaxis(quantity.values.astype(float), axis, -1)
        dims = tuple(d for d in quantity.dims if d != self.along)
        if values.shape[-1] < 2:
            raise SpecError("along", f"dim {self.along!r} of {self.quantity!r} has fewer than 2 entries")
        return values, dims


class Monotone(_AlongCheck):
    check_name = "monotone"
    fields = {"quantity": Field("path", required=True), "along": Field("dim", required=True),
              "direction": Field("choice", required=True, choices=("increasing", "decreasing")),
              "strict": Field("bool", default=False), "kendall_tau_min": Field("number", low=-1.0, high=1.0)}

    def _validate(self):
        if self.strict and self.kendall_tau_min is not None:
            raise SpecError("kendall_tau_min", "give either strict or kendall_tau_min, not both")

    def evaluate(self, operands):
        values, dims = self._series(operands)
        sign = 1.0 if self.direction == "increasing" else -1.0
        if self.kendall_tau_min is not None:
            tau = sign * kendall_tau(values)
            ok = tau >= self.kendall_tau_min
            expected = f"{self.quantity} {self.direction} along {self.along} (Kendall tau ≥ {_fmt(self.kendall_tau_min)})"
            detail = f"tau ranges {_fmt(_nanmin(tau))} .. {_fmt(_nanmax(tau))}"
            return ok, dims, {"values": values, "tau": tau}, expected, detail
        steps = sign * np.diff(values, axis=-1)
        ok = np.all(steps > 0 if self.strict else steps >= 0, axis=-1)
        kind = "strictly " if self.strict else ""
        expected = f"{self.quantity} {kind}{self.direction} along {self.along}"
        detail = f"smallest step in that direction {_fmt(_nanmin(steps))}"
        return ok, dims, {"values": values, "steps": steps}, expected, detail

    def headline_value(self, numbers, fraction):
        return float(_nanmin(numbers["tau"])) if "tau" in numbers else fraction


class Exponential(_AlongCheck):
    check_name = "exponential"
    fields = {"quantity": Field("path", required=True), "along": Field("dim", required=True),
              "direction": Field("choice", required=True, choices=("decay", "growth")),
              "min_r2": Field("number", required=True, low=0.0, high=1.0),
              "min_fold": Field("number", low=1.0)}

    def evaluate(self, operands):
        values, dims = self._series(operands)
        fit = log_linear_fit(values)
        slope, r2, fold = fit.slope, fit.r2, fit.fold(self.direction)
        ok = is_exponential(fit, self.direction, self.min_r2, self.min_fold)
        expected = f"log|{self.quantity}| linear in {self.along} ({self.direction}) with R² ≥ {_fmt(self.min_r2)}"
        if self.min_fold is not None:
            expected += f" and first-to-last fold ≥ {_fmt(self.min_fold)}"
        detail = (f"slope per step {_fmt(_nanmin(slope))} .. {_fmt(_nanmax(slope))}, "
                  f"R² min {_fmt(_nanmin(r2))}, fold min {_fmt(_nanmin(fold))}")
        return ok, dims, {"values": values, "slope": slope, "r2": r2, "fold": fold}, expected, detail

    def headline_value(self, numbers, fraction):
        return float(_nanmin(numbers["fold"]))


class Spread(_AlongCheck):
    check_name = "spread"
    fields = {"quantity": Field("path", required=True), "along": Field("dim", required=True),
              "max_ratio": Field("number", required=True, low=1.0)}

    def evaluate(self, operands):
        values, dims = self._series(operands)
        spread = spread_ratio(values)
        ok = spread <= self.max_ratio
        expected = f"max/min of |{self.quantity}| along {self.along} ≤ {_fmt(self.max_ratio)}"
        detail = f"max/min ranges {_fmt(_nanmin(spread))} .. {_fmt(_nanmax(spread))}"
        return ok, dims, {"values": values, "spread": spread}, expected, detail

    def headline_value(self, numbers, fraction):
        return float(_nanmax(numbers["spread"]))


CHECKS: dict[str, type[Expectation]] = {
    cls.check_name: cls for cls in (Less, Greater, Close, Ratio, Monotone, Exponential, Spread)
}


def build_expectation(spec: Mapping[str, Any], index: int = 0) -> Expectation:
    """Build a check from its TOML table; raises SpecError with a field path on bad input."""
    if not isinstance(spec, Mapping):
        raise SpecError("", f"expected a table, got {_type_name(spec)}")
    name = spec.get("check")
    if name is None:
        raise SpecError("check", f"missing; one of {', '.join(sorted(CHECKS))}")
    if name not in CHECKS:
        raise SpecError("check", f"unknown check {name!r}{did_you_mean(str(name), CHECKS)}; "
                                 f"known: {', '.join(sorted(CHECKS))}")
    return CHECKS[name](spec, index)
