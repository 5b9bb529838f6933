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

Built-in checks (points are the elements of the broadcast operands, or one per series for the
checks that reduce ``along`` a dim):
    less         left·factor < right       (left, right: quantity path or number; factor = 1)
    greater      left > right·factor
    close        |left − right| ≤ atol + rtol·|right|
    ratio        min ≤ left/right ≤ max
    monotone     quantity along a dim is increasing/decreasing (``strict``) or has Kendall tau
                 ≥ ``kendall_tau_min`` in the given direction
    exponential  log|quantity| is linear along a dim with slope sign ``direction`` (decay or
                 growth), R² ≥ ``min_r2``, and (optional) first-to-last fold ≥ ``min_fold``
    spread       max/min of |quantity| along a dim ≤ ``max_ratio``

Writing a check (in a plugin, without changing lcsuite): subclass :class:`Expectation` and set

- ``check_name``: the name claim files write (``check = "<check_name>"``); it must equal the
  name the class is registered under;
- ``fields``: ``{field name: Field(kind, required=..., default=..., choices=..., low=...,
  high=...)}`` (kinds: :data:`~lcsuite.harness.checks.fields.FIELD_KINDS`). Each field
  becomes an attribute of the same name, parsed and bounded, its default when absent; the
  common fields above are added. Cross-field rules go in ``_validate()`` (raise
  :class:`SpecError` naming the field);
- ``quantity_fields()``: ``{field name: quantity path}`` of the quantities it reads, so that a
  claim naming a quantity its experiment does not produce fails when the claim is loaded;
- ``evaluate(operands)``: ``operands`` maps those field names to quantities (finite: non-finite
  values are an error before it is called); it returns ``(ok, dims, numbers, expected,
  detail)``: a boolean array with one entry per point, the names of its dims, the arrays to
  keep, the claim in words and what was measured. The base class judges ``ok`` (``at_least``,
  ``over``, ``per_seed``); optionally ``headline_value(numbers, fraction)`` picks the number
  tables show (default: the fraction of points that hold).

Register it in the ``"lcsuite.checks"`` registry, either with the decorator
``@CHECKS.register("<check_name>")`` in a module the plugin imports, or through an entry point
of the group ``lcsuite.checks`` naming the class (``mycheck = "mypkg.checks:MyCheck"``); see
:mod:`lcsuite.registry`. :func:`build_expectation` looks every ``check = ...`` up in
:data:`CHECKS`.
"""

from lcsuite.harness.checks import along, comparisons  # noqa: F401  (they register the built-ins)
from lcsuite.harness.checks.base import Expectation, Outcome
from lcsuite.harness.checks.fields import Field, SpecError
from lcsuite.harness.checks.registry import CHECKS, build_expectation
from lcsuite.registry import did_you_mean

__all__ = ["CHECKS", "Expectation", "Outcome", "SpecError", "Field", "build_expectation", "did_you_mean"]
