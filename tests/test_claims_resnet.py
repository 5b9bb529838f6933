"""Claims on deep residual networks (Figs. 6, 7, 9, Tables 1, 2, A2): each claim can fail.

Each test runs the experiment at tiny sizes (8x8 or 16x16 substitute images, a few
iterations) over enough seeds for the claim's statistical rule to decide (a sign test needs 5),
evaluates the claim file's own ``[[expect]]`` through the harness on the measured quantities
(which must not be contradicted) and on a mutation that reverses the effect (the last BN
dropped, arms swapped, depth order reversed), which must be contradicted.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from claim_checks import claim, run_outputs, stacked

from lcsuite.harness.enums import Verdict
from lcsuite.harness.quantities import Quantity
from lcsuite.models import cifar_net
from lcsuite.papers.huang2020.experiments import lastbn_training, resnet_depth

SEEDS = (0, 1, 2, 3, 4)  # the fewest with which a one-sided sign test can decide at 0.05
TINY_DEPTH = dict(
    depths=[8, 14, 20], loss_depths=[8, 14, 20], steps=2, batch_size=4, lr=0.1, momentum=0.9,
    weight_decay=1e-4, augment="none", measure_examples=32, measure_batch_size=32, train_size=32,
    image_size=8, num_classes=10, record_steps=[0],
)
TINY_TRAINING = dict(
    depths=[8], lr=0.1, momentum=0.9, weight_decay=1e-4, batch_size=16, epochs=2,
    milestone_fractions=[0.5, 0.75], gamma=0.1, augment="none", train_size=64, test_size=64,
    image_size=8, num_classes=10,
)


def run_renamed(function, params, seeds=SEEDS, rename=None):
    """Stacked quantities of ``function`` over ``seeds``; ``rename`` maps arch prefixes."""
    outputs = []
    for out in run_outputs(function, params, seeds):
        for old, new in (rename or {}).items():
            out = {(new + k[len(old):] if k.startswith(old + "/") else k): v for k, v in out.items()}
        outputs.append(out)
    return stacked(outputs)


def as_arch(quantities, source: str, target: str) -> dict[str, Quantity]:
    """``quantities`` with every ``source/...`` quantity also stored as ``target/...``."""
    return {**quantities, **{target + k[len(source):]: v for k, v in quantities.items() if k.startswith(source + "/")}}


def claim_verdicts(claim_id: str, quantities) -> dict[str, Verdict]:
    """``{expectation label: verdict}`` of the claim file's checks on ``quantities``."""
    return {e.label: e.check(quantities).verdict for e in claim(claim_id).expectations}


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


def test_fig6_holds_at_tiny_depths_and_is_contradicted_when_depth_is_reversed():
    q = run_renamed(resnet_depth.resnet_last_layer_depth, {**TINY_DEPTH, "archs": ["resnet"]})
    assert set(claim_verdicts("fig6_resnet_last_layer", q).values()) == {Verdict.HOLDS}
    q["resnet/last_input/lambda_max"] = reversed_along(q["resnet/last_input/lambda_max"], "depth")
    q["resnet/early_peak_loss"] = reversed_along(q["resnet/early_peak_loss"], "loss_depth")
    assert set(claim_verdicts("fig6_resnet_last_layer", q).values()) == {Verdict.CONTRADICTED}


@pytest.fixture(scope="module")
def fig7_runs():
    params = {**TINY_DEPTH, "depths": [8, 20, 56], "loss_depths": [56], "archs": ["resnet", "resnet_lastbn"]}
    return run_renamed(resnet_depth.resnet_last_layer_depth, params)


def test_fig7_holds_at_tiny_depths(fig7_runs):
    assert set(claim_verdicts("fig7_lastbn_fixes_last_layer", fig7_runs).values()) == {Verdict.HOLDS}


def test_fig7_is_contradicted_when_the_last_bn_is_dropped(fig7_runs):
    # "resnet_lastbn" measured on a plain ResNet: growing with depth, no gap, a loss blow-up
    q = as_arch(fig7_runs, "resnet", "resnet_lastbn")
    assert set(claim_verdicts("fig7_lastbn_fixes_last_layer", q).values()) == {Verdict.CONTRADICTED}


def test_fig7_is_contradicted_by_an_early_loss_blowup(fig7_runs):
    q = dict(fig7_runs)
    path = "resnet_lastbn/early_peak_loss_deepest"
    q[path] = Quantity(np.full_like(q[path].values, 10.0), q[path].dims)  # above 2·ln 10 in every seed
    assert claim_verdicts("fig7_lastbn_fixes_last_layer", q)["lastbn_no_blowup"] is Verdict.CONTRADICTED


@pytest.fixture(scope="module")
def fig9_runs():
    params = {**TINY_DEPTH, "depths": [8, 56, 230], "loss_depths": [],
              "archs": ["resnet", "resnet_lastbn", "preresnet", "preresnet_v1"]}
    return run_renamed(resnet_depth.resnet_last_layer_depth, params)


def test_fig9_is_not_contradicted_at_tiny_depths(fig9_runs):
    result = claim_verdicts("fig9_preresnet_extra_bn", fig9_runs)
    assert result["preresnet_flat"] is Verdict.HOLDS and result["preresnet_10x_below_v1"] is Verdict.HOLDS
    assert result["preresnet_v1_10x_above"] is not Verdict.CONTRADICTED


def test_fig9_is_contradicted_when_the_extra_bns_are_dropped(fig9_runs):
    # PreResNet measured without its final BN (= PreResNetv1), ResNetLastBN without its last BN
    q = as_arch(as_arch(fig9_runs, "preresnet_v1", "preresnet"), "resnet", "resnet_lastbn")
    assert set(claim_verdicts("fig9_preresnet_extra_bn", q).values()) == {Verdict.CONTRADICTED}


def swapped_arms(quantities, left: str, right: str) -> dict[str, Quantity]:
    """The arms ``left`` and ``right`` exchanged: the measured effect reversed."""
    out = dict(quantities)
    for path, value in quantities.items():
        arch, _, rest = path.partition("/")
        if arch in (left, right):
            out[f"{right if arch == left else left}/{rest}"] = value
    return out


def test_table1_is_contradicted_when_the_arms_are_swapped():
    q = run_renamed(lastbn_training.paired_depth_training, {**TINY_TRAINING, "archs": ["resnet", "resnet_lastbn"]})
    result = claim_verdicts("table1_lastbn_beats_resnet", q)
    assert result["train_loss_lastbn_lower"] is Verdict.HOLDS
    assert result["test_error_lastbn_lower"] is not Verdict.CONTRADICTED  # no test-error effect at 8x8
    swapped = swapped_arms(q, "resnet", "resnet_lastbn")
    assert claim_verdicts("table1_lastbn_beats_resnet", swapped)["train_loss_lastbn_lower"] is Verdict.CONTRADICTED
    # a ResNetLastBN five points worse than ResNet in every seed
    q["resnet_lastbn/test_error"] = Quantity(q["resnet/test_error"].values + 0.05, q["resnet/test_error"].dims)
    assert claim_verdicts("table1_lastbn_beats_resnet", q)["test_error_lastbn_lower"] is Verdict.CONTRADICTED


def test_table1_is_not_supported_when_the_last_bn_is_dropped():
    # both arms are plain ResNets trained identically: no difference, never a holding verdict
    q = run_renamed(lastbn_training.paired_depth_training, {**TINY_TRAINING, "archs": ["resnet", "resnet"]},
                    seeds=SEEDS[:2])
    q = as_arch(q, "resnet", "resnet_lastbn")
    assert Verdict.HOLDS not in claim_verdicts("table1_lastbn_beats_resnet", q).values()


def test_tableA2_holds_at_tiny_sizes_and_is_contradicted_when_the_arms_are_swapped():
    params = {**TINY_TRAINING, "lr": 0.01, "weight_decay": 0.0, "train_size": 128, "test_size": 200,
              "archs": ["vgg_nobn", "vgg_nobn_lastbn", "resnet_nobn", "resnet_nobn_lastbn"]}
    q = run_renamed(lastbn_training.paired_depth_training, params)
    assert set(claim_verdicts("tableA2_lastbn_without_bn", q).values()) == {Verdict.HOLDS}
    swapped = swapped_arms(swapped_arms(q, "vgg_nobn", "vgg_nobn_lastbn"), "resnet_nobn", "resnet_nobn_lastbn")
    assert set(claim_verdicts("tableA2_lastbn_without_bn", swapped).values()) == {Verdict.CONTRADICTED}


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
