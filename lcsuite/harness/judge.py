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

__all__ = ["judge", "error_record"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def error_record(spec: ItemSpec, message: str, *, ref: str = "", statement: str = "",
                 note: str = "") -> VerdictRecord:
    """The verdict of an item that has no usable measurement."""
    return VerdictRecord(spec.key, spec.tier, str(Verdict.ERROR), message, ref, statement, note=note,
                         judged_at=_now())


def _judge_expectation(index: int, expectation: Expectation, quantities, display: str) -> tuple[dict, float | None]:
    base = {"name": expectation.label, "check": expectation.check_name, "description": expectation.describe()}
    try:
        outcome = expectation.check(quantities)
    except (SpecError, QuantityError) as exc:
        key = f"expect[{index}].{exc.key}" if isinstance(exc, SpecError) else f"expect[{index}]"
        message = exc.message if isinstance(exc, SpecError) else str(exc)
        return {**base, "verdict": str(Verdict.ERROR), "expected": "", "measured": "",
                "where": "", "error": f"{display}: {key}: {message}"}, None
    verdict = Verdict.PASS if outcome.passed else Verdict.FAIL
    record = {**base, "verdict": str(verdict), "expected": outcome.expected, "measured": outcome.measured,
              "where": outcome.where}
    headline = outcome.headline if outcome.headline is not None and np.isfinite(outcome.headline) else None
    return record, headline


def _summary(records: list[dict]) -> tuple[Verdict, str]:
    verdicts = [Verdict(r["verdict"]) for r in records]
    worst = Verdict.worst(verdicts)
    errors = [r["error"] for r in records if r.get("error")]
    if errors:
        return Verdict.ERROR, "; ".join(errors)
    bad = sum(v.rank > 0 for v in verdicts)
    if bad:
        return worst, f"{bad} of {len(records)} expectations do not hold"
    return worst, f"all {len(records)} expectations hold"


def judge(claim, stored: StoredItem, *, reused_from: str | None = None, note: str = "") -> VerdictRecord:
    """Judge ``stored`` against ``claim``'s expectations (``claim``: a loaded claim file)."""
    spec = stored.spec
    common = dict(ref=claim.ref, statement=claim.statement, data=[data_label(d) for d in stored.data],
                  elapsed_s=stored.elapsed_s, reused_from=reused_from, note=note, judged_at=_now())
    if stored.status is MeasurementStatus.ERROR:
        return VerdictRecord(spec.key, spec.tier, str(Verdict.ERROR), stored.message, **common)
    records, headline = [], {}
    for index, expectation in enumerate(claim.expectations):
        record, number = _judge_expectation(index, expectation, stored.quantities, claim.display)
        records.append(record)
        if number is not None:
            headline[expectation.label] = float(number)
    verdict, message = _summary(records)
    return VerdictRecord(spec.key, spec.tier, str(verdict), message, expectations=records,
                         headline=headline, **common)
