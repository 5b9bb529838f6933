"""spectral_norm (σ_max from the smaller Gram matrix) against the SVD."""

import math

import pytest
import torch

from lcsuite.conditioning.statistics import spectral_norm, weight_domination_ratio


@pytest.mark.parametrize("shape", [(7, 3), (3, 7), (5, 5), (1, 6), (6, 1), (6,), (4, 2, 3, 3)])
def test_spectral_norm_matches_svd(shape):
    g = torch.Generator().manual_seed(0)
    matrix = torch.randn(*shape, generator=g, dtype=torch.float64)
    flat = matrix.reshape(matrix.shape[0], -1) if matrix.ndim != 1 else matrix.reshape(1, -1)
    reference = float(torch.linalg.svdvals(flat)[0])
    assert math.isclose(spectral_norm(matrix), reference, rel_tol=1e-13)


def test_spectral_norm_of_rank_one_and_ill_conditioned_matrices():
    u = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    v = torch.tensor([4.0, 0.0, -1.0, 2.0], dtype=torch.float64)
    assert math.isclose(spectral_norm(torch.outer(u, v)), float(u.norm() * v.norm()), rel_tol=1e-14)
    matrix = torch.diag(torch.tensor([1e8, 1.0, 1e-8], dtype=torch.float64))
    assert math.isclose(spectral_norm(matrix), 1e8, rel_tol=1e-14)


def test_spectral_norm_edge_values():
    assert spectral_norm(torch.zeros(3, 4)) == 0.0
    huge = torch.full((2, 2), 1e200, dtype=torch.float64)  # Gram overflows: SVD fallback
    assert math.isclose(spectral_norm(huge), 2e200, rel_tol=1e-14)
    with pytest.raises(torch.linalg.LinAlgError):  # as the SVD always did
        spectral_norm(torch.tensor([[float("nan"), 1.0], [0.0, 1.0]]))
    assert math.isnan(weight_domination_ratio(torch.zeros(2, 3), torch.zeros(2, 3)))
    assert weight_domination_ratio(torch.ones(2, 3), torch.zeros(2, 3)) == float("inf")
