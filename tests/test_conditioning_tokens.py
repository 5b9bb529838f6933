"""The token convention: a Linear called through its module on ``(N, T, D)`` inputs (the MLP
block of a transformer) gives one row of ``X`` and of ``G`` per token, ``Sx = XᵀX / (N·T)`` and
``Sg = GᵀG / (N·T)``, ``num_examples = N``, ``num_rows = N·T``, and a weight-domination ratio on
the loss averaged over the ``N`` examples; checked against explicit loops over examples, classes
and tokens in float64, for both Fisher types.

Tolerance: both sides sum the same float64 products in different orders over 40 rows, so
they agree to a few ulps of the largest entry; 1e-12 relative leaves room for that only.
"""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cases_conditioning import NUM_CLASSES, relative_error
from lcsuite.conditioning import FisherType, LayerCapture, analyze, capture_passes, symmetric_spectrum
from lcsuite.conditioning import weights_requiring_grad

RTOL = 1e-12
N, T, D, HIDDEN = 5, 4, 3, 6


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


class TokenBlock(nn.Module):
    """``(N, T, D)`` tokens → residual MLP block per token (``fc1``, tanh, ``fc2``) → tokens mixed
    within each example → mean over tokens → ``head`` ``(N, C)``."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, D)
        self.head = nn.Linear(D, NUM_CLASSES)

    def forward(self, x, outputs=None):
        hidden = self.fc1(x)
        block = self.fc2(torch.tanh(hidden))
        if outputs is not None:  # the brute force keeps the layer outputs to differentiate
            outputs += [hidden, block]
        h = x + block
        h = h + torch.tanh(h.mean(dim=1, keepdim=True))  # couples the tokens of one example
        return self.head(h.mean(dim=1))


def token_data():
    generator = torch.Generator().manual_seed(3)
    return (torch.randn(N, T, D, generator=generator, dtype=torch.float64),
            torch.randint(0, NUM_CLASSES, (N,), generator=generator))


def model_and_data():
    torch.manual_seed(0)
    return TokenBlock().double(), token_data()


def outer_sum(rows) -> torch.Tensor:
    return sum(torch.outer(row, row) for row in rows)


def brute_force(model: TokenBlock, inputs, targets, fisher: str):
    """``{layer: (Sx, Sg)}`` for fc1 and fc2 by loops: example ``i`` alone, class ``c`` with
    weight ``p_ic`` (true Fisher) or the data label (empirical), token ``t`` one row."""
    sx = {"fc1": 0, "fc2": 0}
    sg = {"fc1": 0, "fc2": 0}
    for i in range(inputs.shape[0]):
        x = inputs[i:i + 1]
        hidden_input = torch.tanh(model.fc1(x)).detach()
        sx["fc1"] = sx["fc1"] + outer_sum(x[0, t] for t in range(T))
        sx["fc2"] = sx["fc2"] + outer_sum(hidden_input[0, t] for t in range(T))
        outputs = []
        logits = model(x, outputs)
        probs = logits.detach().softmax(dim=1)[0]
        classes = range(NUM_CLASSES) if fisher == "true" else [int(targets[i])]
        for c in classes:
            weight = float(probs[c]) if fisher == "true" else 1.0
            loss = F.cross_entropy(logits, torch.tensor([c]), reduction="sum")
            grads = torch.autograd.grad(loss, outputs, retain_graph=True)
            for name, grad in zip(("fc1", "fc2"), grads):
                sg[name] = sg[name] + weight * outer_sum(grad[0, t] for t in range(T))
    rows = inputs.shape[0] * T
    return {name: (sx[name] / rows, sg[name] / rows) for name in sx}


def captured(model, inputs, targets, fisher: str) -> LayerCapture:
    capture = LayerCapture(model)
    weights = [record.module.weight for record in capture.records.values()]
    with weights_requiring_grad(model, weights):
        capture_passes(model, capture, [(inputs, targets)], FisherType.parse(fisher))
    return capture


@pytest.mark.parametrize("fisher", ["empirical", "true"])
def test_token_rows_and_normalisation_match_loops_over_examples_classes_and_tokens(fisher):
    model, (inputs, targets) = model_and_data()
    expected = brute_force(model, inputs, targets, fisher)
    capture = captured(model, inputs, targets, fisher)
    for name, (sx, sg) in expected.items():
        record = capture.records[name]
        assert (record.num_examples, record.num_rows, record.num_output_rows) == (N, N * T, N * T)
        assert relative_error(record.input_covariance(), sx) < RTOL, name
        assert relative_error(record.grad_covariance(), sg) < RTOL, name
    analysis = analyze(model, inputs, targets, fisher=fisher)
    for name, (sx, sg) in expected.items():
        layer = analysis[name]
        assert (layer.num_examples, layer.num_rows) == (N, N * T)
        assert relative_error(layer.input_spectrum, symmetric_spectrum(sx)) < 1e-10, name
        assert relative_error(layer.grad_spectrum, symmetric_spectrum(sg)) < 1e-10, name
    assert (analysis["head"].num_examples, analysis["head"].num_rows) == (N, N)  # (N, D) input: one row each


def test_token_weight_domination_ratio_uses_the_loss_averaged_over_examples():
    model, (inputs, targets) = model_and_data()
    mean_loss = F.cross_entropy(model(inputs), targets)  # mean over the N examples, not N·T tokens
    (grad,) = torch.autograd.grad(mean_loss, model.fc1.weight)
    weight = model.fc1.weight.detach()
    expected = float(torch.linalg.matrix_norm(grad, ord=2) / torch.linalg.matrix_norm(weight, ord=2))
    assert analyze(model, inputs, targets)["fc1"].weight_domination_ratio == pytest.approx(expected, rel=1e-12)


def test_token_statistics_accumulate_over_batches_of_examples():
    model, (inputs, targets) = model_and_data()
    whole = analyze(model, inputs, targets, fisher="true")
    chunks = analyze(model, inputs, targets, fisher="true", batch_size=2)
    for a, b in zip(whole.layers, chunks.layers):
        assert (a.num_examples, a.num_rows) == (b.num_examples, b.num_rows)
        assert relative_error(b.input_spectrum, a.input_spectrum) < 1e-12
        assert relative_error(b.grad_spectrum, a.grad_spectrum) < 1e-12
