"""The MLP claims can fail: their experiments run at tiny sizes, are mutated so the claim is
violated, and the claim file's own ``[[expect]]`` checks (through the harness) must fail."""

from __future__ import annotations

import numpy as np
import pytest
from claim_checks import claim, declared_outputs, run_outputs, stacked
from claim_checks import verdicts as claim_verdicts

from lcsuite.papers.huang2020.experiments import (
    bn_scaling,
    mlp_dynamics,
)


def verdicts(claim_id: str, per_seed: list[dict], params: dict | None = None) -> dict[str, bool]:
    """The claim's checks on per-seed outputs, with dims as the experiment declares them."""
    return claim_verdicts(claim_id, stacked(per_seed, declared_outputs(claim_id, params or {})))


TINY_MLP = dict(depth=6, width=16, bias=True, optimizer="gd", batch_size=0, lrs=[0.1], steps=3,
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


# --- Thm 4.2 -----------------------------------------------------------------------------------

THM2 = dict(trials=6, max_depth=4, min_width=2, max_width=8, batch=16, alpha_min=0.1, alpha_max=10.0,
            weight_scales=[1.0, 10.0, 100.0])


def test_thm2_holds_on_tiny_nets():
    assert all(verdicts("thm2_bn_scale_invariance", run_outputs(bn_scaling.bn_scale_invariance, THM2), THM2).values())


def test_thm2_fails_without_normalisation(monkeypatch):
    """BN replaced by its affine part only: the invariance is gone."""
    monkeypatch.setattr(bn_scaling.TrainModeBatchNorm, "forward", lambda self, h: self.weight * h + self.bias)
    result = verdicts("thm2_bn_scale_invariance", run_outputs(bn_scaling.bn_scale_invariance, THM2), THM2)
    assert not result["eps0_input"] and not result["eps0_weight_grad"]


# --- Fig. 5, Fig. 3, Sec. 4.2 ------------------------------------------------------------------


def test_fig5_fails_when_bn_and_plain_are_swapped():
    outputs = run_outputs(mlp_dynamics.mlp_bn_conditioning, dict(TINY_MLP, init="random"), seeds=(0,))
    swapped = verdicts("fig5_bn_improves_conditioning", swap(outputs, "bn", "plain"))
    assert not swapped["input_kappa_p80"] and not swapped["grad_kappa_p80"]


def test_fig3_fails_when_bn_replaces_plain_random():
    outputs = run_outputs(mlp_dynamics.mlp_magnitude_propagation, dict(TINY_MLP, lrs=[0.1]), seeds=(0,))
    swapped = verdicts("fig3_magnitude_propagation", swap(outputs, "bn_random", "plain_random"))
    assert not swapped["plain_random_g_decays_backward"]
    assert not swapped["plain_random_loss_flat"] and not swapped["bn_random_loss_falls"]


def _along_layers(value, profile):
    """``value`` (array, or ``(array, dims)``) with its last (layer) axis replaced by ``profile``."""
    array, dims = value if isinstance(value, tuple) else (value, None)
    crafted = np.broadcast_to(profile, np.shape(array)).astype(float).copy()
    return crafted if dims is None else (crafted, dims)


def test_fig3_stability_and_forward_decay_checks_fail_on_crafted_magnitudes():
    """Magnitudes spanning 1e4 over the layers are not "stable"; flat ones do not "decay"."""
    outputs = run_outputs(mlp_dynamics.mlp_magnitude_propagation, dict(TINY_MLP, lrs=[0.1]), seeds=(0,))
    stable = ["plain_he/input", "plain_he/grad", "bn_random/input", "bn_random/grad", "bn_he/input", "bn_he/grad"]
    for out in outputs:
        layers = np.shape(out["plain_he/input/lambda_max"][0])[-1]
        for prefix in stable:
            out[f"{prefix}/lambda_max"] = _along_layers(out[f"{prefix}/lambda_max"],
                                                        np.logspace(0, -4, layers))
        out["plain_random/input/lambda_max"] = _along_layers(out["plain_random/input/lambda_max"], 1.0)
    result = verdicts("fig3_magnitude_propagation", outputs)
    assert not any(result[f"{name}_stable"] for name in
                   ["plain_he_x", "plain_he_g", "bn_random_x", "bn_random_g", "bn_he_x", "bn_he_g"])
    assert not result["plain_random_x_decays"]


def test_sec42_fails_when_bn_is_plain_and_zero_eigs_are_missing():
    outputs = run_outputs(mlp_dynamics.mlp_dying_neurons, dict(TINY_MLP, init="he"), seeds=(0,))
    mutated = []
    for out in outputs:
        out = dict(out)
        for name in ("dying_units", "full_units"):  # BN dropped: its net behaves like Plain
            out[f"bn/{name}"] = (np.ones_like(out[f"plain/{name}"][0]), out[f"plain/{name}"][1])
        excess, dims = out["plain/zero_eigs_minus_dying"]
        out["plain/zero_eigs_minus_dying"] = (excess - 1.0, dims)  # a dying unit without its zero
        mutated.append(out)
    result = verdicts("sec42_dying_neurons", mutated)
    assert not result["bn_no_dying"] and not result["bn_no_full"] and not result["plain_dying_zero_eigs"]


# --- Fig. 4 ------------------------------------------------------------------------------------


def test_fig4_fails_when_a_frozen_mask_matches_the_baseline():
    params = dict(TINY_MLP, depth=3, steps=5, checkpoints=[0, 5], init="random", test_fraction=0.3,
                  masks=["111", "111", "101"])  # the second "frozen" mask freezes nothing
    result = verdicts("fig4_weight_domination", run_outputs(mlp_dynamics.mlp_frozen_layers, params, seeds=(0,)))
    assert not result["frozen_higher_loss"]


def test_fig4_fails_when_no_mask_lowers_the_loss():
    params = dict(TINY_MLP, depth=3, steps=5, checkpoints=[0, 5], init="random", test_fraction=0.3,
                  masks=["111", "101"], lrs=[0.0])
    result = verdicts("fig4_weight_domination", run_outputs(mlp_dynamics.mlp_frozen_layers, params, seeds=(0,)))
    assert not result["loss_still_decreases"]


# --- Fig. A11 ----------------------------------------------------------------------------------

A11 = dict(TINY_MLP, depth=40, width=8, steps=3, checkpoints=[0, 1, 2, 3], init="random", lower_layers=4)


def test_figA11_fails_without_the_first_update():
    """lr 0: no first-step update, so nothing drops and no layer enters weight domination."""
    outputs = run_outputs(mlp_dynamics.mlp_bn_gradient_explosion, dict(A11, lrs=[0.0]), seeds=(0,))
    result = verdicts("figA11_bn_gradient_explosion", outputs)
    assert not result["lower_lambda_max_drop"] and not result["lower_weight_domination"]


def test_figA11_fails_when_lambda_max_grows_with_layer():
    outputs = run_outputs(mlp_dynamics.mlp_bn_gradient_explosion, A11, seeds=(0,))
    values, dims = outputs[0]["iter0/fim_lambda_max"]
    outputs[0]["iter0/fim_lambda_max"] = (values[::-1].copy(), dims)
    assert not verdicts("figA11_bn_gradient_explosion", outputs)["iter0_exponential"]


@pytest.mark.parametrize("claim_id", ["fig5_bn_improves_conditioning", "fig3_magnitude_propagation",
                                      "sec42_dying_neurons", "fig4_weight_domination",
                                      "figA11_bn_gradient_explosion", "thm2_bn_scale_invariance"])
def test_claim_files_load(claim_id):
    assert claim(claim_id).id == claim_id
