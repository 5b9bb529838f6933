"""The ``[tier.X]`` tables of a claim file: overrides, seeds, limits and the tier's own grid.

See :mod:`lcsuite.harness.schema` for the file format; ``fail(key, message)`` raises the
claim's error naming the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lcsuite.harness.checks import did_you_mean

__all__ = ["TierSpec", "TIER_SPECIAL_KEYS", "parse_tier", "check_grid_values", "type_name"]

TIER_SPECIAL_KEYS = ("seeds", "requires_real_data", "timeout_s", "grid")


@dataclass(frozen=True)
class TierSpec:
    """One ``[tier.X]`` table: parameter overrides, seeds, limits and its own grid keys
    (``[tier.X.grid]``, empty when the tier keeps the claim's ``[grid]``)."""

    name: str
    overrides: dict[str, Any]
    seeds: tuple[int, ...]
    requires_real_data: bool = False
    timeout_s: float | None = None
    grid: dict[str, list[Any]] = field(default_factory=dict)


def type_name(value: Any) -> str:
    """A TOML value's type as messages name it (``integer``, ``list``, ``table``, ...)."""
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )


def check_grid_values(grid: dict[str, Any], table: str, fail) -> None:
    """Every value of a grid table is a non-empty list without repeats."""
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            fail(f"{table}.{key}", f"expected a non-empty list of values, got {type_name(values)} {values!r}")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            fail(f"{table}.{key}", "repeated values")


def _parse_tier_grid(name: str, table: dict, params: dict, grid: dict, fail) -> dict[str, list[Any]]:
    """``[tier.<name>.grid]``: keys of ``[params]`` or ``[grid]``, not also set in ``[tier.<name>]``;
    a ``[params]`` key's values of its type."""
    key = f"tier.{name}.grid"
    tier_grid = table.get("grid", {})
    if not isinstance(tier_grid, dict):
        fail(key, f"expected a table ([tier.{name}.grid]), got {type_name(tier_grid)}")
    check_grid_values(tier_grid, key, fail)
    for param, values in tier_grid.items():
        if param in table:
            fail(f"{key}.{param}", f"also set in [tier.{name}]; give it in one of the two")
        if param not in params and param not in grid:
            fail(f"{key}.{param}", f"not a key of [params] or [grid]{did_you_mean(param, list(params) + list(grid))}")
        base = params.get(param) if param not in grid else None
        for value in values:
            if base is not None and value is not None and _kind(base) != _kind(value):
                fail(f"{key}.{param}", f"expected values of type {type_name(base)} like [params].{param}, "
                                       f"got {type_name(value)} {value!r}")
    return tier_grid


def parse_tier(name: str, table: Any, params: dict, grid: dict, fail) -> TierSpec:
    """Validate ``[tier.<name>]`` against the claim's ``[params]`` and ``[grid]``."""
    key = f"tier.{name}"
    if not isinstance(table, dict):
        fail(key, f"expected a table, got {type_name(table)}")
    if "seeds" not in table:
        fail(f"{key}.seeds", "missing (required): a list of integer seeds")
    seeds = table["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        fail(f"{key}.seeds", f"expected a non-empty list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        fail(f"{key}.seeds", "repeated seeds")
    requires_real = table.get("requires_real_data", False)
    if not isinstance(requires_real, bool):
        fail(f"{key}.requires_real_data", f"expected true or false, got {requires_real!r}")
    timeout = table.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        fail(f"{key}.timeout_s", f"expected a positive number of seconds, got {timeout!r}")
    tier_grid = _parse_tier_grid(name, table, params, grid, fail)
    overrides = {k: v for k, v in table.items() if k not in TIER_SPECIAL_KEYS}
    for param in overrides:
        if param in grid:
            fail(f"{key}.{param}", "is a [grid] key; the grid point would override it")
        if param not in params:
            options = list(params) + list(TIER_SPECIAL_KEYS)
            fail(f"{key}.{param}", f"not a key of [params]{did_you_mean(param, options)}; "
                                   "a tier may only override [params] (or set seeds, requires_real_data, timeout_s, "
                                   "grid)")
        if params[param] is not None and overrides[param] is not None and _kind(params[param]) != _kind(overrides[param]):
            fail(f"{key}.{param}", f"expected {type_name(params[param])} like [params].{param}, "
                                   f"got {type_name(overrides[param])} {overrides[param]!r}")
    return TierSpec(name, overrides, tuple(seeds), requires_real, float(timeout) if timeout is not None else None,
                    tier_grid)


def _kind(value: Any) -> str:
    """Type class used to compare a tier override with its base (ints and floats mix)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__
