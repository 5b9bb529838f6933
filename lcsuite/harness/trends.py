"""Numeric cores of the trend checks, as pure functions over the last axis of an array.

The claim checks (``exponential``, ``spread``, ``monotone`` in
:mod:`lcsuite.harness.checks.along`) and the monitor's diagnosis rules
(:mod:`lcsuite.monitor.rules`) judge trends with these same functions, so a "decay" or a
"spread" means one thing across the project. Every function treats each leading index as one
series (``values`` of shape ``(..., n)``) and returns arrays of shape ``(...)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["LogLinearFit", "log_linear_fit", "is_exponential", "spread_ratio", "kendall_tau", "DIRECTIONS"]

DIRECTIONS = ("decay", "growth")


class LogLinearFit(NamedTuple):
    """Least-squares line through ``log|v|`` against the position ``0 .. n-1``.

    Attributes:
        slope: Change of ``log|v|`` (natural log) per position, shape ``(...)``.
        r2: Coefficient of determination of the line; NaN when ``log|v|`` is constant.
        growth: ``|v_last| / |v_first|``.
    """

    slope: np.ndarray
    r2: np.ndarray
    growth: np.ndarray

    def fold(self, direction: str) -> np.ndarray:
        """First-to-last factor in ``direction``: ``|first|/|last|`` for decay, its inverse
        for growth."""
        _check_direction(direction)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / self.growth if direction == "decay" else self.growth


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def log_linear_fit(values) -> LogLinearFit:
    """Fit ``log|values|`` linearly along the last axis (``n >= 2`` entries).

    Zeros give ``-inf`` logs and therefore non-finite slopes; callers treat a non-finite slope
    as "no exponential trend".
    """
    magnitude = np.abs(np.asarray(values, dtype=float))
    if magnitude.shape[-1] < 2:
        raise ValueError(f"a log-linear fit needs at least 2 values along the last axis, got {magnitude.shape[-1]}")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(magnitude)
        x = np.arange(magnitude.shape[-1], dtype=float)
        xc = x - x.mean()
        mean_log = logs.mean(axis=-1, keepdims=True)
        slope = np.sum(xc * (logs - mean_log), axis=-1) / np.sum(xc**2)
        fitted = mean_log + slope[..., None] * xc
        ss_res = np.sum((logs - fitted) ** 2, axis=-1)
        ss_tot = np.sum((logs - mean_log) ** 2, axis=-1)
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)
        growth = magnitude[..., -1] / magnitude[..., 0]
    return LogLinearFit(slope, r2, growth)


def is_exponential(fit: LogLinearFit, direction: str, min_r2: float, min_fold: float | None = None) -> np.ndarray:
    """Whether each series decays / grows exponentially: a finite slope of the right sign,
    ``R² >= min_r2`` and, when given, a first-to-last fold ``>= min_fold``."""
    _check_direction(direction)
    sign_ok = fit.slope < 0 if direction == "decay" else fit.slope > 0
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(fit.slope) & sign_ok & (fit.r2 >= min_r2)
        if min_fold is not None:
            ok &= fit.fold(direction) >= min_fold
    return ok


def spread_ratio(values) -> np.ndarray:
    """``max|v| / min|v|`` along the last axis (``inf`` when a value is zero)."""
    magnitude = np.abs(np.asarray(values, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return magnitude.max(axis=-1) / magnitude.min(axis=-1)


def kendall_tau(values: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between the position along the last axis and the values (per series)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[-1]
    i, j = np.triu_indices(n, k=1)
    signs = np.sign(values[..., j] - values[..., i])
    pairs = len(i)
    ties = np.sum(signs == 0, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(signs, axis=-1) / np.sqrt(pairs * (pairs - ties))
