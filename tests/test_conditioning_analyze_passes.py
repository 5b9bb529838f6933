"""analyze(fisher="true"): the per-class passes backpropagate to the layer outputs only."""

import math

import torch
from torch import nn

from cases_conditioning import cnn, cnn_data, mlp, mlp_data, relative_error
from lcsuite import analyze
from lcsuite.conditioning import LayerCapture


def _true_fisher_by_weight_passes(model, inputs, targets):
    """The per-class passes taken w.r.t. the weights (the former implementation)."""
    with LayerCapture(model) as capture:
        logits = model(inputs)
        probs = logits.detach().softmax(dim=1)
        weights = [r.module.weight for r in capture.records.values()]
        for c in range(logits.shape[1]):
            per_example = nn.functional.cross_entropy(logits, torch.full_like(targets, c),
                                                      reduction="none")
            torch.autograd.grad((probs[:, c].sqrt() * per_example).sum(), weights,
                                retain_graph=True, allow_unused=True)
    return {name: r.grad_covariance() for name, r in capture.records.items()}


def test_true_fisher_grad_factors_equal_weight_pass_factors():
    for model, (inputs, targets) in ((mlp(), mlp_data()), (cnn(), cnn_data())):
        reference = _true_fisher_by_weight_passes(model, inputs, targets)
        analysis = analyze(model, inputs, targets, fisher="true")
        for layer in analysis.layers:
            expected = torch.linalg.eigvalsh(reference[layer.name]).flip(0)
            assert relative_error(layer.grad_spectrum, expected) < 1e-12, layer.name


def test_weight_gradients_are_formed_once_per_batch():
    model, (inputs, targets) = mlp(), mlp_data()
    calls = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.register_hook(lambda g: calls.append(1))
    analyze(model, inputs, targets, fisher="true", batch_size=4)  # 2 batches, 3 layers
    assert len(calls) == 2 * 3


def test_true_fisher_with_in_place_activations_equals_out_of_place():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(),
                          nn.Linear(4, 3)).double()
    inplace = nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 4),
                            nn.ReLU(inplace=True), nn.Linear(4, 3)).double()
    inplace.load_state_dict(plain.state_dict())
    inputs, targets = mlp_data()
    a = analyze(plain, inputs, targets, fisher="true")
    b = analyze(inplace, inputs, targets, fisher="true")
    for x, y in zip(a.layers, b.layers):
        assert torch.equal(x.grad_spectrum, y.grad_spectrum)
        assert math.isclose(x.weight_domination_ratio, y.weight_domination_ratio, rel_tol=1e-14)


def test_no_hooks_left_after_true_fisher_analysis():
    model, (inputs, targets) = cnn(bn=True), cnn_data()
    analyze(model, inputs, targets, fisher="true")
    assert all(not m._forward_hooks for m in model.modules())
