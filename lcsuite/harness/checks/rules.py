"""The engine's one statistical rule family: seeds are the replicates (DECISIONS D4).

An expectation over seed-dependent quantities names a ``rule``; its check reduces each seed to
one number (the per-seed statistic, taken from the claim's wording) and the rule tests the
numbers of the seeds, one-sided at ``alpha`` (default 0.05):

- ``statistic = "fraction"`` (default): the fraction of the seed's points where the claim holds,
  against the bar ``at_least`` (e.g. "BN's κ below Plain's in at least 80% of layers");
- ``statistic = "margin"``: the seed's mean signed margin in the claimed direction, the claimed
  effect size (``factor``, bounds) included, against 0 (e.g. a paired difference in test error);
- ``statistic = "log_margin"``: the same on a log scale (factor claims, e.g. "≥ 100×").

Rules:

- ``sign``: an exact binomial (sign) test on how many seeds meet the bar: ``holds`` when
  P(X ≥ k | n, ½) ≤ α, ``contradicted`` when P(X ≤ k | n, ½) ≤ α, else ``inconclusive``. It
  cannot reach α = 0.05 with fewer than 5 seeds: with fewer the verdict is inconclusive by design.
- ``t``: a one-sided t-test of the per-seed statistic against the bar; ``holds`` when its lower
  (1−α) confidence bound is past the bar, ``contradicted`` when its upper bound is short of it.
- ``exact`` (default): no test: pass/fail on every point (or ``at_least`` of them), for exact
  identities judged against rounding bounds.

An inconclusive result says how many seeds would likely settle it (80% power, the observed
effect taken as true). Dims outside ``over`` (e.g. ``mask``) are tested separately; the worst
group decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lcsuite.harness.enums import Verdict

__all__ = ["RULES", "STATISTICS", "RuleResult", "sign_test", "t_test", "min_seeds", "apply_rule"]

RULES = ("exact", "sign", "t")
STATISTICS = ("fraction", "margin", "log_margin")
POWER = 0.8
MAX_SEEDS = 1000


@dataclass
class RuleResult:
    """The test of one group of per-seed statistics.

    ``low`` / ``high``: one-sided (1−α) confidence bounds (t: of the mean statistic; sign: of
    the proportion of seeds meeting the bar, Clopper-Pearson); ``seeds_needed``: seeds that
    would likely settle an inconclusive result (None when settled).
    """

    verdict: Verdict
    statistics: np.ndarray
    bar: float
    p_holds: float
    p_contradicted: float
    low: float
    high: float
    seeds_needed: int | None
    text: str


def min_seeds(rule: str, alpha: float) -> int:
    """Fewest seeds with which the rule can reach significance (sign: 2^-n ≤ α; t: 2)."""
    if rule == "sign":
        return math.ceil(math.log2(1.0 / alpha))
    return 2 if rule == "t" else 1


def _sign_power(n: int, q: float, alpha: float) -> float:
    from scipy.stats import binom

    critical = int(binom.isf(alpha, n, 0.5)) + 1  # smallest k with P(X >= k | 1/2) <= alpha
    return float(binom.sf(critical - 1, n, q)) if critical <= n else 0.0


def _sign_seeds_needed(k: int, n: int, alpha: float) -> int | None:
    q = min(max((k + 0.5) / (n + 1.0), 0.02), 0.98)
    q = max(q, 1.0 - q)  # power to settle it in the observed direction
    return next((m for m in range(max(n, 1), MAX_SEEDS + 1) if _sign_power(m, q, alpha) >= POWER), None)


def sign_test(meets: np.ndarray, alpha: float) -> RuleResult:
    """``meets``: per seed, whether the seed meets the bar (bool)."""
    from scipy.stats import beta, binom

    n, k = int(meets.size), int(np.sum(meets))
    p_holds, p_contra = float(binom.sf(k - 1, n, 0.5)), float(binom.cdf(k, n, 0.5))
    low = float(beta.ppf(alpha, k, n - k + 1)) if k > 0 else 0.0
    high = float(beta.ppf(1 - alpha, k + 1, n - k)) if k < n else 1.0
    verdict = Verdict.HOLDS if p_holds <= alpha else Verdict.CONTRADICTED if p_contra <= alpha else Verdict.INCONCLUSIVE
    needed = None if verdict is not Verdict.INCONCLUSIVE else _sign_seeds_needed(k, n, alpha)
    text = (f"sign test: {k} of {n} seeds meet the bar (P ≥ {k}: {p_holds:.3g}, P ≤ {k}: {p_contra:.3g}; "
            f"proportion in [{low:.2f}, {high:.2f}])")
    return RuleResult(verdict, meets.astype(float), 0.5, p_holds, p_contra, low, high, needed, text)


def _t_seeds_needed(mean: float, sd: float, alpha: float) -> int | None:
    from scipy.stats import norm

    if sd == 0 or mean == 0:
        return None
    n = math.ceil(((norm.isf(alpha) + norm.ppf(POWER)) * sd / abs(mean)) ** 2)
    return min(max(n, 2), MAX_SEEDS)


def t_test(values: np.ndarray, bar: float, alpha: float) -> RuleResult:
    """One-sided t-test of the mean of ``values`` (one per seed) against ``bar``."""
    from scipy.stats import t

    n, diffs = int(values.size), values - bar
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1)) if values.size > 1 else math.inf
    if n < 2 or not np.isfinite(sd):
        return RuleResult(Verdict.INCONCLUSIVE, values, bar, 1.0, 1.0, -math.inf, math.inf, 2,
                          f"t-test: {n} seed(s), too few to test")
    if sd == 0:
        p_holds, p_contra = (0.0, 1.0) if mean > 0 else (1.0, 0.0) if mean < 0 else (1.0, 1.0)
        half = 0.0
    else:
        stat = mean / (sd / math.sqrt(n))
        p_holds, p_contra = float(t.sf(stat, n - 1)), float(t.cdf(stat, n - 1))
        half = float(t.isf(alpha, n - 1)) * sd / math.sqrt(n)
    verdict = Verdict.HOLDS if p_holds <= alpha else Verdict.CONTRADICTED if p_contra <= alpha else Verdict.INCONCLUSIVE
    needed = None if verdict is not Verdict.INCONCLUSIVE else _t_seeds_needed(mean, sd, alpha)
    low, high = bar + mean - half, bar + mean + half
    text = f"t-test: mean {bar + mean:.4g} vs bar {bar:.4g} over {n} seeds, one-sided bounds [{low:.4g}, {high:.4g}]"
    return RuleResult(verdict, values, bar, p_holds, p_contra, low, high, needed, text)


def apply_rule(rule: str, statistic: np.ndarray, bar: float, alpha: float, is_fraction: bool) -> RuleResult:
    """Test one group's per-seed ``statistic`` (fractions meet the bar when ``≥ bar``; margins
    when ``> bar``). With fewer seeds than the rule needs the verdict is inconclusive by design."""
    statistic = np.asarray(statistic, dtype=float)
    if statistic.size < min_seeds(rule, alpha):
        result = RuleResult(Verdict.INCONCLUSIVE, statistic, bar, 1.0, 1.0, -math.inf, math.inf, min_seeds(rule, alpha),
                            f"inconclusive by design at this tier: the {rule} test needs at least "
                            f"{min_seeds(rule, alpha)} seeds at α = {alpha:g}, this tier runs {statistic.size}")
        return result
    if rule == "sign":
        meets = statistic >= bar - 1e-12 if is_fraction else statistic > bar
        return sign_test(meets, alpha)
    return t_test(statistic, bar, alpha)
