"""Run-vs-run comparison: verdict flips and numeric drift between two stored runs.

Items are matched by ``<claim-id>/<item>``. For matched items:

- verdict flips: ``pass`` → ``fail``/``error`` is a **regression**; ``fail``/``error`` →
  ``pass`` an improvement; other changes (``fail`` ↔ ``error``) are listed.
- drift: every headline number and every quantity is compared. Quantities are reduced to the
  median over their leading ``seed`` axis (seeds are replicates; a single seed's wobble is not
  the signal), then compared element-wise. The drift of a value pair is the symmetric relative
  difference ``|new - old| / max(|old|, |new|)`` (0 when ``|new - old| <= ATOL`` = 1e-12, which
  keeps round-off around zero quiet, or both are NaN; infinite when exactly one is
  non-finite); a quantity's drift is its largest element drift. A changed shape
  or a quantity present in only one of the runs is infinite drift.
- a drift above the tolerance of its path is a **regression**. The tolerance is ``--rtol``
  (default 0.1), overridden per path by a tolerance file (TOML)::

      default = 0.1            # optional; replaces --rtol
      [paths]                  # fnmatch patterns; the longest matching pattern wins
      "*/quantities/*/kappa_p80" = 0.5
      "fig6_resnet_last_layer/*" = 0.25
      "appB_layerwise_cost/*" = inf   # timing: never a regression

  Paths are ``<claim-id>/<item>/headline/<name>`` and ``<claim-id>/<item>/quantities/<path>``.

Items present in only one run are listed, not counted as regressions.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lcsuite.report import StoredItem, ResultsError, RunResult, fmt_number, load_run, markdown_table

DEFAULT_RTOL = 0.1
ATOL = 1e-12
"""Absolute differences at or below this are no drift (round-off around zero)."""


@dataclass
class Tolerances:
    """The relative tolerance for each compared path: a default and pattern overrides."""

    default: float = DEFAULT_RTOL
    overrides: dict[str, float] = field(default_factory=dict)

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
        if self.old == "pass":
            return "regression"
        if self.new == "pass":
            return "improvement"
        return "changed"


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
    """The outcome of comparing ``new`` against ``baseline``."""

    baseline_dir: Path
    new_dir: Path
    verdict_changes: list[VerdictChange]
    drifts: list[Drift]
    only_baseline: list[str]
    only_new: list[str]
    matched: int

    @property
    def regressions(self) -> list[VerdictChange]:
        return [c for c in self.verdict_changes if c.kind == "regression"]

    @property
    def drift_regressions(self) -> list[Drift]:
        return [d for d in self.drifts if d.beyond]

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions or self.drift_regressions)


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
    if "seed" in dims and values.ndim:
        axis = dims.index("seed")
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return np.nanmedian(values, axis=axis) if values.shape[axis] else values
    return values


def _describe(values: np.ndarray) -> str:
    values = np.asarray(values)
    if values.size == 1:
        return fmt_number(values.reshape(-1)[0])
    return f"{'×'.join(map(str, values.shape))} array, mean {fmt_number(np.nanmean(values)) if values.size else '—'}"


def _item_drifts(old: StoredItem, new: StoredItem, tolerances: Tolerances) -> list[Drift]:
    drifts = []
    for name in sorted(set(old.headline) | set(new.headline)):
        path = f"{new.key}/headline/{name}"
        a, b = old.headline.get(name), new.headline.get(name)
        drift = math.inf if a is None or b is None else relative_drift(a, b)
        drifts.append(Drift(path, _maybe(a), _maybe(b), drift, tolerances.for_path(path)))
    for name in sorted(set(old.quantities) | set(new.quantities)):
        path = f"{new.key}/quantities/{name}"
        qa, qb = old.quantities.get(name), new.quantities.get(name)
        if qa is None or qb is None:
            drift = math.inf
            a_text = "—" if qa is None else _describe(qa.values)
            b_text = "—" if qb is None else _describe(qb.values)
        elif not (np.issubdtype(qa.values.dtype, np.number) and np.issubdtype(qb.values.dtype, np.number)):
            continue
        else:
            a = _seed_median(qa.values, list(qa.dims))
            b = _seed_median(qb.values, list(qb.dims))
            drift = relative_drift(a, b)
            a_text, b_text = _describe(a), _describe(b)
        drifts.append(Drift(path, a_text, b_text, drift, tolerances.for_path(path)))
    return drifts


def _maybe(value) -> str:
    return "—" if value is None else fmt_number(value)


def compare_runs(baseline: RunResult, new: RunResult, tolerances: Tolerances) -> Comparison:
    """Verdict flips and drift of every item present in both runs."""
    old_items, new_items = baseline.by_key(), new.by_key()
    shared = sorted(set(old_items) & set(new_items))
    changes, drifts = [], []
    for key in shared:
        a, b = old_items[key], new_items[key]
        if a.verdict != b.verdict:
            changes.append(VerdictChange(key, a.verdict, b.verdict))
        drifts.extend(_item_drifts(a, b, tolerances))
    return Comparison(
        baseline.run_dir,
        new.run_dir,
        changes,
        drifts,
        sorted(set(old_items) - set(new_items)),
        sorted(set(new_items) - set(old_items)),
        len(shared),
    )


def compare_dirs(baseline_dir, new_dir, rtol: float = DEFAULT_RTOL, tolerance_file=None) -> Comparison:
    """Load both runs (run dirs or results roots with ``LATEST``) and compare them."""
    tolerances = Tolerances.from_file(tolerance_file, rtol) if tolerance_file else Tolerances(rtol)
    return compare_runs(load_run(baseline_dir), load_run(new_dir), tolerances)


def render_comparison(comparison: Comparison, max_drift_rows: int = 200) -> str:
    """The comparison as markdown: verdict changes, drift beyond tolerance, unmatched items."""
    c = comparison
    status = "REGRESSION" if c.has_regression else "no regression"
    out = [
        "# lcsuite compare",
        "",
        f"- baseline: `{c.baseline_dir}`",
        f"- new: `{c.new_dir}`",
        f"- items compared: {c.matched}; numbers compared: {len(c.drifts)}",
        f"- result: **{status}** ({len(c.regressions)} verdict regressions, "
        f"{len(c.drift_regressions)} drifts beyond tolerance)",
        "",
        "## Verdict changes",
        "",
    ]
    if c.verdict_changes:
        out.append(markdown_table(
            ["item", "baseline", "new", "kind"],
            [[v.key, v.old, v.new, f"**{v.kind}**" if v.kind == "regression" else v.kind]
             for v in c.verdict_changes],
        ))
    else:
        out.append("None.")
    out += ["", "## Drift beyond tolerance", ""]
    beyond = sorted(c.drift_regressions, key=lambda d: -d.drift)
    if beyond:
        rows = [[d.path, d.old, d.new, fmt_number(d.drift), fmt_number(d.tolerance)]
                for d in beyond[:max_drift_rows]]
        out.append(markdown_table(["path", "baseline", "new", "relative drift", "tolerance"], rows))
        if len(beyond) > max_drift_rows:
            out.append(f"\n… and {len(beyond) - max_drift_rows} more.")
    else:
        out.append("None.")
    largest = sorted((d for d in c.drifts if not d.beyond), key=lambda d: -d.drift)[:10]
    if largest:
        out += ["", "## Largest drifts within tolerance", "",
                markdown_table(["path", "baseline", "new", "relative drift", "tolerance"],
                               [[d.path, d.old, d.new, fmt_number(d.drift), fmt_number(d.tolerance)]
                                for d in largest])]
    out += ["", "## Items in only one run", ""]
    if c.only_baseline or c.only_new:
        out.append(markdown_table(
            ["item", "present in"],
            [[k, "baseline only"] for k in c.only_baseline] + [[k, "new only"] for k in c.only_new],
        ))
    else:
        out.append("None.")
    return "\n".join(out) + "\n"
