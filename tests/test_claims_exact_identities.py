"""Exact-identity claims (Prop. 1, Thm 4.1): each passes on the real measurement at tiny sizes,
and each fails under its mutation.

Every test runs the claim's experiment (or crafts its quantities), then evaluates the claim
file's own ``[[expect]]`` through the harness and asserts the verdicts: exact identities are
judged exactly (``rule = "exact"``), so they pass or fail, never hold or are contradicted.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from claim_checks import claim, claim_params, run_seeds
from torch import nn

from lcsuite.harness.enums import Verdict
from lcsuite.papers.huang2020.experiments import kronecker, scaling
from lcsuite.harness.quantities import Quantity

PROP1, THM1 = "prop1_kronecker_spectrum", "thm1_rectifier_scaling"
SEEDS = (0, 1)


def verdicts(claim_id: str, quantities) -> dict[str, Verdict]:
    """``{expectation label: verdict}`` of the claim file's checks on ``quantities``."""
    return {e.label: e.check(quantities).verdict for e in claim(claim_id).expectations}


def passes(result: dict[str, Verdict]) -> bool:
    return set(result.values()) == {Verdict.PASS}


@pytest.mark.parametrize("claim_id", [PROP1, THM1])
def test_every_expectation_states_the_exact_rule(claim_id):
    tables = claim(claim_id).raw["expect"]
    assert [table.get("rule") for table in tables] == ["exact"] * len(tables)


def replaced(quantities, path, values):
    q = quantities[path]
    return {**quantities, path: Quantity(np.broadcast_to(values, q.values.shape).astype(float), q.dims)}


# --- Prop. 1 ---------------------------------------------------------------------------------------

# 60 pairs up to 16×16: enough non-trivial pairs (hypothesis tries size-1 and rank-1 factors
# first, and those factor exactly) for the kappa_50% record to hold.
TINY_PAIRS = dict(source="random_pairs", pairs=60, max_size=16)
TINY_NETWORK = dict(source="network", network_depth=2, network_width=4, network_examples=64, network_steps=3)


@pytest.fixture(scope="module")
def random_pairs():
    return run_seeds(kronecker.kronecker_spectrum, claim_params(PROP1, **TINY_PAIRS), seeds=SEEDS)


def test_prop1_holds_on_random_pairs(random_pairs):
    assert passes(verdicts(PROP1, random_pairs))


def test_prop1_holds_on_network_factors():
    quantities = run_seeds(kronecker.kronecker_spectrum, claim_params(PROP1, **TINY_NETWORK), seeds=(0,))
    assert quantities["kappa/rel_err"].dims == ("seed", "layer")
    assert passes(verdicts(PROP1, quantities))


def test_prop1_fails_with_a_wrong_kronecker_factor(monkeypatch):
    # F formed as Sx ⊗ Sg² while the factor spectra come from Sx and Sg.
    monkeypatch.setattr(kronecker, "explicit_matrix", lambda sx, sg: np.kron(sx, sg @ sg))
    quantities = run_seeds(kronecker.kronecker_spectrum, claim_params(PROP1, **{**TINY_PAIRS, "pairs": 20}), seeds=SEEDS)
    result = verdicts(PROP1, quantities)
    for label in ("lambda_max_rel_err", "kappa_rel_err", "spectrum_err"):
        assert result[label] is Verdict.FAIL, label


def test_prop1_fails_with_a_wrong_factor_on_the_network(monkeypatch):
    kron = torch.kron
    monkeypatch.setattr(torch, "kron", lambda a, b: kron(a, b @ b))
    quantities = run_seeds(kronecker.kronecker_spectrum, claim_params(PROP1, **TINY_NETWORK), seeds=(0,))
    result = verdicts(PROP1, quantities)
    assert result["lambda_max_rel_err"] is Verdict.FAIL and result["spectrum_err"] is Verdict.FAIL


def test_prop1_kappa_tolerance_is_the_rounding_bound_only_where_it_exceeds_1e_8(random_pairs):
    bound, tolerance = random_pairs["kappa/rounding_bound"].values, random_pairs["kappa/tolerance"].values
    np.testing.assert_array_equal(tolerance, np.maximum(1e-8, bound))
    # A kappa off by 1e-6 is caught on the random pairs, where rounding allows far less.
    result = verdicts(PROP1, replaced(random_pairs, "kappa/rel_err", 1e-6))
    assert result["kappa_rel_err"] is Verdict.FAIL


def test_prop1_record_fails_if_partial_kappas_always_factored(random_pairs):
    result = verdicts(PROP1, replaced(random_pairs, "kappa_p50/relative_gap", 0.0))
    assert result["kappa_p50_not_factored"] is Verdict.FAIL


# --- Thm 4.1 ---------------------------------------------------------------------------------------

TINY_NETS = dict(trials=8, max_width=6, max_channels=3, image_size=4, batch=4, equal_alpha_width=6)
ITEMS = [(network, loss) for network in scaling.NETWORKS for loss in scaling.LOSSES]


def run_thm1(network, loss, seeds=SEEDS):
    return run_seeds(scaling.rectifier_scaling, claim_params(THM1, network=network, loss=loss, **TINY_NETS), seeds)


@pytest.mark.parametrize("network,loss", ITEMS)
def test_thm1_holds(network, loss):
    quantities = run_thm1(network, loss)
    assert passes(verdicts(THM1, quantities))
    if loss == "linear":
        np.testing.assert_array_equal(quantities["mu/fit"].values, 1.0)


@pytest.mark.parametrize("network", scaling.NETWORKS)
def test_thm1_fails_when_the_scaling_is_perturbed(monkeypatch, network):
    # The network is scaled by alpha_k·1.001 while the prediction uses alpha_k.
    scale = scaling.scale_weights
    monkeypatch.setattr(scaling, "scale_weights", lambda model, alphas: scale(model, [a * 1.001 for a in alphas]))
    result = verdicts(THM1, run_thm1(network, "linear"))
    for label in ("input_rel_err", "output_grad_rel_err", "weight_grad_rel_err",
                  "equal_alpha_up_ratio", "equal_alpha_down_ratio"):
        assert result[label] is Verdict.FAIL, label


@pytest.mark.parametrize("direction,label", [("up", "equal_alpha_growth"), ("down", "equal_alpha_decay")])
def test_thm1_equal_alpha_trend_fails_when_the_gradient_ratio_stays_flat_in_depth(direction, label):
    quantities = run_thm1("mlp", "linear", seeds=(0,))
    flat = replaced(quantities, f"equal_alpha/{direction}/weight_grad_ratio", 1.0)
    assert verdicts(THM1, flat)[label] is Verdict.FAIL


def test_thm1_fails_for_a_non_homogeneous_activation(monkeypatch):
    monkeypatch.setattr(scaling.nn, "ReLU", nn.ELU)  # elu(a·x) ≠ a·elu(x)
    result = verdicts(THM1, run_thm1("mlp", "linear", seeds=(0,)))
    assert result["input_rel_err"] is Verdict.FAIL and result["weight_grad_rel_err"] is Verdict.FAIL


def test_thm1_cross_entropy_breaks_the_scalar_mu_assumption():
    # Taking the theorem's scalar-mu assumption at face value for cross-entropy fails the check;
    # the claim therefore feeds the measured output-gradient back (see the claim's statement).
    quantities = run_thm1("mlp", "cross_entropy")
    assert quantities["mu/nonscalar_residual"].values.max() > 1e-3
    crafted = replaced(quantities, "output_grad/rel_err", quantities["output_grad/rel_err_scalar_mu"].values)
    assert verdicts(THM1, crafted)["output_grad_rel_err"] is Verdict.FAIL
