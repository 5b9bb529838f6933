"""Every expectation check passes on data that satisfies it and FAILS on data that violates it."""

import numpy as np
import pytest

from lcsuite.harness.checks import CHECKS, SpecError, build_expectation
from lcsuite.harness.quantities import Quantity, QuantityError


def q(values, *dims):
    return Quantity(np.asarray(values, dtype=float), ("seed",) + dims)


def run(spec, **quantities):
    return build_expectation(spec).check(quantities)


# (spec, quantities where it holds, quantities where it does not)
CASES = {
    "less": (
        {"check": "less", "left": "a", "right": "b"},
        {"a": q([[1, 2]], "layer"), "b": q([[2, 3]], "layer")},
        {"a": q([[1, 4]], "layer"), "b": q([[2, 3]], "layer")},
    ),
    "less_factor": (
        {"check": "less", "left": "a", "right": "b", "factor": 10},
        {"a": q([[1, 2]], "layer"), "b": q([[11, 21]], "layer")},
        {"a": q([[1, 2]], "layer"), "b": q([[11, 19]], "layer")},
    ),
    "less_number": (
        {"check": "less", "left": "a", "right": 1e-9},
        {"a": q([[1e-12, 1e-10]], "trial")},
        {"a": q([[1e-12, 1e-8]], "trial")},
    ),
    "greater": (
        {"check": "greater", "left": "a", "right": "b", "factor": 2},
        {"a": q([[5, 7]], "layer"), "b": q([[2, 3]], "layer")},
        {"a": q([[5, 5]], "layer"), "b": q([[2, 3]], "layer")},
    ),
    "close": (
        {"check": "close", "left": "a", "right": "b", "rtol": 1e-8},
        {"a": q([[1.0, 2.0]], "pair"), "b": q([[1.0 + 1e-12, 2.0]], "pair")},
        {"a": q([[1.0, 2.0]], "pair"), "b": q([[1.0 + 1e-6, 2.0]], "pair")},
    ),
    "ratio": (
        {"check": "ratio", "left": "a", "right": "b", "min": 0.5, "max": 2},
        {"a": q([[1, 3]], "d"), "b": q([[1, 2]], "d")},
        {"a": q([[1, 5]], "d"), "b": q([[1, 2]], "d")},
    ),
    "monotone_strict": (
        {"check": "monotone", "quantity": "a", "along": "depth", "direction": "increasing", "strict": True},
        {"a": q([[1, 2, 3], [0, 5, 6]], "depth")},
        {"a": q([[1, 2, 3], [0, 5, 5]], "depth")},
    ),
    "monotone_tau": (
        {"check": "monotone", "quantity": "a", "along": "layer", "direction": "decreasing", "kendall_tau_min": 0.5},
        {"a": q([[5, 4, 4.5, 2, 1]], "layer")},
        {"a": q([[1, 4, 2, 5, 3]], "layer")},
    ),
    "exponential": (
        {"check": "exponential", "quantity": "a", "along": "layer", "direction": "decay", "min_r2": 0.9, "min_fold": 100},
        {"a": q([[1, 1e-1, 1e-2, 1e-3]], "layer")},
        {"a": q([[1, 0.5, 0.3, 0.2]], "layer")},  # decays, but only 5-fold
    ),
    "exponential_r2": (
        {"check": "exponential", "quantity": "a", "along": "layer", "direction": "growth", "min_r2": 0.9},
        {"a": q([[1, 10, 100, 1000]], "layer")},
        {"a": q([[1, 1000, 1, 1000, 2]], "layer")},
    ),
    "spread": (
        {"check": "spread", "quantity": "a", "along": "layer", "max_ratio": 100},
        {"a": q([[1, 10, 50]], "layer")},
        {"a": q([[1, 10, 500]], "layer")},
    ),
    "fraction_over": (
        {"check": "less", "left": "a", "right": "b", "at_least": 0.75, "over": "layer,seed"},
        {"a": q([[1, 1, 1, 9]], "layer"), "b": q([[2, 2, 2, 2]], "layer")},
        {"a": q([[1, 1, 9, 9]], "layer"), "b": q([[2, 2, 2, 2]], "layer")},
    ),
    "per_seed": (
        {"check": "less", "left": "a", "right": "b", "per_seed": True, "at_least": 0.5},
        {"a": q([[1, 1], [1, 9]], "depth"), "b": q([[2, 2], [2, 2]], "depth")},
        {"a": q([[1, 9], [1, 9]], "depth"), "b": q([[2, 2], [2, 2]], "depth")},
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_check_passes_on_satisfying_data(name):
    spec, good, _ = CASES[name]
    outcome = run(spec, **good)
    assert outcome.passed, outcome


@pytest.mark.parametrize("name", CASES)
def test_check_fails_on_violating_data(name):
    spec, _, bad = CASES[name]
    outcome = run(spec, **bad)
    assert not outcome.passed
    assert outcome.expected and outcome.measured


def test_every_check_has_cases():
    covered = {spec["check"] for spec, _, _ in CASES.values()}
    built_in = {name for name in CHECKS.names() if CHECKS.owner(name).startswith("lcsuite.")}
    assert covered == built_in


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_errors_naming_the_place_for_every_check(bad):
    for spec, good, _ in CASES.values():
        name, quantity = next(iter(good.items()))
        values = np.array(quantity.values, dtype=float)
        values.reshape(-1)[-1] = bad
        poisoned = {**good, name: Quantity(values, quantity.dims)}
        with pytest.raises(QuantityError, match=rf"{name} is non-finite at 1 of {values.size} points \(first: seed="):
            run(spec, **poisoned)


def test_over_keeps_other_dims_separate():
    # 2 of 4 points fail at step 0 only; over=layer demands 75% per step, so it fails.
    spec = {"check": "less", "left": "a", "right": 1, "at_least": 0.75, "over": "layer"}
    a = q([[[0, 0, 5, 5], [0, 0, 0, 0]]], "step", "layer")
    outcome = run(spec, a=a)
    assert not outcome.passed
    assert "step=0" in outcome.where


def test_where_names_failing_points():
    outcome = run({"check": "less", "left": "a", "right": 1}, a=q([[0, 3], [0, 0]], "layer"))
    assert "seed=0, layer=1" in outcome.where


def test_operands_broadcast_by_dim_name():
    a = Quantity(np.array([[[1.0, 2.0]]]), ("seed", "step", "layer"))
    b = Quantity(np.array([[5.0], [6.0]]).T.reshape(1, 2), ("seed", "layer"))
    assert run({"check": "less", "left": "a", "right": "b"}, a=a, b=b).passed


@pytest.mark.parametrize(
    "spec, key, text",
    [
        ({"check": "les", "left": "a", "right": "b"}, "check", "did you mean 'less'"),
        ({"check": "less", "left": "a"}, "right", "missing"),
        ({"check": "less", "left": "a", "right": "b", "factr": 2}, "factr", "did you mean 'factor'"),
        ({"check": "close", "left": "a", "right": "b", "rtol": "tiny"}, "rtol", "expected a number"),
        ({"check": "close", "left": "a", "right": "b"}, "rtol", "give rtol"),
        ({"check": "monotone", "quantity": "a", "along": "x", "direction": "up"}, "direction", "one of"),
        ({"check": "less", "left": "a", "right": "b", "at_least": 1.5}, "at_least", "must lie in"),
        ({"check": "less", "left": "a", "right": "b", "per_seed": True, "over": "x"}, "over", "per_seed"),
        ({"check": "ratio", "left": "a", "right": "b"}, "min", "give min"),
    ],
)
def test_malformed_fields_are_named(spec, key, text):
    with pytest.raises(SpecError) as error:
        build_expectation(spec)
    assert error.value.key == key
    assert text in error.value.message


def test_unknown_quantity_and_dim_are_errors():
    check = build_expectation({"check": "spread", "quantity": "mag", "along": "layr", "max_ratio": 10})
    with pytest.raises(SpecError, match="not produced"):
        check.validate_against({"magnitude": ("seed", "layer")}, "toy")
    with pytest.raises(SpecError, match="did you mean 'layer'"):
        check.validate_against({"mag": ("seed", "layer")}, "toy")
