"""Claims on exact curvature (Fig. 1, Fig. 2, App. B.0.1): helpers and that each claim can fail.

Each mutation runs the experiment at tiny sizes (or crafts its quantities), then evaluates the
claim file's own ``[[expect]]`` through the harness and asserts a failed verdict.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from claim_checks import run_seeds, verdicts

from lcsuite.conditioning import curvature_rows, exact_curvature
from lcsuite.harness.experiments import ExperimentContext
from lcsuite.papers.huang2020.experiments import analysis_cost, exact_fisher
from lcsuite.papers.huang2020.experiments.network_factors import network_factor_spectra
from lcsuite.harness.quantities import as_quantity, stack_seeds
from lcsuite.models import MLP


@pytest.mark.parametrize("norm", ["none", "bn"])
@pytest.mark.parametrize("fisher", ["true", "empirical"])
def test_curvature_rows_match_exact_curvature(norm, fisher):
    torch.manual_seed(0)
    model = MLP(6, 4, 3, 5, norm=norm).train()
    x, y = torch.randn(12, 6), torch.randint(0, 4, (12,))
    rows, slices = curvature_rows(model, x, y, fisher)
    reference = exact_curvature(model, x, y, fisher=fisher)
    torch.testing.assert_close(rows.T @ rows / 12, reference.matrix, rtol=1e-10, atol=1e-14)
    assert slices == reference.slices
    full = torch.linalg.eigvalsh(reference.matrix).flip(0)
    nonzero = exact_fisher.nonzero_curvature_spectrum(rows, 12)
    torch.testing.assert_close(nonzero, full[: len(nonzero)], rtol=1e-8, atol=1e-14)
    assert full[len(nonzero):].abs().max() <= 1e-12 * full[0]


TINY_FIG2 = dict(depth=3, width=6, num_examples=60)


def test_fig2_fails_when_the_factor_scale_is_perturbed():
    quantities = run_seeds(exact_fisher.kfac_approximation, {**TINY_FIG2, "norm": "bn"})
    q = quantities["kron/lambda_max"]
    quantities["kron/lambda_max"] = type(q)(q.values * 10.0, q.dims)
    k = quantities["kron/kappa_p80"]
    quantities["kron/kappa_p80"] = type(k)(k.values * 10.0, k.dims)
    result = verdicts("fig2_kfac_approximation", quantities)
    assert not result["lambda_max_within_3x"] and not result["kappa_p80_within_3x"]


def test_fig1_fails_when_bn_is_swapped_for_plain(monkeypatch):
    monkeypatch.setattr(exact_fisher, "NORMS", ("none", "none"))
    quantities = run_seeds(exact_fisher.layerwise_vs_full, dict(arch="3x6", num_examples=20))
    result = verdicts("fig1_layerwise_agrees_with_full", quantities)
    for label in ("F_full_lambda_ratio", "F_layer_lambda_ratio", "F_full_bn_better_kappa_p80",
                  "M_full_lambda_ratio", "M_layer_lambda_ratio"):
        assert not result[label], label


def test_fig1_normal_case_lambda_ratio():
    quantities = run_seeds(exact_fisher.layerwise_vs_full, dict(arch="4x12", num_examples=30), seeds=(0,))
    assert verdicts("fig1_layerwise_agrees_with_full", quantities)["F_full_lambda_ratio"]


def test_appB_fails_when_the_factor_path_costs_as_much_as_the_full_one(monkeypatch):
    monkeypatch.setattr(analysis_cost, "_factor", analysis_cost._full)
    params = dict(widths=[4, 6, 8], depth=2, num_examples=8, repeats=1)
    quantities = run_seeds(analysis_cost.layerwise_cost, params, seeds=(0,))
    assert not verdicts("appB_layerwise_cost", quantities)["speedup_full_at_largest"]


def test_appB_fails_when_speedup_stops_growing():
    speedup = as_quantity((np.array([5.0, 300.0, 200.0]), ("width",)))
    quantities = stack_seeds([{"speedup/full": speedup, "speedup/sub": speedup,
                               "speedup/full_at_largest": as_quantity(200.0)}])
    result = verdicts("appB_layerwise_cost", quantities)
    assert not result["speedup_full_grows"] and not result["speedup_sub_grows"]
    assert result["speedup_full_at_largest"]


def test_network_factor_spectra_products():
    out = network_factor_spectra(ExperimentContext(params={}, seed=0),
                                 dict(depth=3, width=5, num_examples=50, steps=3, lr=0.1))
    explicit, product = out["lambda_max/explicit"][0], out["lambda_max/product"][0]
    np.testing.assert_allclose(explicit, product, rtol=1e-8)
