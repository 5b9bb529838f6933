"""Checks that judge the trend of one quantity along a dim: ``monotone``, ``exponential``,
``spread``.

Each series (one per combination of the other dims) is one point. The numeric cores are shared
with the monitor's diagnoses (:mod:`lcsuite.harness.trends`).
"""

from __future__ import annotations

import numpy as np

from lcsuite.harness.checks.base import Evaluation, Expectation, nanmax, nanmin
from lcsuite.harness.checks.fields import Field, SpecError, threshold_text
from lcsuite.harness.checks.registry import CHECKS
from lcsuite.harness.trends import is_exponential, kendall_tau, log_linear_fit, spread_ratio
from lcsuite.format import fmt_number

__all__ = ["AlongCheck", "Monotone", "Exponential", "Spread"]


def _series_fields(**extra: Field) -> dict[str, Field]:
    return {"quantity": Field("path", required=True), "along": Field("dim", required=True), **extra}


def _span(values) -> str:
    return f"{fmt_number(nanmin(values))} .. {fmt_number(nanmax(values))}"


class AlongCheck(Expectation):
    """Checks that reduce ``quantity`` along the dim ``along``: one point per series."""

    def quantity_fields(self):
        return {"quantity": self.quantity}

    def _series(self, operands) -> tuple[np.ndarray, tuple[str, ...]]:
        """``(values (..., n), dims of the leading axes)``: the series on the last axis."""
        quantity = operands["quantity"]
        axis = quantity.dims.index(self.along)
        values = np.moveaxis(quantity.values.astype(float), axis, -1)
        dims = tuple(d for d in quantity.dims if d != self.along)
        if values.shape[-1] < 2:
            raise SpecError("along", f"dim {self.along!r} of {self.quantity!r} has fewer than 2 entries")
        return values, dims


@CHECKS.register("monotone")
class Monotone(AlongCheck):
    """Increasing / decreasing along ``along``: every step (``strict``: strictly), or a Kendall
    tau of at least ``kendall_tau_min`` in that direction."""

    check_name = "monotone"
    fields = _series_fields(direction=Field("choice", required=True, choices=("increasing", "decreasing")),
                            strict=Field("bool", default=False),
                            kendall_tau_min=Field("number", low=-1.0, high=1.0))

    statistics = ("fraction", "margin")

    def _validate(self):
        if self.strict and self.kendall_tau_min is not None:
            raise SpecError("kendall_tau_min", "give either strict or kendall_tau_min, not both")
        if self.statistic == "margin" and self.kendall_tau_min is None:
            raise SpecError("statistic", "a margin needs kendall_tau_min (the margin is tau − kendall_tau_min)")

    def margin(self, numbers, statistic):
        """Kendall tau in the claimed direction minus ``kendall_tau_min``."""
        return numbers["tau"] - self.kendall_tau_min

    def evaluate(self, operands) -> Evaluation:
        values, dims = self._series(operands)
        sign = 1.0 if self.direction == "increasing" else -1.0
        if self.kendall_tau_min is not None:
            tau = sign * kendall_tau(values)
            expected = (f"{self.quantity} {self.direction} along {self.along} "
                        f"(Kendall tau ≥ {threshold_text(self.kendall_tau_min)})")
            return tau >= self.kendall_tau_min, dims, {"values": values, "tau": tau}, expected, f"tau ranges {_span(tau)}"
        steps = sign * np.diff(values, axis=-1)
        ok = np.all(steps > 0 if self.strict else steps >= 0, axis=-1)
        expected = f"{self.quantity} {'strictly ' if self.strict else ''}{self.direction} along {self.along}"
        detail = f"smallest step in that direction {fmt_number(nanmin(steps))}"
        return ok, dims, {"values": values, "steps": steps}, expected, detail

    def headline_value(self, numbers, fraction):
        return float(nanmin(numbers["tau"])) if "tau" in numbers else fraction


@CHECKS.register("exponential")
class Exponential(AlongCheck):
    """``log|quantity|`` linear along ``along`` with the slope sign of ``direction``,
    ``R² ≥ min_r2`` and (optional) a first-to-last fold ``≥ min_fold``."""

    check_name = "exponential"
    fields = _series_fields(direction=Field("choice", required=True, choices=("decay", "growth")),
                            min_r2=Field("number", required=True, low=0.0, high=1.0),
                            min_fold=Field("number", low=1.0))

    def evaluate(self, operands) -> Evaluation:
        values, dims = self._series(operands)
        fit = log_linear_fit(values)
        slope, r2, fold = fit.slope, fit.r2, fit.fold(self.direction)
        ok = is_exponential(fit, self.direction, self.min_r2, self.min_fold)
        expected = (f"log|{self.quantity}| linear in {self.along} ({self.direction}) with "
                    f"R² ≥ {threshold_text(self.min_r2)}")
        if self.min_fold is not None:
            expected += f" and first-to-last fold ≥ {threshold_text(self.min_fold)}"
        detail = (f"slope per step {_span(slope)}, R² min {fmt_number(nanmin(r2))}, "
                  f"fold min {fmt_number(nanmin(fold))}")
        return ok, dims, {"values": values, "slope": slope, "r2": r2, "fold": fold}, expected, detail

    def headline_value(self, numbers, fraction):
        return float(nanmin(numbers["fold"]))


@CHECKS.register("spread")
class Spread(AlongCheck):
    """``max/min`` of ``|quantity|`` along ``along`` at most ``max_ratio``."""

    check_name = "spread"
    fields = _series_fields(max_ratio=Field("number", required=True, low=1.0))
    statistics = ("fraction", "log_margin")

    def margin(self, numbers, statistic):
        """``log(max_ratio) − log(spread)``: decades (natural-log units) inside the bound."""
        return np.log(self.max_ratio) - np.log(numbers["spread"])

    def evaluate(self, operands) -> Evaluation:
        values, dims = self._series(operands)
        spread = spread_ratio(values)
        expected = f"max/min of |{self.quantity}| along {self.along} ≤ {threshold_text(self.max_ratio)}"
        detail = f"max/min ranges {_span(spread)}"
        return spread <= self.max_ratio, dims, {"values": values, "spread": spread}, expected, detail

    def headline_value(self, numbers, fraction):
        return float(nanmax(numbers["spread"]))
