"""LayerCapture's cheap checks against brute force: non-finite detection (from the diagonal of
the float64 Gram matrix) and the dying/full unit masks (from column extrema)."""

import pytest
import torch
from torch import nn

from cases_conditioning import cnn, cnn_data, mlp, mlp_data
from lcsuite.conditioning import LayerCapture
from lcsuite.conditioning.capture import input_rows


def _run(model, inputs, targets, conv_mode="channel"):
    with LayerCapture(model, conv_mode) as capture:
        loss = nn.functional.cross_entropy(model(inputs), targets, reduction="sum")
        torch.autograd.grad(loss, [p for p in model.parameters()], allow_unused=True)
    return capture


class Poison(nn.Module):
    """Identity that writes ``value`` into one entry of its input (forward) or of the gradient
    flowing back through it (backward)."""

    def __init__(self, value, where):
        super().__init__()
        self.value, self.where = value, where

    def forward(self, x):
        if self.where == "forward":
            x = x.clone()
            x[1, 2] = self.value
            return x
        y = x * 1.0
        if y.requires_grad:
            def hook(g):
                g = g.clone()
                g[1, 2] = self.value
                return g
            y.register_hook(hook)  # on y: reaches x's gradient (and the capture) poisoned
        return y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_input_entry_flags_that_layer(value, dtype):
    model = nn.Sequential(nn.Linear(4, 5), Poison(value, "forward"), nn.Linear(5, 3)).to(dtype)
    inputs, targets = mlp_data()
    with LayerCapture(model) as capture:
        model(inputs.to(dtype))
    assert capture.records["0"].nonfinite is None
    assert capture.records["2"].nonfinite == "input"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_gradient_entry_flags_that_layer(value):
    model = nn.Sequential(nn.Linear(4, 5), Poison(value, "backward"), nn.Linear(5, 3)).double()
    capture = _run(model, *mlp_data())
    assert capture.records["2"].nonfinite is None
    assert capture.records["0"].nonfinite == "output-gradient"


def test_largest_finite_float32_values_are_not_flagged():
    """Squares of float32 values cannot overflow float64: finite rows stay finite."""
    model = nn.Sequential(nn.Linear(4, 5)).float()
    inputs = torch.full((3, 4), torch.finfo(torch.float32).max)
    with LayerCapture(model) as capture:
        model(inputs)
    assert capture.records["0"].nonfinite is None
    assert torch.isfinite(capture.records["0"].input_gram).all()


@pytest.mark.parametrize("conv_mode", ["channel", "patch"])
def test_unit_masks_match_brute_force(conv_mode):
    """Units with exact zeros, sign changes, all-positive and all-negative columns, over two
    batches, for Linear inputs and conv channels (conv units are channels in both modes)."""
    model, (inputs, _) = cnn(), cnn_data(n=6)
    with torch.no_grad():
        model[0].weight[0].zero_()
        model[0].bias[0] = -1.0  # channel 0 after the ReLU: always zero → dying
        model[0].weight[1].zero_()
        model[0].bias[1] = 2.0   # channel 1 after the ReLU: always positive → full
    with LayerCapture(model, conv_mode) as capture:
        for chunk in (slice(0, 4), slice(4, 6)):
            model(inputs[chunk])
    hidden = {}
    h = inputs
    for name, module in model.named_children():
        if name in capture.records:
            hidden[name] = input_rows(module, h, "channel")
        h = module(h)
    for name, record in capture.records.items():
        rows = hidden[name]
        assert torch.equal(record.unit_ever_nonzero, (rows != 0).any(dim=0)), name
        assert torch.equal(record.unit_always_positive, (rows > 0).all(dim=0)), name
    assert not capture.records["2"].unit_ever_nonzero[0]
    assert capture.records["2"].unit_always_positive[1]


def test_unit_masks_of_mixed_signs_and_negative_zero():
    model = nn.Sequential(nn.Linear(4, 2)).double()
    inputs = torch.tensor([[0.0, -0.0, 1.0, -2.0], [-0.0, 3.0, 2.0, -1.0]], dtype=torch.float64)
    with LayerCapture(model) as capture:
        model(inputs)
    record = capture.records["0"]
    assert record.unit_ever_nonzero.tolist() == [False, True, True, True]
    assert record.unit_always_positive.tolist() == [False, False, True, False]


def test_analysis_of_mlp_unit_masks_unchanged():
    model, (inputs, targets) = mlp(), mlp_data()
    capture = _run(model, inputs, targets)
    assert capture.records["0"].unit_ever_nonzero.all()


def test_unit_masks_with_nan_and_empty_batches_match_brute_force():
    model = nn.Sequential(nn.Linear(3, 2)).double()
    batches = [torch.zeros(0, 3, dtype=torch.float64),
               torch.tensor([[float("nan"), 0.0, 1.0], [1.0, 0.0, float("nan")]],
                            dtype=torch.float64)]
    with LayerCapture(model) as capture:
        model(batches[0])
        record = capture.records["0"]
        assert record.unit_ever_nonzero.tolist() == [False] * 3
        assert record.unit_always_positive.tolist() == [True] * 3
        model(batches[1])
    rows = torch.cat(batches)
    assert torch.equal(record.unit_ever_nonzero, (rows != 0).any(dim=0))
    assert torch.equal(record.unit_always_positive, (rows > 0).all(dim=0))


def test_gram_is_the_float64_product_and_exactly_symmetric():
    from lcsuite.conditioning.capture import _gram
    g = torch.Generator().manual_seed(3)
    rows = torch.randn(9, 40, generator=g, dtype=torch.float64)[:, ::2]  # non-contiguous
    gram = _gram(rows)
    assert gram.dtype == torch.float64 and gram.shape == (20, 20)
    assert torch.equal(gram, gram.T)
    reference = rows.T @ rows
    assert float((gram - reference).abs().max() / reference.abs().max()) < 1e-14
    rows = rows.clone()
    rows[4, 7] = float("nan")
    assert torch.isnan(_gram(rows).diagonal()[7]) and torch.isfinite(_gram(rows).diagonal()[6])


def test_kept_float64_rows_do_not_alias_the_callers_tensor():
    """A float64 input needs no cast; the kept rows must still be a copy."""
    layer = torch.nn.Linear(3, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    with LayerCapture(layer, keep_rows=True) as capture:
        layer(x)
    expected = x.clone()
    x.mul_(0)
    assert torch.equal(capture.records[""].input_rows(), expected)
