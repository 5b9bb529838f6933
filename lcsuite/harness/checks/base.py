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
from lcsuite.harness.checks.rules import RuleResult, apply_rule, min_seeds
from lcsuite.harness.enums import Verdict
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
    verdict: Verdict | None = None
    rule: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.verdict is None:
            self.verdict = Verdict.PASS if self.passed else Verdict.FAIL


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
    statistics: ClassVar[tuple[str, ...]] = ("fraction",)
    """Per-seed statistics the check supports (``margin``/``log_margin`` need :meth:`margin`)."""

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
        if self.statistic not in self.statistics:
            raise SpecError("statistic", f"check {self.check_name!r} supports {', '.join(self.statistics)}")
        if self.statistic != "fraction" and self.rule == "exact":
            raise SpecError("statistic", "a margin statistic needs a rule (sign or t) to test it over seeds")
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

    def margin(self, numbers: dict[str, np.ndarray], statistic: str) -> np.ndarray:
        """Per-point signed margin in the claimed direction (``> 0``: holds), same shape as ``ok``."""
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
        if self.rule != "exact":
            return self._judge_rule(ok, dims, numbers, expected, detail)
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

    # the statistical rule ------------------------------------------------------------------------
    def _per_seed(self, ok: np.ndarray, dims: tuple[str, ...], numbers: dict) -> tuple[np.ndarray, tuple[str, ...], float]:
        """``(statistic (seed, *groups), group dims, bar)``: one number per seed and group."""
        if SEED not in dims:
            raise SpecError("rule", "the compared points have no seed dim: nothing to test over seeds")
        over = () if self.per_seed else (self.over or tuple(d for d in dims if d != SEED))
        missing = [d for d in over if d not in dims]
        if missing:
            raise SpecError("over", f"dims {missing} are not dims of the compared points {list(dims)}")
        reduce = tuple(dims.index(d) for d in dims if d != SEED and (self.per_seed or d in over))
        if self.statistic == "fraction":
            values, bar = ok.astype(float), (1.0 if self.per_seed else self.at_least)
            statistic = values.min(axis=reduce) if self.per_seed else values.mean(axis=reduce)
        else:
            statistic, bar = np.mean(self.margin(numbers, self.statistic), axis=reduce), 0.0
        kept = tuple(d for i, d in enumerate(dims) if i not in reduce)
        return np.moveaxis(statistic, kept.index(SEED), 0), tuple(d for d in kept if d != SEED), bar

    def _judge_rule(self, ok, dims, numbers, expected, detail) -> Outcome:
        statistic, groups, bar = self._per_seed(ok, dims, numbers)
        flat = statistic.reshape(statistic.shape[0], -1)
        results = [apply_rule(self.rule, flat[:, j], bar, self.alpha, self.statistic == "fraction")
                   for j in range(flat.shape[1])]
        worst = max(range(len(results)), key=lambda j: results[j].verdict.rank)
        result: RuleResult = results[worst]
        where = _group_name(groups, statistic.shape[1:], worst) if len(results) > 1 else ""
        measured = (f"per-seed {self.statistic} {', '.join(f'{v:.3g}' for v in result.statistics)} "
                    f"vs bar {bar:.3g}; {result.text}")
        if len(results) > 1:
            counts = {v: sum(r.verdict is v for r in results) for v in {r.verdict for r in results}}
            measured += f" (worst of {len(results)} groups: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ")"
        if detail:
            measured += f"; {detail}"
        if result.seeds_needed is not None:
            measured += f"; about {result.seeds_needed} seeds would likely settle it"
        expected += f" ({self.statistic} per seed ≥ {bar:.3g}, {self.rule} test at α = {self.alpha:g})" \
            if self.statistic == "fraction" else f" ({self.statistic} per seed > 0, {self.rule} test at α = {self.alpha:g})"
        rule = {"rule": self.rule, "statistic": self.statistic, "alpha": self.alpha, "bar": bar,
                "values": [float(v) for v in result.statistics], "p_holds": result.p_holds,
                "p_contradicted": result.p_contradicted, "low": result.low, "high": result.high,
                "seeds_needed": result.seeds_needed, "min_seeds": min_seeds(self.rule, self.alpha)}
        headline = self.headline_value({**numbers, "ok": ok}, float(np.mean(ok)))
        return Outcome(result.verdict is Verdict.HOLDS, expected, measured, where, {**numbers, "ok": ok}, headline,
                       result.verdict, rule)


def _group_name(dims: tuple[str, ...], shape: tuple[int, ...], flat_index: int) -> str:
    index = np.unravel_index(flat_index, shape) if shape else ()
    return "worst group: " + (", ".join(f"{d}={int(i)}" for d, i in zip(dims, index)) or "all points")
