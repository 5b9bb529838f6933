"""The diagnosis rules on nets built to show each problem, and on nets where each must not fire."""

import math

import pytest
import torch
from torch import nn

from lcsuite.harness.trends import spread_ratio
from lcsuite.monitor import Thresholds
from lcsuite.monitor.rules import longest_exponential_run
from lcsuite.models import MLP
from monitor_cases import BranchSum, digits, gaussian_data, one_thread, plain_mlp, recorded, rules_fired  # noqa: F401


@pytest.fixture(scope="module")
def plain_and_bn():
    x, y = digits()
    return {norm: rules_fired(recorded(plain_mlp(norm=norm), x, y)) for norm in ("none", "bn")}


def test_plain_random_init_has_vanishing_inputs_and_gradients_over_named_layers(plain_and_bn):
    fired = plain_and_bn["none"]
    for rule in ("vanishing_inputs", "vanishing_gradients"):
        (finding,) = fired[rule]
        first, last = finding.numbers["first_layer"], finding.numbers["last_layer"]
        assert last - first + 1 >= 15, finding  # the decay runs through the network
        assert f"layers {first}-{last}" in finding.message
        assert finding.layers[0] in finding.message and finding.layers[-1] in finding.message
        assert len(finding.layers) == last - first + 1
        assert finding.numbers["fold"] >= 100 and finding.numbers["r2"] >= 0.9
        assert finding.paper == "Thm 4.1, Fig. 3" and finding.checkpoint == 0
    assert "exploding_inputs" not in fired and "exploding_gradients" not in fired


def test_bn_twin_has_no_vanishing_inputs(plain_and_bn):
    fired = plain_and_bn["bn"]
    for rule in ("vanishing_inputs", "exploding_inputs", "unbalanced_inputs", "vanishing_gradients",
                 "dying_units", "full_units"):
        assert rule not in fired, fired.get(rule)


def test_weights_scaled_up_in_every_layer_explode_forward_and_backward():
    # Thm 4.1: each layer's weight × 2 multiplies x_k by 2^k forward and g_k by 2^(K-k) backward.
    model = plain_mlp(depth=8, init="he")
    with torch.no_grad():
        for layer in model.linears:
            layer.weight.mul_(2.0)
    fired = rules_fired(recorded(model, *digits()))
    for rule in ("exploding_inputs", "exploding_gradients"):
        (finding,) = fired[rule]
        assert len(finding.layers) >= 6 and finding.numbers["fold"] >= 100
    assert "vanishing_inputs" not in fired and "vanishing_gradients" not in fired


def test_a_single_layer_scaled_down_is_an_unbalanced_step_not_a_trend():
    scaled, unscaled = plain_mlp(depth=8, init="he"), plain_mlp(depth=8, init="he")
    with torch.no_grad():
        scaled.linears[4].weight.mul_(1e-3)
    fired = rules_fired(recorded(scaled, *digits()))
    assert fired["unbalanced_inputs"][0].numbers["spread"] > 1e5
    assert "vanishing_inputs" not in fired
    clean = rules_fired(recorded(unscaled, *digits()))
    assert "unbalanced_inputs" not in clean and "unbalanced_gradients" not in clean


def _bn_mlp5(scale_layer: int | None = None):
    """The paper's Fig. 4 net (5-layer BN MLP); optionally one layer's weight × 100 and frozen,
    which Thm 4.2 says divides its weight-domination ratio by 100² = 1e4."""
    torch.manual_seed(0)
    model = MLP(64, 10, 5, 64, norm="bn", init="random")
    if scale_layer is not None:
        weight = model.linears[scale_layer].weight
        with torch.no_grad():
            weight.mul_(100.0)
        weight.requires_grad_(False)
    return model


def test_frozen_dominated_layer_is_flagged_for_weight_domination():
    fired = rules_fired(recorded(_bn_mlp5(scale_layer=2), *digits()))
    (finding,) = fired["weight_domination"]
    assert finding.layers == ("layers.6",)
    assert finding.numbers["frozen"] is True and "frozen" in finding.message
    assert finding.numbers["times_below"] > 100


def test_weight_domination_does_not_fire_on_the_unchanged_net():
    fired = rules_fired(recorded(_bn_mlp5(), *digits()))
    assert "weight_domination" not in fired


def _two_layer(dead_units: int):
    torch.manual_seed(0)
    model = MLP(64, 10, 2, 32, init="he", bias=True)
    with torch.no_grad():
        model.linears[0].bias[:dead_units] = -1e3  # pre-activation < 0 on every example
    return model


def test_units_killed_by_a_negative_bias_are_counted_and_matched_to_zero_eigenvalues():
    fired = rules_fired(recorded(_two_layer(dead_units=5), *gaussian_data()))
    (finding,) = fired["dying_units"]
    assert finding.layers == ("layers.2",)
    assert finding.numbers["per_layer"]["layers.2"] == {"units": 5, "of": 32, "zero_eigenvalues": 5}
    assert "full_units" not in fired


def test_no_dying_or_full_units_without_the_bias():
    fired = rules_fired(recorded(_two_layer(dead_units=0), *gaussian_data()))
    assert "dying_units" not in fired and "full_units" not in fired and "kappa_blowup" not in fired


def test_all_units_dead_gives_an_infinite_condition_number():
    fired = rules_fired(recorded(_two_layer(dead_units=32), *gaussian_data()))
    # Layer 2 gets a zero input; no gradient passes the dead ReLUs back to layer 1's output.
    zero = {f.layers: f.numbers["zero_factors"] for f in fired["kappa_blowup"]}
    assert zero == {("layers.0",): ["Sg"], ("layers.2",): ["Sx"]}
    assert fired["dying_units"][0].numbers["total"] == 32


def test_last_linear_layer_input_outgrowing_the_rest_and_lastbn_fixing_it():
    x, y = gaussian_data()
    fired = rules_fired(recorded(BranchSum(), x, y))
    (finding,) = fired["last_layer_input"]
    assert finding.layers == ("classifier",) and finding.numbers["times_above"] > 100
    assert "last_layer_input" not in rules_fired(recorded(BranchSum(last_bn=True), x, y))


def _kappa_history(stretch_per_checkpoint: float):
    """A 2-layer net recorded at 4 checkpoints on inputs whose first feature is multiplied by
    ``stretch ** t`` at checkpoint t: κ(Sx) of the first layer grows by stretch² per checkpoint."""
    torch.manual_seed(0)
    model = MLP(8, 3, 2, 8, init="he")
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(256, 8, generator=g), torch.randint(0, 3, (256,), generator=g)
    monitor = None
    for t in range(4):
        stretched = x.clone()
        stretched[:, 0] *= stretch_per_checkpoint ** t
        monitor = recorded(model, stretched, y, step=10 * t, monitor=monitor)
    return monitor


def test_kappa_growing_exponentially_over_checkpoints_is_a_blowup():
    findings = {f.layers: f for f in _kappa_history(10.0).diagnose() if f.rule == "kappa_blowup"}
    first = findings[("layers.0",)]  # (the stretched direction also dominates layer 2's input)
    assert first.checkpoint == 30 and first.numbers["first_step"] == 0
    assert first.numbers["fold"] > 1e4 and first.numbers["p"] == 0.8


def test_kappa_constant_over_checkpoints_is_no_blowup():
    assert not [f for f in _kappa_history(1.0).diagnose() if f.rule == "kappa_blowup"]


def test_longest_run_and_thresholds():
    values = [1.0, 1.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4]
    run = longest_exponential_run(values)
    assert (run.start, run.stop, run.direction) == (2, 7, "decay")
    assert run.fold == pytest.approx(1e4) and math.exp(-run.slope) == pytest.approx(10.0)
    assert longest_exponential_run([1.0, 0.5, 0.25]) is None  # 4× < two orders of magnitude
    assert longest_exponential_run([1.0, 1e-3]) is None  # two points are no trend
    assert longest_exponential_run([1.0, 0.5, 0.25], Thresholds(min_fold=2)).fold == pytest.approx(4.0)
    with pytest.raises(ValueError, match="min_points"):
        Thresholds(min_points=2)
    with pytest.raises(ValueError, match="min_r2"):
        Thresholds(min_r2=1.5)


def test_findings_only_at_the_steps_asked_for():
    monitor = recorded(plain_mlp(depth=6), *digits(), step=0)
    recorded(monitor.model, *digits(), step=5, monitor=monitor)
    assert {f.checkpoint for f in monitor.diagnose()} == {0, 5}
    assert {f.checkpoint for f in monitor.diagnose(steps=[0])} == {0}
    assert monitor.diagnose(steps=[99]) == []



def test_conv_and_linear_layers_are_compared_within_their_kind():
    # A conv's output-gradient rows are positions, the classifier's are examples: after the
    # global average pool each position carries 1/(H·W) of an example's gradient.
    torch.manual_seed(0)
    convs = [layer for c_in in (3, 8, 8, 8)
             for layer in (nn.Conv2d(c_in, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())]
    model = nn.Sequential(*convs, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 16, 16, generator=g), torch.randint(0, 10, (32,), generator=g)
    monitor = recorded(model, x, y)
    grad_lambda_max = monitor.history.values("grad/lambda_max")[0]
    assert spread_ratio(grad_lambda_max) > 100  # mixing the kinds would call this unbalanced
    fired = rules_fired(monitor)
    assert not [rule for rule in fired if rule.split("_")[0] in ("unbalanced", "vanishing", "exploding")], fired
