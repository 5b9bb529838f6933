"""The statistical rule family (DECISIONS D4): for each rule and per-seed statistic, a clear
effect holds, an underpowered one is inconclusive, a reversed one is contradicted."""

import numpy as np
import pytest

from lcsuite.harness.checks import build_expectation
from lcsuite.harness.checks.rules import apply_rule, min_seeds
from lcsuite.harness.enums import Verdict
from lcsuite.harness.quantities import Quantity


def q(values, *dims):
    return Quantity(np.asarray(values, dtype=float), ("seed",) + dims)


def verdict(spec, **quantities):
    return build_expectation(spec).check(quantities).verdict


FRACTION = {"check": "less", "left": "bn", "right": "plain", "at_least": 0.8}


def _layers(fractions, layers=10):
    """Per seed, ``bn`` below ``plain`` in the given fraction of layers."""
    bn = np.ones((len(fractions), layers))
    plain = np.zeros_like(bn)
    for seed, fraction in enumerate(fractions):
        plain[seed, : round(fraction * layers)] = 2.0
    return {"bn": q(bn, "layer"), "plain": q(plain + 1e-3, "layer")}


@pytest.mark.parametrize("rule", ["sign", "t"])
def test_fraction_statistic_holds_is_inconclusive_or_contradicted(rule):
    spec = {**FRACTION, "rule": rule}
    assert verdict(spec, **_layers([0.9, 1.0, 0.9, 1.0, 0.9, 1.0])) is Verdict.HOLDS
    assert verdict(spec, **_layers([0.9, 0.5, 1.0, 0.6, 0.9])) is Verdict.INCONCLUSIVE
    assert verdict(spec, **_layers([0.2, 0.1, 0.3, 0.2, 0.1, 0.2])) is Verdict.CONTRADICTED


def _differences(values):
    """Per seed and mask, ``frozen`` minus ``full`` (claim: frozen > full)."""
    values = np.asarray(values, dtype=float)
    return {"frozen": q(values, "mask"), "full": q(np.zeros(values.shape[0]))}


MARGIN = {"check": "greater", "left": "frozen", "right": "full", "statistic": "margin", "over": "seed"}


@pytest.mark.parametrize("rule", ["sign", "t"])
def test_margin_statistic_per_group(rule):
    spec = {**MARGIN, "rule": rule}
    rng = np.random.default_rng(0)
    clear = 0.01 + 0.002 * rng.standard_normal((10, 3))
    assert verdict(spec, **_differences(clear)) is Verdict.HOLDS
    noisy = 0.001 + 0.01 * rng.standard_normal((6, 3))
    assert verdict(spec, **_differences(noisy)) is Verdict.INCONCLUSIVE
    assert verdict(spec, **_differences(-clear)) is Verdict.CONTRADICTED
    one_mask_reversed = clear.copy()
    one_mask_reversed[:, 1] *= -1
    outcome = build_expectation(spec).check(_differences(one_mask_reversed))
    assert outcome.verdict is Verdict.CONTRADICTED and outcome.where == "worst group: mask=1"


@pytest.mark.parametrize("rule", ["sign", "t"])
def test_log_margin_statistic_against_a_claimed_factor(rule):
    spec = {"check": "greater", "left": "bn", "right": "plain", "factor": 100, "statistic": "log_margin", "rule": rule}
    seeds = 6
    far = {"bn": q(np.full((seeds, 4), 1.0), "layer"), "plain": q(np.full((seeds, 4), 1e-5), "layer")}
    assert verdict(spec, **far) is Verdict.HOLDS
    short = {"bn": q(np.full((seeds, 4), 1.0), "layer"), "plain": q(np.full((seeds, 4), 0.1), "layer")}
    assert verdict(spec, **short) is Verdict.CONTRADICTED  # 10x, the claim says 100x
    mixed = {"bn": q(np.ones((seeds, 4)), "layer"),
             "plain": q(np.repeat([[1e-3], [1e-1]] * 3, 4, axis=1), "layer")}
    assert verdict(spec, **mixed) is Verdict.INCONCLUSIVE


def test_every_seed_claims_read_through_the_rule():
    spec = {"check": "monotone", "quantity": "loss", "along": "depth", "direction": "increasing", "strict": True,
            "per_seed": True, "rule": "sign"}
    rising = q(np.tile(np.arange(3.0), (6, 1)), "depth")
    assert verdict(spec, loss=rising) is Verdict.HOLDS
    one_flip = np.tile(np.arange(3.0), (6, 1))
    one_flip[2] = [0, 2, 1]
    assert verdict(spec, loss=q(one_flip, "depth")) is Verdict.INCONCLUSIVE  # 5 of 6: p = 0.11
    assert verdict(spec, loss=q(-np.tile(np.arange(3.0), (6, 1)), "depth")) is Verdict.CONTRADICTED


def test_too_few_seeds_are_inconclusive_by_design():
    assert min_seeds("sign", 0.05) == 5 and min_seeds("t", 0.05) == 2
    outcome = build_expectation({**FRACTION, "rule": "sign"}).check(_layers([1.0, 1.0, 1.0]))
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert "inconclusive by design at this tier: the sign test needs at least 5 seeds" in outcome.measured


def test_inconclusive_results_say_how_many_seeds_would_settle_them():
    result = apply_rule("t", np.array([0.02, -0.01, 0.03, 0.0, 0.01]), 0.0, 0.05, is_fraction=False)
    assert result.verdict is Verdict.INCONCLUSIVE and result.seeds_needed > 5
    assert result.low < 0 < result.high
    settled = apply_rule("t", np.full(8, 0.01) + np.linspace(0, 1e-3, 8), 0.0, 0.05, is_fraction=False)
    assert settled.verdict is Verdict.HOLDS and settled.seeds_needed is None and settled.low > 0


def test_exact_rule_stays_pass_or_fail():
    spec = {"check": "close", "left": "a", "right": "b", "rtol": 1e-9}
    same = {"a": q(np.ones((2, 3)), "x"), "b": q(np.ones((2, 3)), "x")}
    assert verdict(spec, **same) is Verdict.PASS
    off = {"a": q(np.ones((2, 3)), "x"), "b": q(np.full((2, 3), 1 + 1e-6), "x")}
    assert verdict(spec, **off) is Verdict.FAIL


@pytest.mark.parametrize(("spec", "message"), [
    ({**FRACTION, "statistic": "margin"}, "a margin statistic needs a rule"),
    ({**FRACTION, "rule": "sign", "statistic": "bogus"}, "expected one of"),
    ({"check": "exponential", "quantity": "x", "along": "layer", "direction": "decay", "min_r2": 0.9,
      "rule": "sign", "statistic": "margin"}, "supports fraction"),
])
def test_bad_rule_fields_are_spec_errors(spec, message):
    from lcsuite.harness.checks import SpecError

    with pytest.raises(SpecError, match=message):
        build_expectation(spec)
