"""Run-vs-run comparison: verdict changes, missing items and numeric drift (DECISIONS D3).

The two runs must have the same tier and results schema (else :class:`ResultsError`, exit 2).
Items are matched by key (``<paper>/<claim>/<item>``) over the two runs' plans:

- items in only one plan (a variant added, a path renamed) are listed under "plans differ",
  never as regressions;
- an item planned in both but missing (never finished) in either run is a regression: the
  comparison cannot vouch for it;
- for items judged in both, a verdict that got worse (``pass`` → ``fail``, ``holds`` →
  ``inconclusive``, anything → ``error``) is a regression, a better one an improvement, an
  equally bad other one a change;
- drift: every headline number and every quantity is compared. Quantities are reduced to the
  median over their leading ``seed`` axis (seeds are replicates; a single seed's wobble is not
  the signal), then compared element-wise. The drift of a value pair is the symmetric relative
  difference ``|new - old| / max(|old|, |new|)`` (0 when ``|new - old| <= ATOL`` = 1e-12, which
  keeps round-off around zero quiet, or both are NaN; infinite when exactly one is
  non-finite); a quantity's drift is its largest element drift. A changed shape or a quantity
  present in only one of the runs is infinite drift. Timing quantities (wall-clock seconds) are
  compared only where a tolerance pattern names them.
- a drift above the tolerance of its path is a **regression**. The tolerance is ``--rtol``
  (default 0.1), overridden per path by a tolerance file (TOML)::

      default = 0.1            # optional; replaces --rtol
      [paths]                  # fnmatch patterns; the longest matching pattern wins
      "*/quantities/*/kappa_p80" = 0.5
      "huang2020/fig6_resnet_last_layer/*" = 0.25
      "huang2020/appB_layerwise_cost/*" = inf   # timing: never a regression

  Paths are ``<key>/headline/<name>`` and ``<key>/quantities/<path>``.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lcsuite.harness.quantities import SEED
from lcsuite.harness.enums import Verdict
from lcsuite.format import fmt_number, markdown_table
from lcsuite.reporting.loading import ItemView, ResultsError, RunView, load_run

DEFAULT_RTOL = 0.1
ATOL = 1e-12
"""Absolute differences at or below this are no drift (round-off around zero)."""


@dataclass
class Tolerances:
    """The relative tolerance for each compared path: a default and pattern overrides."""

    default: float = DEFAULT_RTOL
    overrides: dict[str, float] = field(default_factory=dict)

    def names(self, path: str) -> bool:
        """Whether a pattern of the tolerance file matches ``path``."""
        return any(fnmatch.fnmatchcase(path, p) for p in self.overrides)

    def for_path(self, path: str) -> float:
        matches = [p for p in self.overrides if fnmatch.fnmatchcase(path, p)]
        return self.overrides[max(matches, key=len)] if matches else self.default

    @classmethod
    def from_file(cls, file: str | Path, default: float = DEFAULT_RTOL) -> "Tolerances":
        """Read a TOML tolerance file (format in the module docstring)."""
        try:
            with open(file, "rb") as handle:
                spec = tomllib.load(handle)
        except FileNotFoundError:
            raise ResultsError(f"tolerance file not found: {file}") from None
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise ResultsError(f"tolerance file {file} is not valid TOML: {exc}") from None
        try:
            default = float(spec.get("default", default))
            overrides = {str(k): float(v) for k, v in dict(spec.get("paths", {})).items()}
        except (TypeError, ValueError) as exc:
            raise ResultsError(f"tolerance file {file}: tolerances must be numbers ({exc})") from None
        unknown = set(spec) - {"default", "paths"}
        if unknown:
            raise ResultsError(f"tolerance file {file}: unknown keys {sorted(unknown)}")
        return cls(default, overrides)


@dataclass
class VerdictChange:
    key: str
    old: str
    new: str

    @property
    def kind(self) -> str:
        old, new = Verdict(self.old), Verdict(self.new)
        if new.rank > old.rank:
            return "regression"
        return "improvement" if new.rank < old.rank else "changed"


@dataclass
class Drift:
    path: str
    old: str
    new: str
    drift: float
    tolerance: float

    @property
    def beyond(self) -> bool:
        return self.drift > self.tolerance


@dataclass
class Comparison:
    """The outcome of comparing ``new`` against ``baseline`` (see the module docstring)."""

    baseline_dir: Path
    new_dir: Path
    verdict_changes: list[VerdictChange]
    drifts: list[Drift]
    plan_only_baseline: list[str]
    plan_only_new: list[str]
    missing: list[tuple[str, str]] = field(default_factory=list)
    matched: int = 0

    @property
    def regressions(self) -> list[VerdictChange]:
        return [c for c in self.verdict_changes if c.kind == "regression"]

    @property
    def drift_regressions(self) -> list[Drift]:
        return [d for d in self.drifts if d.beyond]

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions or self.drift_regressions or self.missing)


def relative_drift(old, new) -> float:
    """Largest symmetric relative difference between two arrays (see module docstring)."""
    a = np.asarray(old, dtype=float)
    b = np.asarray(new, dtype=float)
    if a.shape != b.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    a_finite, b_finite = np.isfinite(a), np.isfinite(b)
    same_nonfinite = (~a_finite & ~b_finite) & ((np.isnan(a) & np.isnan(b)) | (a == b))
    mismatch = (a_finite != b_finite) | (~a_finite & ~b_finite & ~same_nonfinite)
    if np.any(mismatch):
        return math.inf
    both = a_finite & b_finite
    if not np.any(both):
        return 0.0
    a, b = a[both], b[both]
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = np.abs(a - b)
    ratio = np.where(difference > ATOL, difference / np.where(scale > 0, scale, 1.0), 0.0)
    return float(ratio.max())


def _seed_median(values: np.ndarray, dims: list[str]) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if SEED in dims and values.ndim:
        axis = dims.index(SEED)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(values, axis=axis) if values.shape[axis] else values
    return values


def _describe(values: np.ndarray) -> str:
    values = np.asarray(values)
    if values.size == 1:
        return fmt_number(values.reshape(-1)[0])
    return f"{'×'.join(map(str, values.shape))} array, mean {fmt_number(np.nanmean(values)) if values.size else '—'}"


def _maybe(value) -> str:
    return "—" if value is None else fmt_number(value)


def _headline_drifts(old: ItemView, new: ItemView, tolerances: Tolerances) -> list[Drift]:
    drifts = []
    for name in sorted(set(old.headline) | set(new.headline)):
        path = f"{new.key}/headline/{name}"
        a, b = old.headline.get(name), new.headline.get(name)
        drift = math.inf if a is None or b is None else relative_drift(a, b)
        drifts.append(Drift(path, _maybe(a), _maybe(b), drift, tolerances.for_path(path)))
    return drifts


def _quantity_drift(path: str, qa, qb, tolerances: Tolerances) -> Drift | None:
    if (qa is not None and qa.timing or qb is not None and qb.timing) and not tolerances.names(path):
        return None  # wall-clock: compared only where a tolerance is given for it
    if qa is None or qb is None:
        return Drift(path, "—" if qa is None else _describe(qa.values), "—" if qb is None else _describe(qb.values),
                     math.inf, tolerances.for_path(path))
    if not (np.issubdtype(qa.values.dtype, np.number) and np.issubdtype(qb.values.dtype, np.number)):
        return None
    a, b = _seed_median(qa.values, list(qa.dims)), _seed_median(qb.values, list(qb.dims))
    return Drift(path, _describe(a), _describe(b), relative_drift(a, b), tolerances.for_path(path))


def _item_drifts(old: ItemView, new: ItemView, tolerances: Tolerances) -> list[Drift]:
    drifts = _headline_drifts(old, new, tolerances)
    for name in sorted(set(old.quantities) | set(new.quantities)):
        drift = _quantity_drift(f"{new.key}/quantities/{name}", old.quantities.get(name),
                                new.quantities.get(name), tolerances)
        if drift is not None:
            drifts.append(drift)
    return drifts


def compare_runs(baseline: RunView, new: RunView, tolerances: Tolerances) -> Comparison:
    """Compare two loaded runs; ResultsError when they cannot be compared (tier, nothing shared)."""
    if baseline.tier != new.tier:
        raise ResultsError(f"cannot compare a {baseline.tier}-tier run ({baseline.run_dir}) with a "
                           f"{new.tier}-tier run ({new.run_dir}): compare runs of the same tier")
    old_items, new_items = baseline.by_key(), new.by_key()
    shared = sorted(set(old_items) & set(new_items))
    if not shared:
        raise ResultsError(f"nothing to compare: {baseline.run_dir} and {new.run_dir} plan no item in common")
    comparison = Comparison(baseline.run_dir, new.run_dir, [], [], sorted(set(old_items) - set(new_items)),
                            sorted(set(new_items) - set(old_items)))
    for key in shared:
        a, b = old_items[key], new_items[key]
        absent = [side for side, item in (("baseline", a), ("new", b)) if item.verdict is Verdict.MISSING]
        if absent:
            comparison.missing.extend((key, side) for side in absent)
            continue
        comparison.matched += 1
        if a.verdict != b.verdict:
            comparison.verdict_changes.append(VerdictChange(key, str(a.verdict), str(b.verdict)))
        comparison.drifts.extend(_item_drifts(a, b, tolerances))
    return comparison


def compare_dirs(baseline_dir, new_dir, rtol: float = DEFAULT_RTOL, tolerance_file=None) -> Comparison:
    """Load both runs (run dirs or results roots with ``LATEST``) and compare them."""
    tolerances = Tolerances.from_file(tolerance_file, rtol) if tolerance_file else Tolerances(rtol)
    return compare_runs(load_run(baseline_dir), load_run(new_dir), tolerances)


def _section(title: str, headers: list[str], rows: list[list]) -> list[str]:
    return ["", f"## {title}", "", markdown_table(headers, rows) if rows else "None."]


def summary_line(c: Comparison) -> str:
    """``REGRESSION (...)`` or ``no regression (...)`` with the counts behind it."""
    status = "REGRESSION" if c.has_regression else "no regression"
    return (f"{status}: {len(c.regressions)} verdict regressions, {len(c.missing)} planned items missing, "
            f"{len(c.drift_regressions)} drifts beyond tolerance")


def render_comparison(comparison: Comparison, max_drift_rows: int = 200) -> str:
    """The comparison as markdown: verdict changes, missing items, drift, plan differences."""
    c = comparison
    out = ["# lcsuite compare", "", f"- baseline: `{c.baseline_dir}`", f"- new: `{c.new_dir}`",
           f"- items compared: {c.matched}; numbers compared: {len(c.drifts)}", f"- result: **{summary_line(c)}**"]
    out += _section("Verdict changes", ["item", "baseline", "new", "kind"],
                    [[v.key, v.old, v.new, f"**{v.kind}**" if v.kind == "regression" else v.kind]
                     for v in c.verdict_changes])
    out += _section("Planned items missing", ["item", "missing in"], [[k, side] for k, side in c.missing])
    beyond = sorted(c.drift_regressions, key=lambda d: -d.drift)
    out += _section("Drift beyond tolerance", ["path", "baseline", "new", "relative drift", "tolerance"],
                    [[d.path, d.old, d.new, fmt_number(d.drift), fmt_number(d.tolerance)]
                     for d in beyond[:max_drift_rows]])
    if len(beyond) > max_drift_rows:
        out.append(f"\n… and {len(beyond) - max_drift_rows} more.")
    largest = sorted((d for d in c.drifts if not d.beyond), key=lambda d: -d.drift)[:10]
    if largest:
        out += _section("Largest drifts within tolerance", ["path", "baseline", "new", "relative drift", "tolerance"],
                        [[d.path, d.old, d.new, fmt_number(d.drift), fmt_number(d.tolerance)] for d in largest])
    out += _section("Plans differ (not regressions)", ["item", "planned in"],
                    [[k, "baseline only"] for k in c.plan_only_baseline] + [[k, "new only"] for k in c.plan_only_new])
    return "\n".join(out) + "\n"
