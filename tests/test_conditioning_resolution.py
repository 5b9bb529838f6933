"""κ_p resolution: bounds under rounding of the rows, and which values are resolved (D6)."""

import math

import pytest
import torch

from lcsuite.conditioning import analyze, default_rtol, kappa
from lcsuite.conditioning.resolution import FLOAT32_ROW_ERROR, kappa_bounds, kappa_resolution_snapshot


def test_a_well_conditioned_spectrum_is_resolved_with_tight_bounds():
    eigs = torch.tensor([4.0, 2.0, 1.0, 0.5, 0.25], dtype=torch.float64)
    bounds = kappa_bounds(eigs, 0.8, default_rtol(5))
    assert bounds.value == kappa(eigs, 0.8, default_rtol(5)) == 8.0
    assert bounds.resolved and bounds.lower <= 8.0 <= bounds.upper and bounds.upper / bounds.lower < 1 + 1e-5


def test_an_eigenvalue_at_the_float32_floor_is_unresolved_and_bounded():
    eigs = torch.tensor([1.0, 0.5, 1e-12], dtype=torch.float64)  # κ_100% = 1e12 > (0.005/ε32)² ≈ 1.8e9
    bounds = kappa_bounds(eigs, 1.0, 1e-15)
    assert not bounds.resolved
    assert bounds.value == pytest.approx(1e12)
    assert bounds.lower < bounds.value < bounds.upper <= 1e15 * (1 + 1e-6)


def test_the_resolution_limit_follows_the_rounding_model():
    """2δ·sqrt(κ) ≤ 1%: κ = 1e9 is resolved, κ = 4e9 is not (δ = ε32)."""
    limit = (0.005 / FLOAT32_ROW_ERROR) ** 2
    assert 1e9 < limit < 4e9
    for value, resolved in ((1e9, True), (4e9, False)):
        eigs = torch.tensor([1.0, 1.0 / value], dtype=torch.float64)
        assert kappa_bounds(eigs, 1.0, 1e-15).resolved is resolved


def test_an_eigenvalue_straddling_the_cut_off_makes_d_and_the_index_uncertain():
    rtol = 1e-10  # the fourth eigenvalue sits at the cut-off: d is 3 or 4, ⌈0.5·d⌉ is 2 either way
    eigs = torch.tensor([1.0, 0.5, 0.1, 1e-10], dtype=torch.float64)
    assert kappa_bounds(eigs, 0.5, rtol).resolved
    assert not kappa_bounds(eigs, 1.0, rtol).resolved  # κ_100%: λ_3 or nothing
    three = torch.tensor([1.0, 0.5, 0.25, 1e-10], dtype=torch.float64)  # ⌈0.8·3⌉ = 3 vs ⌈0.8·4⌉ = 4
    uncertain = kappa_bounds(three, 0.8, rtol)
    assert not uncertain.resolved and uncertain.lower <= 4.0 * (1 + 1e-6)


def test_exact_zeros_far_below_the_cut_off_leave_d_settled():
    eigs = torch.tensor([1.0, 0.3, 0.1, 0.0, 1e-19], dtype=torch.float64)
    bounds = kappa_bounds(eigs, 1.0, default_rtol(5))
    assert bounds.resolved and bounds.value == pytest.approx(10.0)


def test_an_all_zero_spectrum_is_infinite_and_resolved():
    bounds = kappa_bounds(torch.zeros(3, dtype=torch.float64), 0.8, 1e-14)
    assert math.isinf(bounds.value) and bounds.resolved


@pytest.mark.parametrize("seed", range(4))
def test_resolved_values_move_less_than_one_percent_when_the_rows_are_rounded(seed):
    """Rows with a spread spectrum, perturbed by relative noise ε32: resolved κ_p move < 1% and
    stay inside the bounds of the unperturbed values."""
    generator = torch.Generator().manual_seed(seed)
    n = 12
    basis, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    scales = torch.logspace(0, -3 - seed, n, dtype=torch.float64)  # κ_100% from 1e6 to 1e12
    rows = torch.randn(400, n, generator=generator, dtype=torch.float64) @ (basis * scales) @ basis.T
    noisy = rows * (1 + FLOAT32_ROW_ERROR * torch.randn(rows.shape, generator=generator, dtype=torch.float64))
    spectra = [torch.linalg.eigvalsh(x.T @ x / x.shape[0]).flip(0) for x in (rows, noisy)]
    rtol = default_rtol(n, torch.float32)
    checked = 0
    for p in (0.5, 0.8, 1.0):
        before, after = (kappa_bounds(s, p, rtol) for s in spectra)
        if before.resolved:
            checked += 1
            assert abs(after.value / before.value - 1) < 0.01
        assert before.lower <= after.value <= before.upper
    assert checked >= 1


def test_the_snapshot_gives_bounds_and_flags_per_layer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).double()
    analysis = analyze(model, torch.randn(50, 5, dtype=torch.float64), torch.randint(0, 3, (50,)))
    snap = kappa_resolution_snapshot(analysis, ["input/kappa_p80", "grad/kappa_p100"])
    assert sorted(snap) == ["grad/kappa_p100_lower", "grad/kappa_p100_resolved", "grad/kappa_p100_upper",
                            "input/kappa_p80_lower", "input/kappa_p80_resolved", "input/kappa_p80_upper"]
    assert all(values.shape == (2,) for values in snap.values())
    values = [layer.kappa(0.8, "input") for layer in analysis.layers]
    assert all(lo <= v <= hi for lo, v, hi in zip(snap["input/kappa_p80_lower"], values, snap["input/kappa_p80_upper"]))
    with pytest.raises(KeyError, match="fim/kappa_p80"):
        kappa_resolution_snapshot(analysis, ["fim/kappa_p80"])
