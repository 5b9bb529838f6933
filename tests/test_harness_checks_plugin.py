"""A check written outside lcsuite: registered in ``CHECKS``, built from a claim's TOML table,
judged like the built-in ones (passes on data that satisfies it, fails on data that does not)."""

import tomllib

import numpy as np
import pytest

from lcsuite.harness.checks import CHECKS, Expectation, Field, SpecError, build_expectation
from lcsuite.harness.quantities import Quantity


class AllAbove(Expectation):
    """Every value of ``quantity`` exceeds ``floor``."""

    check_name = "test_all_above"
    fields = {"quantity": Field("path", required=True), "floor": Field("number", default=0.0)}

    def quantity_fields(self):
        return {"quantity": self.quantity}

    def evaluate(self, operands):
        values = operands["quantity"]
        return values.values > self.floor, values.dims, {"values": values.values}, \
            f"{self.quantity} > {self.floor:g}", ""


class Misnamed(AllAbove):
    check_name = "something_else"


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The toy checks registered for the test only (the registry is as before afterwards)."""
    for name in ("_entries", "_owners"):
        monkeypatch.setattr(CHECKS, name, dict(getattr(CHECKS, name)))
    CHECKS.register("test_all_above", AllAbove)
    CHECKS.register("test_misnamed", Misnamed)

CLAIM = """
[[expect]]
check = "test_all_above"
quantity = "loss"
floor = 0.5
at_least = 0.5
"""


def _loss(values):
    return {"loss": Quantity(np.asarray(values, dtype=float), ("seed", "step"))}


def test_a_registered_check_is_built_from_toml_and_judged():
    check = build_expectation(tomllib.loads(CLAIM)["expect"][0])
    assert isinstance(check, AllAbove) and check.floor == 0.5 and check.label == "test_all_above0"
    assert check.check(_loss([[1.0, 0.7, 0.1]])).passed  # 2 of 3 points hold, at_least 0.5
    failed = check.check(_loss([[1.0, 0.2, 0.1]]))
    assert not failed.passed and "seed=0, step=1" in failed.where
    assert "test_all_above" in CHECKS.names() and CHECKS.owner("test_all_above") == __name__


def test_a_registered_check_gets_the_common_field_validation():
    with pytest.raises(SpecError) as error:
        build_expectation({"check": "test_all_above", "quantity": "loss", "flor": 1})
    assert error.value.key == "flor" and "did you mean 'floor'" in error.value.message
    check = build_expectation({"check": "test_all_above", "quantity": "los"})
    with pytest.raises(SpecError, match="'los' is not produced by experiment 'toy' \\(did you mean 'loss'\\?\\)"):
        check.validate_against({"loss": ("seed", "step")}, "toy")


def test_a_check_registered_under_another_name_than_its_check_name_is_refused():
    with pytest.raises(SpecError, match="check_name is 'something_else': the two must be equal"):
        build_expectation({"check": "test_misnamed", "quantity": "loss"})


def test_an_unknown_check_names_the_closest_registered_one():
    with pytest.raises(SpecError) as error:
        build_expectation({"check": "test_all_abov", "quantity": "loss"})
    assert error.value.key == "check" and "did you mean 'test_all_above'" in error.value.message
