"""The MLP claims can fail: their experiments run at tiny sizes over enough seeds for the claim's
statistical rule to decide, and the claim file's own ``[[expect]]`` checks (through the harness)
give the verdicts. Unmutated, no expectation is contradicted; under a mutation that reverses an
effect (or breaks an exact identity) the expectation is contradicted (or fails)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from claim_checks import claim, declared_outputs, run_outputs, stacked

from lcsuite.harness.enums import Verdict
from lcsuite.harness.experiments import ExperimentContext
from lcsuite.models import MLP
from lcsuite.papers.huang2020.experiments import bn_scaling, mlp_dynamics
from lcsuite.train import train

FIVE_SEEDS = (0, 1, 2, 3, 4)
RED = (Verdict.CONTRADICTED, Verdict.FAIL)


def verdicts(claim_id: str, per_seed: list[dict], params: dict | None = None) -> dict[str, Verdict]:
    """``{expectation label: verdict}`` of the claim's checks on per-seed outputs."""
    quantities = stacked(per_seed, declared_outputs(claim_id, params or {}))
    return {e.label: e.check(quantities).verdict for e in claim(claim_id).expectations}


def assert_none_red(result: dict[str, Verdict], diagnosed: tuple[str, ...] = ()) -> None:
    """No expectation is red, except those whose disagreement the claim file diagnoses."""
    red = {name: verdict for name, verdict in result.items() if verdict in RED and name not in diagnosed}
    assert not red, f"contradicted or failed without a mutation: {red}"


TINY_MLP = dict(depth=6, width=16, bias=False, optimizer="gd", batch_size=0, lrs=[0.1], steps=3,
                checkpoints=[0, 3], data_limit=300)


def swap(outputs: list[dict], a: str, b: str) -> list[dict]:
    """Exchange the quantities under prefixes ``a/`` and ``b/`` (e.g. BN <-> Plain)."""
    swapped = []
    for out in outputs:
        new = {}
        for path, value in out.items():
            if path.startswith(a + "/"):
                path = b + path[len(a):]
            elif path.startswith(b + "/"):
                path = a + path[len(b):]
            new[path] = value
        swapped.append(new)
    return swapped


def replaced(outputs: list[dict], path: str, transform) -> list[dict]:
    """The outputs with ``path``'s array replaced by ``transform(array)`` (dims kept)."""
    result = []
    for out in outputs:
        out = dict(out)
        value = out[path]
        array, dims = value if isinstance(value, tuple) else (value, None)
        new = np.asarray(transform(np.asarray(array, dtype=float)), dtype=float)
        out[path] = new if dims is None else (new, dims)
        result.append(out)
    return result


# --- Thm 4.2 -----------------------------------------------------------------------------------

THM2 = dict(trials=6, max_depth=4, min_width=2, max_width=8, batch=16, alpha_min=0.1, alpha_max=10.0,
            weight_scales=[1.0, 10.0, 100.0], first_order_limit=0.01)


@pytest.fixture(scope="module")
def thm2_outputs():
    return run_outputs(bn_scaling.bn_scale_invariance, THM2)


def test_thm2_holds_on_tiny_nets(thm2_outputs):
    result = verdicts("thm2_bn_scale_invariance", thm2_outputs, THM2)
    assert all(v is Verdict.PASS for v in result.values()), result


def test_thm2_fails_without_normalisation(monkeypatch):
    """BN replaced by its affine part only: the invariance is gone."""
    monkeypatch.setattr(bn_scaling.TrainModeBatchNorm, "forward", lambda self, h: self.weight * h + self.bias)
    result = verdicts("thm2_bn_scale_invariance", run_outputs(bn_scaling.bn_scale_invariance, THM2), THM2)
    assert result["eps0_input"] is Verdict.FAIL and result["eps0_weight_grad"] is Verdict.FAIL
    assert result["eps0_output_grad"] is Verdict.FAIL


def test_thm2_scale_law_fails_when_eps_is_added_to_the_standard_deviation(monkeypatch):
    """eps added to σ instead of σ²: BN_eps(αh) = BN_{eps/α}(h), a deviation ∝ 1/s, not 1/s²."""
    def forward(self, h):
        centred = h - h.mean(dim=0, keepdim=True)
        return self.weight * centred / (centred.square().mean(dim=0, keepdim=True).sqrt() + self.eps) + self.bias

    monkeypatch.setattr(bn_scaling.TrainModeBatchNorm, "forward", forward)
    result = verdicts("thm2_bn_scale_invariance", run_outputs(bn_scaling.bn_scale_invariance, THM2), THM2)
    assert result["eps_default_scale_law"] is Verdict.FAIL
    assert result["eps0_input"] is Verdict.PASS  # eps = 0 is still exact


def test_thm2_law_that_tests_no_point_fails(thm2_outputs):
    empty = replaced(thm2_outputs, "eps_default/scale_law/points", lambda points: 0 * points)
    assert verdicts("thm2_bn_scale_invariance", empty, THM2)["eps_default_law_tested"] is Verdict.FAIL


def test_thm2_scale_law_summary_judges_only_the_first_order_regime():
    ratios = np.array([[0.01005, 0.5]])  # the second pair is outside (eta = inf): not judged
    etas = np.array([[0.004, np.inf]])
    errors = np.array([[1e-3, 1e-5, 5e-6]])
    summary = bn_scaling.scale_law_summary(ratios, etas, errors, [1.0, 10.0, 100.0], 0.01)
    assert summary["scale_law/points"] == 1 and summary["scale_law/max_deviation"] == pytest.approx(0.005)
    assert summary["outside_first_order/points"] == 1 and summary["outside_first_order/max_rel_err"] == 1e-5


# --- Fig. 3 ------------------------------------------------------------------------------------

# Enough steps at lr 0.5 for BN's loss to fall below 0.8 of its initial value.
FIG3 = dict(TINY_MLP, depth=8, lrs=[0.5], steps=10, checkpoints=[0, 10])


@pytest.fixture(scope="module")
def fig3_outputs():
    return run_outputs(mlp_dynamics.mlp_magnitude_propagation, FIG3, seeds=FIVE_SEEDS)


def test_fig3_unmutated_is_not_contradicted(fig3_outputs):
    """BN's output-gradient spread over layers at initialisation exceeds 100× already in an
    8-layer net: the diagnosed disagreement with the absolute reading of "stable" (the claim
    file's [diagnosis]); every other expectation, the contrast reading included, is not red."""
    result = verdicts("fig3_magnitude_propagation", fig3_outputs)
    assert_none_red(result, diagnosed=("bn_random_g_stable", "bn_he_g_stable"))
    assert result["bn_random_g_contrast"] is not Verdict.CONTRADICTED


def test_fig3_is_contradicted_when_bn_replaces_plain_random(fig3_outputs):
    result = verdicts("fig3_magnitude_propagation", swap(fig3_outputs, "bn_random", "plain_random"))
    for name in ("plain_random_x_decays", "plain_random_g_decays_backward", "plain_random_loss_flat",
                 "bn_random_loss_falls", "bn_random_x_contrast", "bn_random_g_contrast", "bn_he_x_contrast"):
        assert result[name] is Verdict.CONTRADICTED, name


def test_fig3_bn_he_readings_are_contradicted_when_bn_he_is_swapped_with_plain_random(fig3_outputs):
    result = verdicts("fig3_magnitude_propagation", swap(fig3_outputs, "bn_he", "plain_random"))
    for name in ("bn_he_x_contrast", "bn_he_g_contrast", "bn_he_loss_falls"):
        assert result[name] is Verdict.CONTRADICTED, name


def _along_layers(profile):
    """A transform giving every series (last axis: layers) the profile ``profile``."""
    return lambda array: np.broadcast_to(profile(array.shape[-1]), array.shape)


def test_fig3_stability_and_forward_decay_are_contradicted_on_crafted_magnitudes(fig3_outputs):
    """Magnitudes spanning 1e4 over the layers are not "stable"; flat ones do not "decay"."""
    stable = ["plain_he", "bn_random", "bn_he"]
    outputs = fig3_outputs
    for variant in stable:
        for factor in ("input", "grad"):
            outputs = replaced(outputs, f"{variant}/{factor}/lambda_max", _along_layers(lambda n: np.logspace(0, -4, n)))
    outputs = replaced(outputs, "plain_random/input/lambda_max", _along_layers(np.ones))
    result = verdicts("fig3_magnitude_propagation", outputs)
    assert all(result[f"{v}_{f}_stable"] is Verdict.CONTRADICTED
               for v in stable for f in ("x", "g"))
    assert result["plain_random_x_decays"] is Verdict.CONTRADICTED


# --- Fig. 5 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fig5_outputs():
    return run_outputs(mlp_dynamics.mlp_bn_conditioning, dict(TINY_MLP, init="random"), seeds=FIVE_SEEDS)


def test_fig5_unmutated_is_not_contradicted(fig5_outputs):
    assert_none_red(verdicts("fig5_bn_improves_conditioning", fig5_outputs))


def test_fig5_is_contradicted_when_bn_and_plain_are_swapped(fig5_outputs):
    result = verdicts("fig5_bn_improves_conditioning", swap(fig5_outputs, "bn", "plain"))
    assert all(result[name] is Verdict.CONTRADICTED for name in
               ("input_kappa_p80", "input_kappa_p100", "grad_kappa_p80", "grad_kappa_p100"))


def test_fig5_judges_an_unresolved_plain_value_by_its_lower_bound(fig5_outputs):
    """Plain's κ replaced by a value above BN's whose lower bound is below it: not counted."""
    outputs = fig5_outputs
    for p in ("80", "100"):
        upper = "bn/hidden_input_kappa_p{}_upper".format(p)
        outputs = [dict(out, **{f"plain/hidden_input_kappa_p{p}": (out[upper][0] * 10, out[upper][1]),
                                f"plain/hidden_input_kappa_p{p}_lower": (out[upper][0] / 10, out[upper][1])})
                   for out in outputs]
    result = verdicts("fig5_bn_improves_conditioning", outputs)
    assert result["input_kappa_p80"] is Verdict.CONTRADICTED and result["input_kappa_p100"] is Verdict.CONTRADICTED


@pytest.mark.parametrize("norm", ["none", "bn"])
def test_fig5_resolved_kappas_move_less_than_one_percent_under_input_rounding_and_threads(norm):
    """D6: the statistics of one network (12 layers, trained 5 GD steps, no biases) taken with
    the inputs perturbed by relative noise 1e-7 and 2 threads instead of 1: every κ_p value
    marked resolved moves by < 1%, and most values are resolved."""
    ctx = ExperimentContext(params=dict(data_limit=300), seed=0)
    data = mlp_dynamics._training_data(ctx)
    torch.manual_seed(0)
    model = MLP(data.inputs[0].numel(), data.num_classes, 12, 16, norm=norm, init="random", bias=False)
    train(model, (data.inputs, data.targets), lr=0.1, optimizer="gd", steps=5, seed=0, evaluate_train=False)
    model.train()
    generator = torch.Generator().manual_seed(1)
    noisy = data.inputs * (1 + 1e-7 * torch.randn(data.inputs.shape, generator=generator))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = mlp_dynamics.float64_statistics(model, data.inputs, data.targets, mlp_dynamics.CONDITIONING_STATS)
        torch.set_num_threads(2)
        second = mlp_dynamics.float64_statistics(model, noisy, data.targets, mlp_dynamics.CONDITIONING_STATS)
    finally:
        torch.set_num_threads(threads)
    resolved = 0
    for name in mlp_dynamics.CONDITIONING_STATS:
        flags = first[f"{name}_resolved"] == 1
        moves = np.abs(second[name][flags] / first[name][flags] - 1)
        assert np.all(moves < 0.01), (name, moves.max())
        resolved += int(flags.sum())
    assert resolved >= 0.75 * 4 * 12


# --- Sec. 4.2 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sec42_outputs():
    return run_outputs(mlp_dynamics.mlp_dying_neurons, dict(TINY_MLP, depth=10, init="he"), seeds=FIVE_SEEDS)


def test_sec42_unmutated_is_not_contradicted(sec42_outputs):
    assert_none_red(verdicts("sec42_dying_neurons", sec42_outputs))


def test_sec42_is_red_when_bn_is_plain_and_zero_eigs_are_missing(sec42_outputs):
    outputs = sec42_outputs
    for name in ("dying_units", "full_units"):  # BN dropped: its net has dying and full units
        outputs = replaced(outputs, f"bn/{name}", np.ones_like)
    outputs = replaced(outputs, "plain/zero_eigs_minus_dying", lambda excess: excess - 1.0)  # a dying unit without its zero
    result = verdicts("sec42_dying_neurons", outputs)
    assert result["bn_no_dying"] is Verdict.CONTRADICTED and result["bn_no_full"] is Verdict.CONTRADICTED
    assert result["plain_dying_zero_eigs"] is Verdict.FAIL


def test_sec42_is_contradicted_when_the_counts_fall_with_depth(sec42_outputs):
    outputs = sec42_outputs
    for name in ("dying_units", "full_units"):
        outputs = replaced(outputs, f"plain/{name}", lambda counts: counts[..., ::-1])
    result = verdicts("sec42_dying_neurons", outputs)
    assert result["plain_dying_rise"] is Verdict.CONTRADICTED and result["plain_full_rise"] is Verdict.CONTRADICTED


# --- Fig. 4 ------------------------------------------------------------------------------------

FIG4 = dict(TINY_MLP, depth=3, steps=20, lrs=[0.5], checkpoints=[0, 20], init="random", test_fraction=0.3,
            masks=["111", "101", "011"])


@pytest.fixture(scope="module")
def fig4_outputs():
    return run_outputs(mlp_dynamics.mlp_frozen_layers, FIG4, seeds=FIVE_SEEDS)


def test_fig4_unmutated_is_not_contradicted(fig4_outputs):
    assert_none_red(verdicts("fig4_weight_domination", fig4_outputs, FIG4))


def test_fig4_is_contradicted_when_the_frozen_masks_end_better(fig4_outputs):
    """Reversed effect: each frozen mask's paired excess negated (it ends below the baseline)."""
    outputs = replaced(fig4_outputs, "frozen/final_loss_excess", lambda excess: -excess)
    outputs = replaced(outputs, "frozen/test_error_excess", lambda excess: -np.abs(excess) - 0.01)
    result = verdicts("fig4_weight_domination", outputs, FIG4)
    assert result["frozen_higher_loss"] is Verdict.CONTRADICTED
    assert result["frozen_higher_test_error"] is Verdict.CONTRADICTED


def test_fig4_is_contradicted_when_no_mask_lowers_the_loss():
    params = dict(FIG4, steps=3, checkpoints=[0, 3], lrs=[0.0])
    result = verdicts("fig4_weight_domination", run_outputs(mlp_dynamics.mlp_frozen_layers, params, seeds=FIVE_SEEDS),
                      params)
    assert result["loss_still_decreases"] is Verdict.CONTRADICTED


# --- Fig. A11 ----------------------------------------------------------------------------------

# 100 layers as in the figure: the explosion is exponential in depth, 40 layers are too few.
A11 = dict(TINY_MLP, depth=100, width=16, steps=3, checkpoints=[0, 1, 2, 3], init="random", lower_layers=10)


@pytest.fixture(scope="module")
def a11_outputs():
    return run_outputs(mlp_dynamics.mlp_bn_gradient_explosion, A11, seeds=FIVE_SEEDS)


def test_figA11_unmutated_is_not_contradicted(a11_outputs):
    assert_none_red(verdicts("figA11_bn_gradient_explosion", a11_outputs))


def test_figA11_is_contradicted_without_the_first_update():
    """lr 0: no first-step update, so nothing drops and no layer enters weight domination."""
    outputs = run_outputs(mlp_dynamics.mlp_bn_gradient_explosion, dict(A11, lrs=[0.0]), seeds=FIVE_SEEDS)
    result = verdicts("figA11_bn_gradient_explosion", outputs)
    assert result["lower_lambda_max_drop"] is Verdict.CONTRADICTED
    assert result["lower_weight_domination"] is Verdict.CONTRADICTED


def test_figA11_is_contradicted_when_lambda_max_grows_with_layer(a11_outputs):
    outputs = replaced(a11_outputs, "iter0/fim_lambda_max", lambda values: values[::-1])
    assert verdicts("figA11_bn_gradient_explosion", outputs)["iter0_exponential"] is Verdict.CONTRADICTED


@pytest.mark.parametrize("claim_id", ["fig5_bn_improves_conditioning", "fig3_magnitude_propagation",
                                      "sec42_dying_neurons", "fig4_weight_domination",
                                      "figA11_bn_gradient_explosion", "thm2_bn_scale_invariance"])
def test_claim_files_load(claim_id):
    assert claim(claim_id).id == claim_id
