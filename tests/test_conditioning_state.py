"""``preserved_state``: buffers, modes, requires_grad flags and frozen gradients come back,
also when the block raises; trainable gradients are left to the block."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lcsuite.conditioning import preserved_state


def _model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    model.eval()
    model[1].train()  # modes differ between submodules: each must come back as it was
    model[0].weight.requires_grad_(False)
    model[0].weight.grad = torch.full_like(model[0].weight, 7.0)
    return model


def _state(model):
    return ({n: b.clone() for n, b in model.named_buffers()}, [m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()], model[0].weight.grad.clone())


def _disturb(model):
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    loss = F.cross_entropy(model(torch.randn(8, 4)), torch.randint(0, 3, (8,)))
    loss.backward()  # moves the running statistics, accumulates into every .grad


@pytest.mark.parametrize("fail", [False, True])
def test_everything_measured_comes_back(fail):
    model = _model()
    buffers, modes, flags, frozen_grad = _state(model)
    frozen_grad_object = model[0].weight.grad
    with pytest.raises(RuntimeError) if fail else torch.enable_grad():
        with preserved_state(model):
            _disturb(model)
            assert not torch.equal(model[1].running_mean, buffers["1.running_mean"])
            if fail:
                raise RuntimeError("inside")
    after = _state(model)
    assert all(torch.equal(after[0][n], b) for n, b in buffers.items())
    assert after[1:3] == (modes, flags)
    assert model[0].weight.grad is frozen_grad_object and torch.equal(after[3], frozen_grad)
    assert model[3].weight.grad is not None  # a trainable weight's gradient stays the block's


def test_buffers_and_modes_can_be_left_to_the_block():
    model = _model()
    buffers, modes, _, _ = _state(model)
    with preserved_state(model, buffers=False, mode=False):
        _disturb(model)
    assert not torch.equal(model[1].running_mean, buffers["1.running_mean"])
    assert [m.training for m in model.modules()] != modes
