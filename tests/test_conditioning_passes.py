"""The passes shared by analyze and the monitor: model state kept, gradient rows rescaled."""

import pytest
import torch
from torch.nn import functional as F

from cases_conditioning import mlp, mlp_data, relative_error
from lcsuite.conditioning import LayerCapture, weights_requiring_grad


def test_frozen_weight_requires_grad_inside_and_keeps_its_grad_after():
    model = mlp(bn=True)
    frozen = model[0].weight
    frozen.requires_grad_(False)
    marker = torch.full_like(frozen, 7.0)
    frozen.grad = marker.clone()
    running_mean = model[1].running_mean.clone()
    x, y = mlp_data()
    with weights_requiring_grad(model, [m.weight for m in (model[0], model[4])]):
        assert frozen.requires_grad
        F.cross_entropy(model(x), y).backward()  # train-mode BN updates its running mean
        assert not torch.equal(frozen.grad, marker)
    assert not frozen.requires_grad
    assert torch.equal(frozen.grad, marker)
    assert torch.equal(model[1].running_mean, running_mean)


def test_buffers_kept_only_when_asked_and_state_restored_on_error():
    model = mlp(bn=True)
    x, y = mlp_data()
    before = model[1].running_mean.clone()
    with weights_requiring_grad(model, [model[0].weight], keep_buffers=False):
        model(x)
    assert not torch.equal(model[1].running_mean, before)
    model[0].weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="boom"):
        with weights_requiring_grad(model, [model[0].weight]):
            raise RuntimeError("boom")
    assert not model[0].weight.requires_grad


def test_grad_scale_turns_mean_loss_rows_into_per_example_rows():
    model = mlp()
    x, y = mlp_data()
    with LayerCapture(model) as summed:
        F.cross_entropy(model(x), y, reduction="sum").backward()
    with LayerCapture(model, grad_scale=float(len(y))) as mean:
        F.cross_entropy(model(x), y).backward()
    for name, record in summed.records.items():
        assert relative_error(mean.records[name].grad_covariance(), record.grad_covariance()) < 1e-12
