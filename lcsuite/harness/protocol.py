"""What a claim file says about its protocol: variants, validity conditions, diagnoses.

- ``primary = "without biases"``: how the primary protocol reads in the robustness line.
- ``[[variant]]``: a protocol detail the paper does not state, run as labelled variant items
  beside the primary ones (``name``, ``label``, ``params`` overriding the item's parameters,
  ``why``). Item ids get ``@<name>`` (``init=he@torch7_biases``). Verdicts come from the primary
  protocol alone; each variant adds to the claim's robustness line ("holds without biases;
  contradicted with Torch7 biases").
- ``[[valid]]``: a condition the measurement needs to be valid (``param`` with ``min`` and/or
  ``max``, ``why``). An item whose parameters miss one at a tier is not run there: its verdict
  is "not valid" with the reason and the tiers where it is valid (DECISIONS D5).
- ``[diagnosis]``: per tier, why the claim is red or inconclusive there (protocol, scale,
  statistics, or a genuine non-reproduction, with the numbers); shown in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from lcsuite.harness.spec import IDENTIFIER

__all__ = ["Variant", "Validity", "parse_variants", "parse_validity", "parse_diagnosis", "invalid_reasons",
           "VARIANT_SEPARATOR"]

VARIANT_SEPARATOR = "@"
_VARIANT_KEYS = ("name", "label", "params", "why")
_VALID_KEYS = ("param", "min", "max", "why")


@dataclass(frozen=True)
class Variant:
    """A labelled protocol variant: parameter overrides run beside the primary protocol."""

    name: str
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""


@dataclass(frozen=True)
class Validity:
    """``min <= params[param] <= max`` must hold for the measurement to be valid."""

    param: str
    min: float | None = None
    max: float | None = None
    why: str = ""

    def problem(self, params: Mapping[str, Any]) -> str | None:
        value = params.get(self.param)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{self.param} = {value!r} is not a number"
        if self.min is not None and value < self.min:
            return f"{self.param} = {value:g} < {self.min:g} ({self.why})"
        if self.max is not None and value > self.max:
            return f"{self.param} = {value:g} > {self.max:g} ({self.why})"
        return None


Fail = Callable[[str, str], None]


def _keys(table: Any, key: str, allowed: tuple[str, ...], fail: Fail) -> dict:
    if not isinstance(table, dict):
        fail(key, "expected a table")
    for name in table:
        if name not in allowed:
            fail(f"{key}.{name}", f"unknown key; allowed: {', '.join(allowed)}")
    return table


def parse_variants(raw: Any, params: Mapping[str, Any], fail: Fail) -> tuple[Variant, ...]:
    """``[[variant]]`` tables; each overrides only ``[params]`` keys, with values of their type."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        fail("variant", "expected [[variant]] tables")
    variants = []
    for index, table in enumerate(raw):
        key = f"variant[{index}]"
        table = _keys(table, key, _VARIANT_KEYS, fail)
        name, label = table.get("name"), table.get("label")
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            fail(f"{key}.name", f"expected an identifier, got {name!r}")
        if not isinstance(label, str) or not label.strip():
            fail(f"{key}.label", "expected the label of the robustness line, e.g. 'with Torch7 biases'")
        overrides = _keys(table.get("params", {}), f"{key}.params", tuple(params), fail)
        for param, value in overrides.items():
            if type(value) is not type(params[param]) and not (isinstance(value, (int, float))
                                                                 and isinstance(params[param], (int, float))):
                fail(f"{key}.params.{param}", f"expected {type(params[param]).__name__} like [params].{param}")
        variants.append(Variant(name, label, dict(overrides), str(table.get("why", ""))))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        fail("variant", f"repeated variant names {names}")
    return tuple(variants)


def parse_validity(raw: Any, params: Mapping[str, Any], fail: Fail) -> tuple[Validity, ...]:
    """``[[valid]]`` tables: a declared parameter and its bounds, with the reason."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        fail("valid", "expected [[valid]] tables")
    conditions = []
    for index, table in enumerate(raw):
        key = f"valid[{index}]"
        table = _keys(table, key, _VALID_KEYS, fail)
        if table.get("param") not in params:
            fail(f"{key}.param", f"{table.get('param')!r} is not a key of [params]")
        bounds = [table.get(k) for k in ("min", "max")]
        if all(b is None for b in bounds) or any(b is not None and not isinstance(b, (int, float)) for b in bounds):
            fail(key, "give min and/or max as numbers")
        if not str(table.get("why", "")).strip():
            fail(f"{key}.why", "say why the measurement needs it")
        conditions.append(Validity(table["param"], table.get("min"), table.get("max"), table["why"]))
    return tuple(conditions)


def parse_diagnosis(raw: Any, tiers: tuple[str, ...], fail: Fail) -> dict[str, str]:
    """``[diagnosis]``: tier name → text."""
    table = _keys(raw if raw is not None else {}, "diagnosis", tiers, fail)
    for tier, text in table.items():
        if not isinstance(text, str) or not text.strip():
            fail(f"diagnosis.{tier}", "expected a non-empty string")
    return dict(table)


def invalid_reasons(conditions: tuple[Validity, ...], params: Mapping[str, Any]) -> list[str]:
    """The conditions ``params`` miss (empty: the measurement is valid)."""
    return [problem for condition in conditions if (problem := condition.problem(params))]
