"""Claims on deep residual networks (Figs. 6, 7, 9, Tables 1, 2, A2): each claim can fail.

Each mutation runs the experiment at tiny sizes (8x8 substitute images, depths 8-20, a few
iterations), mutates the network (the last BN dropped) or the measured quantities, and
evaluates the claim file's own ``[[expect]]`` through the harness, asserting a failed verdict.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from claim_checks import run_outputs, stacked, verdicts

from lcsuite.papers.huang2020.experiments import lastbn_training, resnet_depth
from lcsuite.harness.quantities import Quantity
from lcsuite.models import cifar_net

TINY_DEPTH = dict(
    depths=[8, 14, 20], loss_depths=[8, 14, 20], steps=2, batch_size=4, lr=0.1, momentum=0.9,
    weight_decay=1e-4, augment="none", measure_examples=32, measure_batch_size=32, train_size=32,
    image_size=8, num_classes=10, record_steps=[0],
)
TINY_TRAINING = dict(
    depths=[8], lr=0.1, momentum=0.9, weight_decay=1e-4, batch_size=16, epochs=1,
    milestone_fractions=[0.5, 0.75], gamma=0.1, augment="none", train_size=32, test_size=32,
    image_size=8, num_classes=10,
)


def run_renamed(function, params, seeds=(0, 1), rename=None):
    """Stacked quantities of ``function`` over ``seeds``; ``rename`` maps arch prefixes."""
    outputs = []
    for out in run_outputs(function, params, seeds):
        for old, new in (rename or {}).items():
            out = {(new + k[len(old):] if k.startswith(old + "/") else k): v for k, v in out.items()}
        outputs.append(out)
    return stacked(outputs)


def reversed_along(quantity: Quantity, dim: str) -> Quantity:
    return Quantity(np.flip(quantity.values, axis=quantity.dims.index(dim)).copy(), quantity.dims)


def test_classifier_input_statistics_match_explicit_features():
    torch.manual_seed(0)
    model = cifar_net("resnet", 8)
    x = torch.randn(16, 3, 8, 8)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    stats = resnet_depth.classifier_input_statistics(model, x, batch_size=16)
    for name, value in model.named_buffers():  # BN running statistics restored
        torch.testing.assert_close(value, buffers[name])
    with torch.no_grad():
        features = model.train().features(x).double()
    sx = features.T @ features / 16
    assert stats["lambda_max"] == pytest.approx(torch.linalg.eigvalsh(sx)[-1].item(), rel=1e-6)
    assert stats["rms_norm"] == pytest.approx(torch.trace(sx).sqrt().item(), rel=1e-6)


def test_fig6_lambda_max_grows_at_tiny_depths_and_fails_when_reversed():
    q = run_renamed(resnet_depth.resnet_last_layer_depth, {**TINY_DEPTH, "archs": ["resnet"]})
    assert verdicts("fig6_resnet_last_layer", q)["lambda_max_grows"]
    q["resnet/last_input/lambda_max"] = reversed_along(q["resnet/last_input/lambda_max"], "depth")
    q["resnet/early_peak_loss"] = reversed_along(q["resnet/early_peak_loss"], "loss_depth")
    result = verdicts("fig6_resnet_last_layer", q)
    assert not result["lambda_max_grows"] and not result["early_peak_loss_grows"]


def test_fig7_fails_when_the_last_bn_is_dropped():
    # "resnet_lastbn" is measured on a plain ResNet: same numbers as ResNet, no 10x gap
    params = {**TINY_DEPTH, "archs": ["resnet"], "loss_depths": [20]}
    plain = run_renamed(resnet_depth.resnet_last_layer_depth, params)
    q = dict(plain)
    q.update({k.replace("resnet/", "resnet_lastbn/", 1): v for k, v in plain.items()})
    result = verdicts("fig7_lastbn_fixes_last_layer", q)
    assert not result["lastbn_10x_below"]
    assert not result["lastbn_peak_below_resnet"]


def test_fig7_fails_on_an_early_loss_blowup():
    q = run_renamed(resnet_depth.resnet_last_layer_depth, {**TINY_DEPTH, "archs": ["resnet", "resnet_lastbn"]},
                    seeds=(0,))
    path = "resnet_lastbn/early_peak_loss_deepest"
    q[path] = Quantity(np.full_like(q[path].values, 10.0), q[path].dims)  # above 2·ln 10
    assert not verdicts("fig7_lastbn_fixes_last_layer", q)["lastbn_no_blowup"]


def test_fig9_fails_when_lastbn_loses_its_bn():
    params = {**TINY_DEPTH, "depths": [20], "loss_depths": [], "archs": ["resnet", "preresnet", "preresnet_v1"]}
    q = run_renamed(resnet_depth.resnet_last_layer_depth, params, rename={"resnet": "resnet_lastbn"})
    result = verdicts("fig9_preresnet_extra_bn", q)
    assert not result["preresnet_like_lastbn"] and not result["preresnet_v1_10x_above"]


def test_table1_fails_when_the_last_bn_is_dropped():
    # both arms are plain ResNets trained identically: LastBN is never strictly better
    params = {**TINY_TRAINING, "archs": ["resnet", "resnet"]}
    q = run_renamed(lastbn_training.paired_depth_training, params)
    q.update({k.replace("resnet/", "resnet_lastbn/", 1): v for k, v in q.items() if k.startswith("resnet/")})
    result = verdicts("table1_lastbn_beats_resnet", q)
    assert not result["train_loss_lastbn_lower"] and not result["test_error_lastbn_lower"]


def test_tableA2_fails_when_the_last_bn_is_dropped():
    params = {**TINY_TRAINING, "lr": 0.01, "weight_decay": 0.0, "archs": ["vgg_nobn", "resnet_nobn"]}
    q = run_renamed(lastbn_training.paired_depth_training, params)
    for arch in ("vgg_nobn", "resnet_nobn"):
        q.update({k.replace(f"{arch}/", f"{arch}_lastbn/", 1): v for k, v in q.items() if k.startswith(f"{arch}/")})
    result = verdicts("tableA2_lastbn_without_bn", q)
    assert not result["vgg_lastbn_lower_error"] and not result["resnet_lastbn_lower_error"]


def test_paired_training_records_divergence_as_infinite_loss():
    params = {**TINY_TRAINING, "lr": 1e30, "epochs": 2, "archs": ["vgg_nobn", "vgg_nobn_lastbn"]}
    q = run_renamed(lastbn_training.paired_depth_training, params, seeds=(0,))
    assert q["vgg_nobn/diverged"].values.all()
    assert np.isinf(q["vgg_nobn/final_train_loss"].values).all()
    assert (q["vgg_nobn/test_error"].values == 1.0).all()


def test_arch_pairs_needs_pairs():
    assert lastbn_training.arch_pairs(["a", "b", "c", "d"]) == [("a", "b"), ("c", "d")]
    with pytest.raises(ValueError):
        lastbn_training.arch_pairs(["a", "b", "c"])
