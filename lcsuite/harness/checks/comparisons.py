"""Two-operand checks: ``less``, ``greater``, ``close``, ``ratio``.

``left`` and ``right`` are quantity paths or numbers; quantities are matched by dim name and
broadcast, and every element of the broadcast operands is one point.
"""

from __future__ import annotations

import numpy as np

from lcsuite.harness.checks.base import Evaluation, Expectation, nanmax, nanmin
from lcsuite.harness.checks.fields import Field, SpecError, is_number, threshold_text
from lcsuite.harness.checks.registry import CHECKS
from lcsuite.harness.quantities import QuantityError, align
from lcsuite.format import fmt_number

__all__ = ["Comparison", "Less", "Greater", "Close", "Ratio"]


def _operand_fields(**extra: Field) -> dict[str, Field]:
    return {"left": Field("operand", required=True), "right": Field("operand", required=True), **extra}


def _log_margin(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``log(numerator / denominator)``; both must be positive (a factor claim on magnitudes)."""
    if np.any(numerator <= 0) or np.any(denominator <= 0):
        raise SpecError("statistic", "log_margin needs positive operands (a factor claim on magnitudes)")
    return np.log(numerator) - np.log(denominator)


def _range_text(what: str, values: np.ndarray) -> str:
    return f"{what} ranges {fmt_number(nanmin(values))} .. {fmt_number(nanmax(values))}"


class Comparison(Expectation):
    """Shared parts of two-operand checks (``left``, ``right``)."""

    def quantity_fields(self):
        return {k: getattr(self, k) for k in ("left", "right") if isinstance(getattr(self, k), str)}

    def _operand_text(self, name):
        value = getattr(self, name)
        return threshold_text(value) if is_number(value) else value

    def _aligned(self, operands):
        try:
            dims, (left, right) = align(operands["left"], operands["right"])
        except QuantityError as exc:
            raise SpecError("right", f"cannot compare {self.left!r} with {self.right!r}: {exc}") from None
        left, right = np.broadcast_arrays(left.astype(float), right.astype(float))
        return dims, left, right


@CHECKS.register("less")
class Less(Comparison):
    """``factor·left < right`` at every point."""

    check_name = "less"
    fields = _operand_fields(factor=Field("number", default=1.0, low=0.0))
    statistics = ("fraction", "margin", "log_margin")
    strictly = "<"

    def margin(self, numbers, statistic):
        """``right − factor·left`` (or its log ratio): how far the point is inside the claim."""
        small, large = self.factor * numbers["left"], numbers["right"]
        return large - small if statistic == "margin" else _log_margin(large, small)

    def _holds(self, left, right):
        return left * self.factor < right

    def _expected(self) -> str:
        factor = f"{threshold_text(self.factor)}·" if self.factor != 1 else ""
        left, right = self._operand_text("left"), self._operand_text("right")
        if self.check_name == "less":
            return f"{factor}{left} {self.strictly} {right}"
        return f"{left} {self.strictly} {factor}{right}"

    def evaluate(self, operands) -> Evaluation:
        dims, left, right = self._aligned(operands)
        with np.errstate(invalid="ignore"):
            ok = self._holds(left, right)
        detail = ""
        if left.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = left / right
            finite = ratio[np.isfinite(ratio)]
            if finite.size:
                detail = _range_text("left/right", finite)
        return ok, dims, {"left": left, "right": right}, self._expected(), detail

    def _auto_description(self):
        return f"{self._operand_text('left')} {self.strictly} {self._operand_text('right')}"

    def headline_value(self, numbers, fraction):
        # Against a fixed bound the extreme left value says more than the fraction.
        if self.at_least == 1 and is_number(self.right) and not is_number(self.left) and numbers["left"].size:
            return float(nanmax(numbers["left"]) if self.check_name == "less" else nanmin(numbers["left"]))
        return fraction


@CHECKS.register("greater")
class Greater(Less):
    """``left > factor·right`` at every point."""

    check_name = "greater"
    strictly = ">"

    def margin(self, numbers, statistic):
        """``left − factor·right`` (or its log ratio)."""
        large, small = numbers["left"], self.factor * numbers["right"]
        return large - small if statistic == "margin" else _log_margin(large, small)

    def _holds(self, left, right):
        return left > right * self.factor


@CHECKS.register("close")
class Close(Comparison):
    """``|left − right| ≤ atol + rtol·|right|`` at every point."""

    check_name = "close"
    fields = _operand_fields(rtol=Field("number", default=0.0, low=0.0), atol=Field("number", default=0.0, low=0.0))
    statistics = ("fraction", "margin")

    def margin(self, numbers, statistic):
        """Allowed minus actual absolute error."""
        right = numbers["right"]
        return self.atol + self.rtol * np.abs(right) - np.abs(numbers["left"] - right)

    def _validate(self):
        if self.rtol == 0 and self.atol == 0:
            raise SpecError("rtol", "give rtol and/or atol (both are 0: only exact equality would pass)")

    def evaluate(self, operands) -> Evaluation:
        dims, left, right = self._aligned(operands)
        error = np.abs(left - right)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(right != 0, error / np.abs(right), np.where(error == 0, 0.0, np.inf))
        ok = error <= self.atol + self.rtol * np.abs(right)
        expected = (f"{self._operand_text('left')} equals {self._operand_text('right')} to rtol "
                    f"{threshold_text(self.rtol)}, atol {threshold_text(self.atol)}")
        detail = (f"max relative error {fmt_number(nanmax(relative))}, max absolute error "
                  f"{fmt_number(nanmax(error))}") if error.size else ""
        return ok, dims, {"left": left, "right": right, "relative_error": relative}, expected, detail

    def headline_value(self, numbers, fraction):
        rel = numbers["relative_error"]
        return float(np.max(rel)) if rel.size else 0.0

    def _auto_description(self):
        return f"{self._operand_text('left')} ≈ {self._operand_text('right')}"


@CHECKS.register("ratio")
class Ratio(Comparison):
    """``min ≤ left/right ≤ max`` (and finite) at every point."""

    check_name = "ratio"
    fields = _operand_fields(min=Field("number"), max=Field("number"))
    statistics = ("fraction", "margin", "log_margin")

    def margin(self, numbers, statistic):
        """Distance of the ratio inside ``[min, max]`` (negative outside), linear or log."""
        ratio = numbers["ratio"]
        sides = []
        if self.min is not None:
            sides.append(ratio - self.min if statistic == "margin" else _log_margin(ratio, np.full_like(ratio, self.min)))
        if self.max is not None:
            sides.append(self.max - ratio if statistic == "margin" else _log_margin(np.full_like(ratio, self.max), ratio))
        return np.minimum.reduce(sides)

    def _validate(self):
        if self.min is None and self.max is None:
            raise SpecError("min", "give min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecError("min", f"min {self.min} exceeds max {self.max}")

    def evaluate(self, operands) -> Evaluation:
        dims, left, right = self._aligned(operands)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = left / right
            ok = np.isfinite(ratio)
            if self.min is not None:
                ok &= ratio >= self.min
            if self.max is not None:
                ok &= ratio <= self.max
        low = threshold_text(self.min) if self.min is not None else "-inf"
        high = threshold_text(self.max) if self.max is not None else "inf"
        expected = f"{self._operand_text('left')} / {self._operand_text('right')} within [{low}, {high}]"
        detail = _range_text("ratio", ratio) if ratio.size else ""
        return ok, dims, {"left": left, "right": right, "ratio": ratio}, expected, detail
