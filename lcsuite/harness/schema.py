"""Claim files: loading ``claims/*.toml`` and validating them into :class:`Claim`.

A claim file (every key below is checked; unknown keys are errors)::

    id = "prop1_kronecker_spectrum"        # must equal the file stem
    paper = "huang2020"                    # the paper's id (results are namespaced by it)
    ref = "Prop. 1, App. A.1"              # where in the paper
    statement = "..."                      # the claim in our own words
    experiment = "kronecker_spectrum"      # a registered experiment
    [params]                               # base parameters
    pairs = 200
    [grid]                                 # each combination is one item (values are lists)
    rank = ["full", "deficient"]
    [tier.smoke]                           # overrides of [params] keys, plus:
    seeds = [0, 1]                         #   required, list of distinct integers
    requires_real_data = false             #   optional: refuse substitute data sets
    timeout_s = 60                         #   optional: CPU-time limit of one item, all its seeds together
    [tier.paper.grid]                      # optional: this tier's grid (values are lists)
    pairs = [[100], [400]]                 #   of a [params] key (a list-valued one here)
    [[expect]]                             # one or more checks (lcsuite.harness.checks)
    check = "close"
    ...

Parameters merge as ``[params]`` < ``[tier.X]`` < grid point; every parameter must be one the
experiment declares. Errors are :class:`ClaimError`, whose text is
``<file>: <key.path>: <what is wrong>``.

A tier's grid, ``[tier.X.grid]``, changes the items at that tier only (:meth:`Claim.grid_at`),
key by key: a ``[grid]`` key given there takes that tier's values in place of ``[grid]``'s (its
position in item ids is kept); a ``[params]`` key given there becomes one more grid key at that
tier, after ``[grid]``'s. Each value must have the type of the ``[params]`` value, so a
list-valued parameter is split with lists (``depths = [[56], [110]]``). A key set both in
``[tier.X]`` and ``[tier.X.grid]``, a key that is neither in ``[params]`` nor in ``[grid]``, and a
``[[variant]]`` overriding a key of some tier's grid are errors. Item ids name the grid point:
``k=v`` joined by ``,``, a list value's elements joined by ``+`` (``depths=56``,
``depths=56+110``).
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lcsuite.harness.enums import TIER_NAMES
from lcsuite.harness.checks import Expectation, SpecError, build_expectation, did_you_mean
from lcsuite.harness.quantities import SEED
from lcsuite.harness.protocol import (VARIANT_SEPARATOR, Validity, Variant, invalid_reasons, parse_diagnosis,
                                      parse_validity, parse_variants)
from lcsuite.harness.spec import IDENTIFIER, ItemSpec
from lcsuite.harness.tiers import TierSpec, check_grid_values, parse_tier, type_name
from lcsuite.registry import UnknownName

__all__ = ["ClaimError", "Claim", "TierSpec", "load_claim", "DEFAULT_ITEM"]

TIERS = TIER_NAMES
DEFAULT_ITEM = "default"
TOP_LEVEL_KEYS = ("id", "paper", "ref", "statement", "experiment", "primary", "params", "grid", "tier", "variant",
                  "valid", "diagnosis", "expect")


class ClaimError(Exception):
    """A claim file is malformed: ``<file>: <key.path>: <message>``."""

    def __init__(self, file: str, key: str, message: str):
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")
        self.file, self.key, self.message = file, key, message


@dataclass
class Claim:
    """A validated claim file."""

    path: Path
    display: str
    id: str
    paper: str
    ref: str
    statement: str
    experiment: str
    params: dict[str, Any]
    grid: dict[str, list[Any]]
    tiers: dict[str, TierSpec]
    expectations: list[Expectation]
    raw: dict[str, Any]
    primary: str = "as stated"
    variants: tuple[Variant, ...] = ()
    validity: tuple[Validity, ...] = ()
    diagnosis: dict[str, str] = field(default_factory=dict)

    def grid_at(self, tier: str | None) -> dict[str, list[Any]]:
        """The grid at ``tier``: ``[grid]`` with ``[tier.<tier>.grid]``'s keys replacing or added
        (see the module docstring); ``[grid]`` alone when ``tier`` is None or has no grid."""
        tier_grid = self.tiers[tier].grid if tier in self.tiers else {}
        return {**self.grid, **tier_grid}

    def items(self, tier: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``(item id, grid point)`` for every combination of :meth:`grid_at` ``(tier)``;
        ``default`` without a grid."""
        grid = self.grid_at(tier)
        if not grid:
            return [(DEFAULT_ITEM, {})]
        keys = list(grid)
        points = []
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values))
            points.append((",".join(f"{k}={_item_value(v)}" for k, v in point.items()), point))
        return points

    def all_items(self, tier: str | None = None) -> list[tuple[str, dict[str, Any], Variant | None]]:
        """Every item at ``tier``: the primary ones (:meth:`items`), then each variant's
        (``<item>@<variant>``)."""
        items = self.items(tier)
        primary = [(name, point, None) for name, point in items]
        return primary + [(f"{name}{VARIANT_SEPARATOR}{variant.name}", point, variant)
                          for variant in self.variants for name, point in items]

    def variant_named(self, item: str) -> Variant | None:
        """The variant an item id names (``init=he@torch7_biases``), or None for primary items."""
        name = item.partition(VARIANT_SEPARATOR)[2]
        return next((v for v in self.variants if v.name == name), None) if name else None

    def item_params(self, tier: str, grid_point: Mapping[str, Any], variant: Variant | None = None) -> dict[str, Any]:
        """Merged parameters: ``[params]`` < ``[tier.<tier>]`` < grid point < variant."""
        return {**self.params, **self.tiers[tier].overrides, **grid_point, **(variant.params if variant else {})}

    def item_spec(self, tier: str, item: str, grid_point: Mapping[str, Any],
                  allow_unverified: bool = False) -> ItemSpec:
        """The :class:`ItemSpec` of one item at ``tier`` (its variant read from the item id)."""
        spec, variant = self.tiers[tier], self.variant_named(item)
        return ItemSpec(self.paper, self.id, item, self.experiment, tier,
                        self.item_params(tier, grid_point, variant), spec.seeds, spec.requires_real_data,
                        allow_unverified, variant.name if variant else None)

    def invalid_at(self, tier: str, params: Mapping[str, Any]) -> list[str]:
        """Why the measurement would not be valid with ``params`` (empty: valid)."""
        return invalid_reasons(self.validity, params)

    def valid_tiers(self, grid_point: Mapping[str, Any]) -> list[str]:
        """The tiers at which the item's measurement is valid."""
        return [t for t in self.tiers if not self.invalid_at(t, self.item_params(t, grid_point))]

    def robustness_label(self, variant: Variant | None) -> str:
        return variant.label if variant else self.primary

    def check_params(self, declared: tuple[str, ...]) -> None:
        """Every ``[params]`` and ``[grid]`` key must be a parameter the experiment declares."""
        for table, keys in (("params", self.params), ("grid", self.grid)):
            for key in keys:
                if key not in declared:
                    raise ClaimError(self.display, f"{table}.{key}",
                                     f"unknown parameter of experiment {self.experiment!r}"
                                     f"{did_you_mean(key, declared)}; its parameters: {', '.join(declared)}")

    def settings_of(self, param: str) -> list[tuple[str, Any]]:
        """``(key path, value)`` of every place the claim sets ``param``: ``[params]``, each
        tier, each grid value and each variant."""
        found = [(f"params.{param}", self.params[param])] if param in self.params else []
        found += [(f"tier.{name}.{param}", tier.overrides[param]) for name, tier in self.tiers.items()
                  if param in tier.overrides]
        found += [(f"grid.{param}", value) for value in self.grid.get(param, [])]
        found += [(f"variant[{index}].params.{param}", variant.params[param])
                  for index, variant in enumerate(self.variants) if param in variant.params]
        return found

    def check_registered_names(self, registry_params: Mapping[str, Any]) -> None:
        """Every parameter that names a registry entry (``{parameter: registry}``, e.g. a model
        or a data set) names a registered one (or a list of registered ones)."""
        for param, registry in registry_params.items():
            for key, value in self.settings_of(param):
                for name in value if isinstance(value, list) else [value]:
                    if not isinstance(name, str):
                        raise ClaimError(self.display, key, f"expected the name of a registered {registry.kind}, "
                                                            f"got {type_name(name)} {name!r}")
                    try:
                        registry.get(name)
                    except UnknownName as exc:
                        raise ClaimError(self.display, key, str(exc)) from None

    def check_outputs(self, declared: Mapping[str, tuple[str, ...]], item: str) -> None:
        """Check the expectations' quantity paths and dims against declared outputs."""
        produced = {path: (SEED,) + tuple(dims) for path, dims in declared.items()}
        for index, expectation in enumerate(self.expectations):
            try:
                expectation.validate_against(produced, self.experiment)
            except SpecError as exc:
                where = f" (item {item})" if item != DEFAULT_ITEM else ""
                raise ClaimError(self.display, f"expect[{index}].{exc.key}", exc.message + where) from None


def _item_value(value: Any) -> str:
    """A grid value as it reads in an item id (``true``; a list's elements joined by ``+``)."""
    if isinstance(value, list):
        return "+".join(_item_value(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Reader:
    """Validation helpers bound to one claim file (every error names the file and the key)."""

    def __init__(self, path: Path, display: str):
        self.path, self.display = path, display

    def fail(self, key: str, message: str):
        raise ClaimError(self.display, key, message)

    def read(self) -> dict[str, Any]:
        try:
            raw = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            self.fail("", f"not valid TOML: {exc}")
        except (OSError, UnicodeDecodeError) as exc:
            self.fail("", f"cannot read: {exc}")
        for key in raw:
            if key not in TOP_LEVEL_KEYS:
                self.fail(key, f"unknown key{did_you_mean(key, TOP_LEVEL_KEYS)}; allowed: {', '.join(TOP_LEVEL_KEYS)}")
        return raw

    def identity(self, raw: dict[str, Any]) -> None:
        for key in ("id", "paper", "ref", "statement", "experiment"):
            if key not in raw:
                self.fail(key, "missing (required)")
            if not isinstance(raw[key], str) or not raw[key].strip():
                self.fail(key, f"expected a non-empty string, got {type_name(raw[key])} {raw[key]!r}")
        if raw["id"] != self.path.stem:
            self.fail("id", f"{raw['id']!r} does not match the file name {self.path.stem!r}")
        for key in ("id", "paper"):
            if not IDENTIFIER.match(raw[key]):
                self.fail(key, f"{raw[key]!r} is not an identifier (a letter, then letters, digits or '_')")

    def text(self, raw: dict[str, Any], key: str, default: str) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, got {type_name(value)} {value!r}")
        return value

    def table(self, raw: dict[str, Any], key: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {type_name(value)}")
        return value

    def grid(self, raw: dict[str, Any]) -> dict[str, list[Any]]:
        grid = self.table(raw, "grid")
        check_grid_values(grid, "grid", self.fail)
        return grid

    def tiers(self, raw: dict[str, Any], params: dict, grid: dict) -> dict[str, TierSpec]:
        tiers_raw = self.table(raw, "tier")
        if not tiers_raw:
            self.fail("tier", f"missing: define at least one of [tier.{'], [tier.'.join(TIERS)}]")
        tiers = {}
        for name, table in tiers_raw.items():
            if name not in TIERS:
                self.fail(f"tier.{name}", f"unknown tier{did_you_mean(name, TIERS)}; tiers: {', '.join(TIERS)}")
            tiers[name] = parse_tier(name, table, params, grid, self.fail)
        return tiers

    def expectations(self, raw: dict[str, Any]) -> list[Expectation]:
        expect_raw = raw.get("expect")
        if expect_raw is None:
            self.fail("expect", "missing: give at least one [[expect]] table")
        if not isinstance(expect_raw, list) or not expect_raw:
            self.fail("expect", "expected one or more [[expect]] tables")
        expectations = []
        for index, spec in enumerate(expect_raw):
            try:
                expectations.append(build_expectation(spec, index))
            except SpecError as exc:
                self.fail(f"expect[{index}].{exc.key}" if exc.key else f"expect[{index}]", exc.message)
        labels = [e.label for e in expectations]
        for index, label in enumerate(labels):
            if labels.index(label) != index:
                self.fail(f"expect[{index}].name", f"{label!r} is used by another expectation")
        return expectations


def _check_item_ids(claim: "Claim", fail) -> None:
    """Item ids are unique at every tier, and no variant overrides a key of a tier's grid."""
    for tier, spec in claim.tiers.items():
        names = [name for name, _ in claim.items(tier)]
        repeated = [n for n in names if names.count(n) > 1]
        if repeated:
            fail(f"tier.{tier}.grid" if spec.grid else "grid", f"grid values give the same item id {repeated[0]!r}")
        for index, variant in enumerate(claim.variants):
            for param in variant.params:
                if param in spec.grid:
                    fail(f"variant[{index}].params.{param}",
                         f"a grid key at tier {tier} ([tier.{tier}.grid]); the variant would override every grid point")


def _check_against_registries(claim: Claim) -> None:
    """The paper and the experiment are registered; params, quantity paths and dims fit the experiment."""
    from lcsuite.harness.experiments import get_experiment
    from lcsuite.harness.papers import PAPERS

    try:
        PAPERS.get(claim.paper)
    except UnknownName as exc:
        raise ClaimError(claim.display, "paper", str(exc)) from None
    try:
        found = get_experiment(claim.experiment)
    except UnknownName as exc:
        raise ClaimError(claim.display, "experiment", str(exc)) from None
    if found.params is not None:
        claim.check_params(found.params)
    claim.check_registered_names(found.registry_params)
    for tier in claim.tiers:
        for item, point in claim.items(tier):
            declared = found.declared_outputs(claim.item_params(tier, point))
            if declared is not None:
                claim.check_outputs(declared, item)


def load_claim(path: Path, display: str | None = None, check_experiment: bool = True) -> Claim:
    """Read and validate one claim file; raises :class:`ClaimError`.

    ``display`` is the file name used in messages (e.g. relative to the rootdir). With
    ``check_experiment`` the paper and the experiment are looked up in their registries and the
    parameters, quantity paths and dims checked against the experiment's declarations.
    """
    path = Path(path)
    reader = _Reader(path, display or str(path))
    raw = reader.read()
    reader.identity(raw)
    params, grid = reader.table(raw, "params"), reader.grid(raw)
    tiers = reader.tiers(raw, params, grid)
    claim = Claim(path=path, display=reader.display, id=raw["id"], paper=raw["paper"], ref=raw["ref"],
                  statement=raw["statement"], experiment=raw["experiment"], params=params, grid=grid,
                  tiers=tiers, expectations=reader.expectations(raw), raw=raw,
                  primary=reader.text(raw, "primary", "as stated"),
                  variants=parse_variants(raw.get("variant"), params, reader.fail),
                  validity=parse_validity(raw.get("valid"), {**params, **grid}, reader.fail),
                  diagnosis=parse_diagnosis(raw.get("diagnosis"), TIERS, reader.fail))
    _check_item_ids(claim, reader.fail)
    if check_experiment:
        _check_against_registries(claim)
    return claim
