"""lcsuite.analyze: bad input gives clear errors, the model is left as it was, tables are sane,
and the statistics helpers agree with direct computations."""

import math

import pytest
import torch
from torch import nn

from cases_conditioning import cnn, cnn_data, mlp, mlp_data, relative_error
from lcsuite import analyze
from lcsuite.conditioning import (
    ConvMode,
    FisherType,
    dying_units,
    full_units,
    nonzero_spectrum,
    root_mean_square_norm,
    second_moment,
    weight_domination_ratio,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# ---- conventions -------------------------------------------------------------------------

def test_conventions_accept_strings_and_members():
    assert FisherType.parse("true") is FisherType.TRUE
    assert FisherType.parse(FisherType.EMPIRICAL) is FisherType.EMPIRICAL
    assert ConvMode.parse("patch") is ConvMode.PATCH


@pytest.mark.parametrize("kwargs,match", [
    ({"fisher": "mc"}, "FisherType 'mc'; expected one of 'true', 'empirical'"),
    ({"conv_mode": "pixel"}, "ConvMode 'pixel'"),
    ({"loss": "mse"}, "LossType 'mse'"),
])
def test_unknown_conventions_are_rejected(kwargs, match):
    model, (inputs, targets) = mlp(), mlp_data()
    with pytest.raises(ValueError, match=match):
        analyze(model, inputs, targets, **kwargs)


# ---- bad input ---------------------------------------------------------------------------

def test_model_without_linear_or_conv():
    with pytest.raises(ValueError, match="no nn.Conv2d or nn.Linear"):
        analyze(nn.Sequential(nn.Flatten()), *mlp_data())


def test_targets_length_mismatch():
    inputs, targets = mlp_data()
    with pytest.raises(ValueError, match="targets length 6 differs from inputs length 7"):
        analyze(mlp(), inputs, targets[:6])


@pytest.mark.parametrize("shift", [3, -4])
def test_targets_out_of_class_range(shift):
    inputs, targets = mlp_data()
    with pytest.raises(ValueError, match=r"out of class range \[0, 3\)"):
        analyze(mlp(), inputs, targets + shift)


def test_float_targets_are_rejected():
    inputs, targets = mlp_data()
    with pytest.raises(ValueError, match="integer class indices"):
        analyze(mlp(), inputs, targets.double())


def test_empty_data():
    with pytest.raises(ValueError, match="empty data"):
        analyze(mlp(), torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.long))


def test_non_finite_inputs():
    inputs, targets = mlp_data()
    inputs[2, 1] = float("nan")
    with pytest.raises(ValueError, match="inputs contain non-finite"):
        analyze(mlp(), inputs, targets)


def test_non_finite_activation_names_the_layer():
    model, (inputs, targets) = mlp(), mlp_data()
    with torch.no_grad():
        model[2].bias[0] = float("inf")  # output of layer "2" is inf → input of layer "4"
    with pytest.raises(ValueError, match="non-finite|logits"):
        analyze(model, inputs, targets)


def test_non_finite_gradient_names_the_layer():
    """Finite forward pass, non-finite backward: a gradient hook on the output of layer '2'
    injects NaN, so the output-gradient of '2' and the input-side of earlier layers break."""
    model, (inputs, targets) = mlp(), mlp_data()

    def poison_gradient(module, args, out):
        out.register_hook(lambda g: g * float("nan"))

    model[2].register_forward_hook(poison_gradient)
    with pytest.raises(ValueError, match=r"non-finite values in the output-gradient of layer '(0|2)'"):
        analyze(model, inputs, targets)


def test_non_finite_layer_input_names_the_layer():
    class Blowup(nn.Module):
        def forward(self, x):
            return x * float("inf")

    model = nn.Sequential(nn.Linear(4, 5), Blowup(), nn.Linear(5, 3)).double()
    with pytest.raises(ValueError, match="non-finite"):
        analyze(model, *mlp_data())


def test_errors_leave_no_hooks_behind():
    model, (inputs, targets) = mlp(), mlp_data()
    with pytest.raises(ValueError):
        analyze(model, inputs, targets + 3)
    assert all(not m._forward_hooks for m in model.modules())


# ---- state restoration and content -------------------------------------------------------

@pytest.mark.parametrize("fisher", ["empirical", "true"])
def test_model_state_is_restored(fisher):
    model, (inputs, targets) = cnn(bn=True), cnn_data()
    model.train()
    model[0].weight.requires_grad_(False)  # a frozen layer is still analysed
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analysis = analyze(model, inputs, targets, fisher=fisher)
    assert model.training
    assert not model[0].weight.requires_grad and model[4].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks for m in model.modules())
    assert analysis["0"].grad_lambda_max > 0


def test_mlp_analysis_is_sane_and_matches_direct_computations():
    model, (inputs, targets) = mlp(), mlp_data()
    analysis = analyze(model, inputs, targets)
    assert [layer.name for layer in analysis.layers] == ["0", "2", "4"]
    first = analysis["0"]
    sx = second_moment(inputs)
    assert relative_error(first.input_spectrum, torch.linalg.eigvalsh(sx).flip(0)) < 1e-12
    assert math.isclose(first.input_magnitude, root_mean_square_norm(inputs), rel_tol=1e-12)
    assert math.isclose(first.lambda_max, first.input_lambda_max * first.grad_lambda_max)
    assert first.kappa(1.0, "fim") == pytest.approx(first.kappa(1.0, "input") * first.kappa(1.0, "grad"), rel=1e-12)
    for layer in analysis.layers:
        for of in ("fim", "input", "grad"):
            assert layer.kappa(1.0, of) >= layer.kappa(0.8, of) >= 1.0
    # weight-domination ratio with the gradient of the mean loss
    loss = nn.functional.cross_entropy(model(inputs), targets)
    grad = torch.autograd.grad(loss, model[2].weight)[0]
    assert math.isclose(analysis["2"].weight_domination_ratio,
                        float(torch.linalg.matrix_norm(grad, 2) / torch.linalg.matrix_norm(model[2].weight.detach(), 2)),
                        rel_tol=1e-12)
    assert math.isclose(analysis.mean_loss, float(loss.detach()), rel_tol=1e-12)


def test_batched_analysis_equals_single_batch_without_bn():
    model, (inputs, targets) = cnn(), cnn_data()
    whole = analyze(model, inputs, targets, fisher="true", conv_mode="patch")
    chunks = analyze(model, inputs, targets, fisher="true", conv_mode="patch", batch_size=2)
    for a, b in zip(whole.layers, chunks.layers):
        assert relative_error(b.grad_spectrum, a.grad_spectrum) < 1e-12
        assert math.isclose(a.weight_domination_ratio, b.weight_domination_ratio, rel_tol=1e-12)


def test_cnn_with_bn_table_and_dict():
    model, (inputs, targets) = cnn(bn=True), cnn_data()
    analysis = analyze(model, inputs, targets, fisher="true", conv_mode="channel")
    table = analysis.to_table()
    for header in ("layer", "λmax(F)", "κ100%(F)", "κ80%(Sx)", "dying"):
        assert header in table
    assert "fisher=true conv_mode=channel N=5" in table
    data = analysis.to_dict()
    assert [d["name"] for d in data["layers"]] == ["0", "3", "7"]
    conv = analysis["3"]
    assert conv.kind == "conv2d" and conv.input_spectrum.shape == (3,) and conv.grad_spectrum.shape == (4,)
    assert conv.num_rows == 5 * 5 * 5
    assert conv.dying_units == 0  # BN before ReLU: every channel is active somewhere
    assert all(math.isfinite(layer.lambda_max) for layer in analysis.layers)


def test_float32_model_uses_float32_tolerance():
    model, (inputs, targets) = mlp(), mlp_data()
    layer = analyze(model.float(), inputs.float(), targets)["0"]
    assert layer.input_spectrum.dtype == torch.float64
    assert layer.input_rtol == 4 * torch.finfo(torch.float32).eps ** 2


# ---- statistics helpers ------------------------------------------------------------------

def test_dying_and_full_units():
    rows = torch.tensor([[0.0, 1.0, 2.0, 0.0], [0.0, 3.0, 0.0, -1.0]])
    assert dying_units(rows).tolist() == [True, False, False, False]
    assert full_units(rows).tolist() == [False, True, False, False]


def test_dying_units_counted_by_analyze_and_give_zero_eigenvalues():
    """A hidden unit whose pre-activation is negative for every example is a dying ReLU: the
    next layer's input column is zero and Sx gets one exact zero eigenvalue."""
    model, (inputs, targets) = mlp(), mlp_data()
    with torch.no_grad():
        model[0].weight[1].zero_()
        model[0].bias[1] = -1.0
    layer = analyze(model, inputs, targets)["2"]
    assert layer.dying_units >= 1
    nonzero = nonzero_spectrum(layer.input_spectrum, layer.input_rtol)
    assert nonzero.numel() == layer.num_units - layer.dying_units


def test_weight_domination_ratio_reshapes_conv_weights():
    weight = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
    weight[0, 0, 0, 0] = 4.0
    grad = torch.zeros_like(weight)
    grad[1, 0, 1, 1] = 1.0
    assert weight_domination_ratio(grad, weight) == 0.25
    with pytest.raises(ValueError, match="shape"):
        weight_domination_ratio(grad[:1], weight)
