"""The registry of checks and the builder of a check from its TOML table."""

from __future__ import annotations

from typing import Any, Mapping

from lcsuite.harness.checks.base import Expectation
from lcsuite.harness.checks.fields import SpecError, type_name
from lcsuite.registry import Registry, UnknownName

__all__ = ["CHECKS", "build_expectation"]

CHECKS: Registry[type[Expectation]] = Registry("check", "lcsuite.checks")
"""``check = "<name>"`` → the :class:`~lcsuite.harness.checks.base.Expectation` subclass."""


def build_expectation(spec: Mapping[str, Any], index: int = 0) -> Expectation:
    """Build a check from its TOML table; raises SpecError with a field path on bad input.

    ``index`` is the table's position among the claim's ``[[expect]]`` tables (default label).
    """
    if not isinstance(spec, Mapping):
        raise SpecError("", f"expected a table, got {type_name(spec)}")
    name = spec.get("check")
    if name is None:
        raise SpecError("check", f"missing; one of {', '.join(CHECKS.names())}")
    try:
        cls = CHECKS.get(str(name))
    except UnknownName as exc:
        raise SpecError("check", str(exc)) from None
    if not (isinstance(cls, type) and issubclass(cls, Expectation)):
        raise SpecError("check", f"check {name!r} ({CHECKS.owner(str(name))}) is not an Expectation subclass")
    if cls.check_name != name:
        raise SpecError("check", f"check {name!r} is registered as {cls.__module__}.{cls.__name__}, whose "
                                 f"check_name is {cls.check_name!r}: the two must be equal")
    return cls(spec, index)
