"""Cross-check against curvlinops 3.0.1, an independent implementation (float64).

Normalisation matched on curvlinops' side with ``CrossEntropyLoss(reduction="mean")``:
- ``GGNLinearOperator`` / ``EFLinearOperator`` with mean reduction are ``(1/N) Σ_i …``, the
  same as our exact true Fisher F and second moment M.
- ``KFACLinearOperator`` (``kfac_approx="expand"``, mean reduction) stores
  ``A = XᵀX / (N·L)`` (our patch-mode ``Sx``) and ``B = GᵀG / N`` over the ``N·L`` output
  rows, i.e. ``B = L · Sg`` (``L`` output positions per example; ``L = 1`` for Linear).
  ``fisher_type="empirical"`` is our empirical ``Sg``; ``"type-2"`` (exact loss-Hessian
  square root) is our true-Fisher ``Sg``: ``Σ_c s_c s_cᵀ = diag p − ppᵀ = Σ_c p_c (p − e_c)(p − e_c)ᵀ``.

Tolerance 1e-8 relative (spectra relative to λ_max, matrices relative to the max entry):
both sides are float64 computations of the same sums by different code paths, agreeing to
~1e-14; 1e-8 is the figure asked of an independent implementation and leaves headroom for
eigvalsh (n·ε·λ_max).
"""

import pytest
import torch
from torch import nn

from cases_conditioning import CASES, cnn, mlp, relative_error
from lcsuite import analyze
from lcsuite.conditioning import curvature_parameter_names, exact_curvature

curvlinops = pytest.importorskip("curvlinops", reason="curvlinops (the peer implementation) is not installed")

RTOL = 1e-8


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def weights_of(model):
    return [model.get_submodule(n.rsplit(".", 1)[0]).weight for n in curvature_parameter_names(model)]


def output_positions(model, inputs):
    """L (output positions per example) of every Linear/Conv2d layer, from one forward pass."""
    positions, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            def hook(m, args, out, name=name):
                positions[name] = out[0, 0].numel() if isinstance(m, nn.Conv2d) else 1
            handles.append(module.register_forward_hook(hook))
    model(inputs)
    for h in handles:
        h.remove()
    return positions


def spectral_relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a = torch.linalg.eigvalsh(0.5 * (a + a.T)).flip(0)
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("fisher,curvlinops_type", [("empirical", "empirical"), ("true", "type-2")])
@pytest.mark.parametrize("case", sorted(CASES))
def test_kfac_factors_match(case, fisher, curvlinops_type):
    make_model, make_data = CASES[case]
    model, (inputs, targets) = make_model(), make_data()
    kfac = curvlinops.KFACLinearOperator(
        model, nn.CrossEntropyLoss(reduction="mean"), weights_of(model), [(inputs, targets)],
        fisher_type=curvlinops_type, kfac_approx="expand", check_deterministic=False,
    )
    kfac.compute_kronecker_factors()
    analysis = analyze(model, inputs, targets, fisher=fisher, conv_mode="patch")
    positions = output_positions(model, inputs)
    for layer in analysis.layers:
        a = kfac._input_covariances[layer.name]
        b = kfac._gradient_covariances[layer.name]
        assert spectral_relative_error(a, layer.input_spectrum) < RTOL, layer.name
        assert spectral_relative_error(b, positions[layer.name] * layer.grad_spectrum) < RTOL, layer.name


CURVATURE_CASES = [(mlp, False), (cnn, False), (mlp, True), (cnn, True)]


def batch_statistics_only(model):
    """Drop BatchNorm running buffers so train-mode BN (batch statistics) runs under
    curvlinops' function transforms, which forbid the in-place running-stat update."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean = module.running_var = module.num_batches_tracked = None
    return model


@pytest.mark.parametrize("make_model,bn", CURVATURE_CASES)
def test_exact_true_fisher_matches_ggn(make_model, bn):
    model = batch_statistics_only(make_model(bn=bn))
    inputs, targets = CASES["mlp" if make_model is mlp else "cnn"][1]()
    weights = weights_of(model)
    ggn = curvlinops.GGNLinearOperator(model, nn.CrossEntropyLoss(reduction="mean"), weights,
                                       [(inputs, targets)], check_deterministic=False)
    num_params = sum(w.numel() for w in weights)
    reference = ggn @ torch.eye(num_params, dtype=torch.float64)
    exact = exact_curvature(model, inputs, fisher="true")
    assert relative_error(exact.matrix, reference) < RTOL


@pytest.mark.parametrize("make_model,bn", CURVATURE_CASES)
def test_exact_second_moment_matches_empirical_fisher(make_model, bn):
    model = batch_statistics_only(make_model(bn=bn))
    inputs, targets = CASES["mlp" if make_model is mlp else "cnn"][1]()
    weights = weights_of(model)
    ef = curvlinops.EFLinearOperator(model, nn.CrossEntropyLoss(reduction="mean"), weights,
                                     [(inputs, targets)], check_deterministic=False)
    num_params = sum(w.numel() for w in weights)
    reference = ef @ torch.eye(num_params, dtype=torch.float64)
    exact = exact_curvature(model, inputs, targets, fisher="empirical")
    assert relative_error(exact.matrix, reference) < RTOL
