"""Spectra, kappa_p and Proposition 1 (Kronecker spectrum) against explicit matrices."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lcsuite.conditioning import default_rtol, kappa, kronecker_spectrum, lambda_max, nonzero_spectrum
from lcsuite.conditioning import symmetric_spectrum

EPS = torch.finfo(torch.float64).eps


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_symmetric_spectrum_is_descending_float64_and_symmetrises():
    a = torch.tensor([[2.0, 1.0], [0.0, 2.0]], dtype=torch.float32)  # symmetric part [[2, .5], [.5, 2]]
    eigs = symmetric_spectrum(a)
    assert eigs.dtype == torch.float64
    assert torch.allclose(eigs, torch.tensor([2.5, 1.5], dtype=torch.float64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_symmetric_spectrum_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="NaN|inf"):
        symmetric_spectrum(torch.tensor([[1.0, bad], [bad, 1.0]]))


def test_symmetric_spectrum_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        symmetric_spectrum(torch.ones(2, 3))


def test_kappa_full_rank():
    assert kappa(torch.tensor([4.0, 2.0, 1.0])) == 4.0
    assert kappa(torch.tensor([1.0, 4.0, 2.0])) == 4.0  # order does not matter


def test_kappa_p_index_is_ceil_of_p_times_d():
    eigs = torch.arange(10, 0, -1, dtype=torch.float64)  # 10, 9, ..., 1
    assert kappa(eigs, p=0.7) == 10 / 4  # λ_7 = 4; 0.7·10 must not round up to 8
    assert kappa(eigs, p=0.8) == 10 / 3
    assert kappa(eigs, p=0.05) == 1.0  # ⌈0.5⌉ = 1
    assert kappa(eigs, p=1.0) == 10.0


def test_kappa_ignores_zero_eigenvalues_of_rank_deficient_matrix():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    matrix = q @ torch.diag(torch.tensor([8.0, 4.0, 2.0, 0, 0, 0], dtype=torch.float64)) @ q.T
    eigs = symmetric_spectrum(matrix)
    assert nonzero_spectrum(eigs).numel() == 3
    assert math.isclose(kappa(eigs), 4.0, rel_tol=1e-12)


def test_kappa_all_zero_is_inf_and_lambda_max_zero():
    assert kappa(torch.zeros(4)) == math.inf
    assert lambda_max(torch.zeros(4)) == 0.0


def test_kappa_one_dimensional_is_one():
    assert kappa(torch.tensor([3.0])) == 1.0
    assert kappa(torch.tensor([3.0]), p=0.1) == 1.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_kappa_non_finite_input_names_the_problem(bad):
    with pytest.raises(ValueError, match="NaN|inf"):
        kappa(torch.tensor([1.0, bad]))


@pytest.mark.parametrize("p", [0.0, -0.1, 1.0000001, 2.0, float("nan")])
def test_kappa_p_out_of_bounds(p):
    with pytest.raises(ValueError, match="p must lie"):
        kappa(torch.tensor([2.0, 1.0]), p=p)


def test_kappa_empty_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        kappa(torch.zeros(0))


def test_rtol_decides_what_counts_as_zero():
    eigs = torch.tensor([1.0, 1e-6, 1e-12], dtype=torch.float64)
    assert kappa(eigs, rtol=1e-9) == 1e6
    assert kappa(eigs, rtol=1e-15) == 1e12


def test_default_rtol_float32_rows_is_coarser_than_float64():
    assert default_rtol(10) == 10 * EPS
    assert default_rtol(10, torch.float32) == 10 * torch.finfo(torch.float32).eps ** 2


def test_kronecker_spectrum_of_diagonal_matrices():
    spectrum = kronecker_spectrum(torch.tensor([3.0, 1.0]), torch.tensor([2.0, 5.0]))
    assert spectrum.tolist() == [15.0, 6.0, 5.0, 2.0]


def test_kappa_p_below_one_does_not_factor_in_general():
    """Prop. 1 is about λ_max and kappa (p = 1); kappa_p for p < 1 of A ⊗ B is not kappa_p(A)·kappa_p(B)."""
    a = torch.tensor([4.0, 2.0, 1.0])
    b = torch.tensor([9.0, 3.0, 1.0])
    product = kronecker_spectrum(a, b)  # 36 18 12 9 6 4 3 2 1
    assert kappa(product, p=0.5) == 36 / 6  # λ_5
    assert kappa(a, p=0.5) * kappa(b, p=0.5) == 2 * 3


def _psd(eigenvalues: torch.Tensor, seed: int) -> torch.Tensor:
    n = eigenvalues.numel()
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    return (q * eigenvalues) @ q.T


@st.composite
def psd_factor(draw):
    """A random PSD matrix: size 1-32, rank 1-size, condition of its nonzero part ≤ 1e3,
    overall scale 1e-6..1e6."""
    n = draw(st.integers(1, 32))
    rank = draw(st.integers(1, n))
    log_values = draw(st.lists(st.floats(0.0, 3.0), min_size=rank, max_size=rank))
    scale = 10.0 ** draw(st.floats(-6.0, 6.0))
    values = torch.zeros(n, dtype=torch.float64)
    values[:rank] = scale * 10.0 ** torch.tensor(log_values, dtype=torch.float64)
    return _psd(values, draw(st.integers(0, 2**31 - 1)))


@settings(max_examples=40, deadline=None)
@given(psd_factor(), psd_factor())
def test_proposition_1_against_explicit_kronecker_matrix(sx, sg):
    """λ_max(Sx ⊗ Sg) = λ_max(Sx)·λ_max(Sg), kappa(Sx ⊗ Sg) = kappa(Sx)·kappa(Sg), and the
    whole nonzero spectrum is the outer product.

    Tolerances from float64 backward stability of eigvalsh: every eigenvalue of an n × n
    matrix has absolute error ≲ c·n·ε·λ_1 (c = 10 here). λ_max is thus exact to ~n·ε ≤ 2e-13,
    well inside 1e-8. A small eigenvalue λ_min has relative error ≲ c·n·ε·kappa, so kappa
    (and the tail of the spectrum) is compared to max(1e-8, c·n·ε·kappa) with n = dim(F).
    Zero detection: true nonzero eigenvalues of F are ≥ 1e-6·λ_1 (each factor's nonzero
    part has condition ≤ 1e3), numerical zeros ≲ c·n·ε·λ_1 ≤ 2e-12·λ_1; 1e-9 separates them.
    """
    explicit = symmetric_spectrum(torch.kron(sx, sg))
    a, b = symmetric_spectrum(sx), symmetric_spectrum(sg)
    n = explicit.numel()
    separation = 1e-9

    assert math.isclose(lambda_max(explicit), lambda_max(a) * lambda_max(b), rel_tol=1e-8)

    from_factors = kronecker_spectrum(nonzero_spectrum(a, separation), nonzero_spectrum(b, separation))
    explicit_nonzero = nonzero_spectrum(explicit, separation)
    assert explicit_nonzero.numel() == from_factors.numel()

    kappa_f = kappa(explicit, rtol=separation)
    tolerance = max(1e-8, 10 * n * EPS * kappa_f)
    assert math.isclose(kappa_f, kappa(a, rtol=separation) * kappa(b, rtol=separation), rel_tol=tolerance)
    assert torch.allclose(explicit_nonzero, from_factors, rtol=tolerance, atol=0)
    # the full spectrum (zeros included) agrees to the absolute eigvalsh error
    full = kronecker_spectrum(a, b)
    assert float((explicit - full).abs().max()) <= 10 * n * EPS * lambda_max(explicit) + 1e-300
