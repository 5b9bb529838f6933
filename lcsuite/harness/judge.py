"""Judging a stored measurement against its claim's expectations, for one run.

Judging is cheap and is done by every run, also for reused measurements, so that a corrected
check never replays an old verdict (DECISIONS D1). The result is a
:class:`~lcsuite.harness.runs.VerdictRecord`; the measurement file is never changed.
"""

from __future__ import annotations

import time
import numpy as np

from lcsuite.data import data_label
from lcsuite.harness.enums import MeasurementStatus, Verdict
from lcsuite.harness.checks import Expectation, SpecError
from lcsuite.harness.quantities import QuantityError
from lcsuite.harness.runs import VerdictRecord
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import StoredItem

__all__ = ["judge", "error_record", "not_valid_record"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def error_record(claim, spec: ItemSpec, message: str, *, note: str = "",
                 verdict: Verdict = Verdict.ERROR) -> VerdictRecord:
    """The verdict of an item that has no usable measurement (or is not valid at its tier)."""
    return VerdictRecord(spec.key, spec.tier, str(verdict), message, claim.ref, claim.statement, note=note,
                         judged_at=_now(), variant=spec.variant,
                         label=claim.robustness_label(claim.variant_named(spec.item)))


def not_valid_record(claim, spec: ItemSpec) -> VerdictRecord | None:
    """"not valid" when the item's parameters miss a validity condition at its tier, else None."""
    reasons = claim.invalid_at(spec.tier, spec.params)
    if not reasons:
        return None
    point = {k: spec.params[k] for k in claim.grid_at(spec.tier)}
    elsewhere = [t for t in claim.valid_tiers(point) if t != spec.tier]
    message = (f"not valid at tier {spec.tier}: " + "; ".join(reasons)
               + (f"; valid at tier {', '.join(elsewhere)}" if elsewhere else ""))
    return error_record(claim, spec, message, verdict=Verdict.NOT_VALID)


def _judge_expectation(index: int, expectation: Expectation, quantities, display: str) -> tuple[dict, float | None]:
    base = {"name": expectation.label, "check": expectation.check_name, "description": expectation.describe()}
    try:
        outcome = expectation.check(quantities)
    except (SpecError, QuantityError) as exc:
        key = f"expect[{index}].{exc.key}" if isinstance(exc, SpecError) else f"expect[{index}]"
        message = exc.message if isinstance(exc, SpecError) else str(exc)
        return {**base, "verdict": str(Verdict.ERROR), "expected": "", "measured": "",
                "where": "", "error": f"{display}: {key}: {message}"}, None
    record = {**base, "verdict": str(outcome.verdict), "expected": outcome.expected, "measured": outcome.measured,
              "where": outcome.where}
    if outcome.rule:
        record["rule"] = outcome.rule
    headline = outcome.headline if outcome.headline is not None and np.isfinite(outcome.headline) else None
    return record, headline


def _summary(records: list[dict]) -> tuple[Verdict, str]:
    """The item's verdict: the worst expectation's (a statistical verdict before an exact one of
    the same rank), and a message counting the expectations' verdicts."""
    verdicts = [Verdict(r["verdict"]) for r in records]
    errors = [r["error"] for r in records if r.get("error")]
    if errors:
        return Verdict.ERROR, "; ".join(errors)
    order = sorted(verdicts, key=lambda v: (v.rank, v not in (Verdict.PASS, Verdict.FAIL)))
    counts = {v: verdicts.count(v) for v in dict.fromkeys(reversed(order))}
    return order[-1], f"of {len(records)} expectations: " + ", ".join(f"{n} {v}" for v, n in counts.items())


def judge(claim, stored: StoredItem, *, reused_from: str | None = None, note: str = "") -> VerdictRecord:
    """Judge ``stored`` against ``claim``'s expectations (``claim``: a loaded claim file)."""
    spec = stored.spec
    resume_note = stored.provenance.get("resume", {}).get("note", "")  # seeds resumed from a partial, or why not
    common = dict(ref=claim.ref, statement=claim.statement, data=[data_label(d) for d in stored.data],
                  elapsed_s=stored.elapsed_s, reused_from=reused_from, note="; ".join(t for t in (note, resume_note) if t),
                  judged_at=_now(), variant=spec.variant, label=claim.robustness_label(claim.variant_named(spec.item)))
    if stored.status is not MeasurementStatus.COMPLETE:
        message = stored.message or f"a {stored.status} measurement is not a result"
        return VerdictRecord(spec.key, spec.tier, str(Verdict.ERROR), message, **common)
    records, headline = [], {}
    for index, expectation in enumerate(claim.expectations):
        record, number = _judge_expectation(index, expectation, stored.quantities, claim.display)
        records.append(record)
        if number is not None:
            headline[expectation.label] = float(number)
    verdict, message = _summary(records)
    return VerdictRecord(spec.key, spec.tier, str(verdict), message, expectations=records,
                         headline=headline, **common)
