"""Exact F and M against explicit per-example sums, and the cases where K-FAC is exact.

Tolerance 1e-12 relative: both sides are float64 sums of the same products in different
orders (vectorised vector-Jacobian products vs one autograd call per logit).
"""

import pytest
import torch
from torch import nn

from cases_conditioning import CASES, NUM_CLASSES, mlp, mlp_data, relative_error
from lcsuite import analyze
from lcsuite.conditioning import (
    LayerCapture,
    curvature_parameter_names,
    exact_curvature,
    kronecker_spectrum,
    symmetric_spectrum,
)

RTOL = 1e-12


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def weights_of(model):
    names = curvature_parameter_names(model)
    return [model.get_submodule(n.rsplit(".", 1)[0]).weight for n in names]


def explicit_jacobians(model, inputs):
    """J[i] = ∂ logits[i] / ∂θ (C, P) from one autograd call per logit of the *batch* output."""
    logits = model(inputs)
    weights = weights_of(model)
    rows = []
    for i in range(logits.shape[0]):
        per_class = []
        for c in range(logits.shape[1]):
            grads = torch.autograd.grad(logits[i, c], weights, retain_graph=True)
            per_class.append(torch.cat([g.reshape(-1) for g in grads]))
        rows.append(torch.stack(per_class))
    return logits.detach(), torch.stack(rows)


def explicit_true_fisher(model, inputs):
    logits, jac = explicit_jacobians(model, inputs)
    total = 0
    for i in range(inputs.shape[0]):
        p = logits[i].softmax(0)
        total = total + jac[i].T @ (torch.diag(p) - torch.outer(p, p)) @ jac[i]
    return total / inputs.shape[0]


def explicit_second_moment(model, inputs, targets, per_example_forward: bool):
    """(1/N) Σ ∇ℓ_i ∇ℓ_iᵀ; ℓ_i from a forward of example i alone, or of the whole batch."""
    weights, total = weights_of(model), 0
    logits = None if per_example_forward else model(inputs)
    for i in range(inputs.shape[0]):
        out = model(inputs[i:i + 1])[0] if per_example_forward else logits[i]
        loss = nn.functional.cross_entropy(out[None], targets[i:i + 1])
        grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, weights, retain_graph=True)])
        total = total + torch.outer(grad, grad)
    return total / inputs.shape[0]


ALL_MODELS = [(name, bn) for name in sorted(CASES) for bn in (False, True)]


@pytest.mark.parametrize("case,bn", ALL_MODELS)
def test_true_fisher_matches_explicit_sum(case, bn):
    make_model, make_data = CASES[case]
    model, (inputs, _) = make_model(bn=bn), make_data()
    exact = exact_curvature(model, inputs, fisher="true")
    assert relative_error(exact.matrix, explicit_true_fisher(model, inputs)) < RTOL


@pytest.mark.parametrize("case,bn", ALL_MODELS)
def test_second_moment_matches_explicit_sum(case, bn):
    make_model, make_data = CASES[case]
    model, (inputs, targets) = make_model(bn=bn), make_data()
    exact = exact_curvature(model, inputs, targets, fisher="empirical")
    # without BN each example can be run alone; with BN (train mode) examples are coupled
    reference = explicit_second_moment(model, inputs, targets, per_example_forward=not bn)
    assert relative_error(exact.matrix, reference) < RTOL


def test_exact_curvature_leaves_model_untouched():
    model, (inputs, targets) = mlp(bn=True), mlp_data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    exact_curvature(model, inputs, targets, "empirical")
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_blocks_follow_named_module_order_and_row_major_weights():
    model = mlp()
    exact = exact_curvature(model, mlp_data()[0], fisher="true")
    assert exact.layer_names == ["0", "2", "4"]
    assert exact.block("2").shape == (20, 20) and exact.matrix.shape == (20 + 20 + 12,) * 2


def empirical_factors(model, inputs, targets, conv_mode="channel"):
    with LayerCapture(model, conv_mode) as capture:
        loss = nn.functional.cross_entropy(model(inputs), targets, reduction="sum")
        torch.autograd.grad(loss, list(model.parameters()))
    return {n: (r.input_covariance(), r.grad_covariance()) for n, r in capture.records.items()}


def test_kfac_exact_for_one_example_empirical():
    """N = 1: the weight gradient of a Linear layer is g xᵀ, so with row-major vec it is g ⊗ x
    and F_k = (g ⊗ x)(g ⊗ x)ᵀ = ggᵀ ⊗ xxᵀ = Sg ⊗ Sx exactly, whatever the nonlinearities."""
    model, (inputs, targets) = mlp(), mlp_data(n=1)
    exact = exact_curvature(model, inputs, targets, "empirical")
    for name, (sx, sg) in empirical_factors(model, inputs, targets).items():
        assert relative_error(exact.block(name), torch.kron(sg, sx)) < RTOL, name


def test_kfac_exact_for_identical_examples_empirical():
    """N copies of one example: every term of the sum is the N = 1 term, so still exact."""
    model, (x, y) = mlp(), mlp_data(n=1)
    inputs, targets = x.repeat(4, 1), y.repeat(4)
    exact = exact_curvature(model, inputs, targets, "empirical")
    for name, (sx, sg) in empirical_factors(model, inputs, targets).items():
        assert relative_error(exact.block(name), torch.kron(sg, sx)) < RTOL, name


def test_kfac_not_exact_for_distinct_examples():
    """The brute-force comparison above can fail: distinct examples break the factorisation."""
    model, (inputs, targets) = mlp(), mlp_data(n=6)
    exact = exact_curvature(model, inputs, targets, "empirical")
    sx, sg = empirical_factors(model, inputs, targets)["2"]
    assert relative_error(exact.block("2"), torch.kron(sg, sx)) > 1e-3


def test_kfac_exact_for_conv_patch_mode_with_single_output_position():
    """A conv whose kernel covers its whole (padded) input has one output position: it is a
    Linear layer on the flattened patch, so with N = 1 the block is Sg ⊗ Sx in patch mode.
    This also checks that patch columns follow weight.reshape(C_out, -1)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 5),
                          nn.Flatten(), nn.Linear(4, NUM_CLASSES)).double()
    inputs = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    targets = torch.tensor([1])
    exact = exact_curvature(model, inputs, targets, "empirical")
    sx, sg = empirical_factors(model, inputs, targets, "patch")["2"]
    assert sx.shape == (3 * 5 * 5, 3 * 5 * 5)
    assert relative_error(exact.block("2"), torch.kron(sg, sx)) < RTOL


def test_kfac_exact_for_one_example_true_fisher():
    """N = 1, true Fisher: F_k = Σ_c p_c (g_c ⊗ x)(g_c ⊗ x)ᵀ = (Σ_c p_c g_c g_cᵀ) ⊗ xxᵀ, so the
    spectrum of the exact block equals the Kronecker spectrum of analyze's true-Fisher factors.
    Eigenvalue tolerance: absolute n·ε·λ_1 bound of eigvalsh with a factor 100 of headroom."""
    model, (inputs, targets) = mlp(), mlp_data(n=1)
    exact = exact_curvature(model, inputs, fisher="true")
    analysis = analyze(model, inputs, targets, fisher="true")
    for layer in analysis.layers:
        block = symmetric_spectrum(exact.block(layer.name))
        product = kronecker_spectrum(layer.input_spectrum, layer.grad_spectrum)
        bound = 100 * block.numel() * torch.finfo(torch.float64).eps * float(block[0])
        assert float((block - product).abs().max()) <= bound, layer.name


def test_exact_rejects_bad_targets_and_fisher():
    model, (inputs, targets) = mlp(), mlp_data()
    with pytest.raises(ValueError, match="needs targets"):
        exact_curvature(model, inputs, None, "empirical")
    with pytest.raises(ValueError, match="FisherType"):
        exact_curvature(model, inputs, targets, "hessian")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        exact_curvature(model, inputs, targets + 3, "empirical")
