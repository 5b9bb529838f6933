"""The engine's vocabularies, each defined once: tiers, item verdicts, measurement status.

Verdicts (the judgement of one claim item in one run):

=================  ============================================================================
``pass``/``fail``  an exact identity (Prop. 1, Thms 4.1/4.2) holds / is violated against its
                   rounding bound
``holds``          a statistical claim: significant in the claimed direction and past the bar
``contradicted``   significant in the opposite direction, or the bound excludes the bar
``inconclusive``   neither; never shown as green
``not valid``      the measurement is not valid at this tier's affordable size (not run)
``error``          the experiment crashed, timed out, produced NaN/inf where judged, or was
                   refused its data
``missing``        planned in the run but never finished (a killed worker, an unfinished job)
=================  ============================================================================
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Tier", "Verdict", "MeasurementStatus", "TIER_NAMES"]


class Tier(StrEnum):
    """Where and at which sizes claims run (see CLAIMS.md)."""

    SMOKE = "smoke"
    GPU = "gpu"
    PAPER = "paper"


TIER_NAMES: tuple[str, ...] = tuple(t.value for t in Tier)


class Verdict(StrEnum):
    """An item's verdict in a run (see the module docstring)."""

    PASS = "pass"
    HOLDS = "holds"
    INCONCLUSIVE = "inconclusive"
    NOT_VALID = "not valid"
    FAIL = "fail"
    CONTRADICTED = "contradicted"
    ERROR = "error"
    MISSING = "missing"

    @property
    def rank(self) -> int:
        """Badness order for "worst of" and for regressions: 0 is best."""
        return _RANK[self]

    @property
    def is_green(self) -> bool:
        return self in (Verdict.PASS, Verdict.HOLDS)

    @property
    def is_red(self) -> bool:
        """A result against the claim (``fail``, ``contradicted``): pytest exit status 1."""
        return self in (Verdict.FAIL, Verdict.CONTRADICTED)

    @property
    def is_error(self) -> bool:
        """No result at all (``error``, ``missing``): a distinct exit status."""
        return self in (Verdict.ERROR, Verdict.MISSING)

    @classmethod
    def worst(cls, verdicts) -> "Verdict":
        """The worst of ``verdicts`` (``missing`` when there are none)."""
        found = [cls(v) for v in verdicts]
        return max(found, key=lambda v: v.rank) if found else cls.MISSING


_RANK = {
    Verdict.PASS: 0,
    Verdict.HOLDS: 0,
    Verdict.NOT_VALID: 1,
    Verdict.INCONCLUSIVE: 2,
    Verdict.FAIL: 3,
    Verdict.CONTRADICTED: 3,
    Verdict.MISSING: 4,
    Verdict.ERROR: 4,
}


class MeasurementStatus(StrEnum):
    """Whether a stored measurement ran to the end (``complete``) or stopped (``error``);
    ``partial``: the finished seeds of an unfinished item (:mod:`lcsuite.harness.partial`),
    never a result."""

    COMPLETE = "complete"
    ERROR = "error"
    PARTIAL = "partial"
