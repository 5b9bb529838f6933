"""Layer types: a layer type registered for a new module class is analysed like the built-in
ones (its rows, spectra, units), and the registry refuses malformed layer types."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lcsuite.conditioning import LAYER_TYPES, LayerType, analyze, symmetric_spectrum
from lcsuite.conditioning.layer_types import LinearRows, layer_type_of, supported_layers
from lcsuite.conditioning.coverage import SkipCategory, skipped_parameters


class TimeConv(nn.Conv1d):
    """A Conv1d that only this module registers (a plain ``nn.Conv1d`` stays unanalysed)."""


class TimeConvRows(LayerType):
    """``(N, C, T)`` inputs: every time step of every example is a row of ``C`` features."""

    module_class = TimeConv
    kind = "test_conv1d"
    channel_dim = -2
    example_ndim = 2


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """``TimeConvRows`` registered for the test only (the registry is as before afterwards)."""
    for name in ("_entries", "_owners"):
        monkeypatch.setattr(LAYER_TYPES, name, dict(getattr(LAYER_TYPES, name)))
    monkeypatch.setattr(LAYER_TYPES, "_by_class", None)
    LAYER_TYPES.register("test_conv1d", TimeConvRows)


def _model(conv=TimeConv):
    torch.manual_seed(0)
    return nn.Sequential(conv(3, 4, kernel_size=3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 5)).double()


def _data():
    generator = torch.Generator().manual_seed(1)
    return (torch.randn(16, 3, 8, generator=generator, dtype=torch.float64),
            torch.randint(0, 5, (16,), generator=generator))


def test_a_registered_layer_type_is_analysed_with_its_own_rows():
    model, (x, y) = _model(), _data()
    analysis = analyze(model, x, y)
    assert [(layer.name, layer.kind) for layer in analysis.layers] == [("0", "test_conv1d"), ("3", "linear")]
    conv = analysis["0"]
    # Brute force: rows are (example, time step) pairs; Sg from the summed loss's output-gradient.
    rows_x = x.permute(0, 2, 1).reshape(-1, 3)
    output = model[0](x)
    logits = model[3](model[2](model[1](output)))
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), output)
    rows_g = grad.permute(0, 2, 1).reshape(-1, 4)
    assert conv.num_examples == 16 and conv.num_rows == 16 * 8
    torch.testing.assert_close(conv.input_spectrum, symmetric_spectrum(rows_x.T @ rows_x / len(rows_x)))
    torch.testing.assert_close(conv.grad_spectrum, symmetric_spectrum(rows_g.T @ rows_g / len(rows_g)))
    assert conv.num_units == 3 and conv.dying_units == 0 and conv.full_units == 0
    # every weight-bearing module is covered: only the biases are skipped
    assert [(p.name, p.category) for p in analysis.skipped] == [("0.bias", SkipCategory.BIAS), ("3.bias", SkipCategory.BIAS)]


def test_an_unregistered_class_is_passed_over_and_patch_mode_is_refused_where_unsupported():
    plain = _model(nn.Conv1d)
    assert [name for name, _ in supported_layers(plain)] == ["3"]
    conv_weight = skipped_parameters(plain, ["3"])[0]
    assert (conv_weight.name, conv_weight.reason) == ("0.weight", "nn.Conv1d: no registered layer type")
    x, y = _data()
    with pytest.raises(ValueError, match="layer '0' \\(TimeConv\\): conv_mode 'patch' is not supported for "
                                         "layer type 'test_conv1d'"):
        analyze(_model(), x, y, conv_mode="patch")


def test_the_most_specific_registered_class_handles_a_module():
    class Wide(nn.Linear):
        pass

    assert isinstance(layer_type_of(Wide(2, 3)), LinearRows)  # no type of its own: Linear's
    assert isinstance(layer_type_of(TimeConv(1, 1, 1)), TimeConvRows)
    assert layer_type_of(nn.Conv1d(1, 1, 1)) is None


def test_malformed_layer_types_are_refused_when_registered():
    class NoKind(LayerType):
        module_class = nn.Conv3d
        kind = "other"

    with pytest.raises(ValueError, match="needs kind = 'test_conv3d' and a module_class"):
        LAYER_TYPES.register("test_conv3d", NoKind)
    with pytest.raises(TypeError, match="expected a LayerType subclass"):
        LAYER_TYPES.register("test_function", lambda module, x: x)
    assert "test_conv3d" not in LAYER_TYPES and "test_function" not in LAYER_TYPES

