"""Recording inside a training loop: the statistics equal analyze's on the same batch, hooks
only on recording steps, the user's state kept, errors clear."""

import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import lcsuite
from cases_conditioning import cnn, cnn_data, mlp, mlp_data, relative_error
from monitor_cases import one_thread, recorded  # noqa: F401

FIELDS = ("input_magnitude", "grad_magnitude", "dying_units", "full_units", "num_units",
          "weight_domination_ratio", "num_examples", "num_rows", "input_rtol", "grad_rtol")


def assert_same_analysis(monitored, reference, rtol=1e-10):
    assert [la.name for la in monitored.layers] == [la.name for la in reference.layers]
    assert monitored.skipped_layers == reference.skipped_layers
    assert monitored.num_examples == reference.num_examples
    assert monitored.mean_loss == pytest.approx(reference.mean_loss, rel=rtol)
    for got, want in zip(monitored.layers, reference.layers):
        assert relative_error(got.input_spectrum, want.input_spectrum) < rtol, got.name
        assert relative_error(got.grad_spectrum, want.grad_spectrum) < rtol, got.name
        for name in FIELDS:
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=rtol), (got.name, name)
        for of in ("input", "grad", "fim"):
            assert got.kappa(0.8, of) == pytest.approx(want.kappa(0.8, of), rel=1e-8), (got.name, of)


CASES = {"linear": (mlp, mlp_data), "conv2d": (cnn, cnn_data)}


@pytest.mark.parametrize("fisher", ["empirical", "true"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("bn", [False, True])
def test_checkpoint_equals_analyze_on_the_same_batch(case, reduction, fisher, bn):
    make_model, make_data = CASES[case]
    model, (x, y) = make_model(bn=bn), make_data(n=6)
    conv_mode = "patch" if case == "conv2d" and reduction == "sum" else "channel"
    reference = lcsuite.analyze(model, x, y, fisher=fisher, conv_mode=conv_mode)
    monitor = recorded(model, x, y, reduction=reduction, fisher=fisher, conv_mode=conv_mode)
    assert_same_analysis(monitor.history.checkpoints[0].analysis, reference)


@pytest.mark.parametrize("fisher", ["empirical", "true"])
def test_batches_of_a_checkpoint_aggregate_as_analyze_in_chunks(fisher):
    model, (x, y) = mlp(), mlp_data(n=9)
    reference = lcsuite.analyze(model, x, y, fisher=fisher, batch_size=3)
    monitor = lcsuite.Monitor(model, every=10, fisher=fisher, batches_per_checkpoint=3)
    for step, start in zip((10, 11, 12), (0, 3, 6)):  # a checkpoint opened at 10 takes 11, 12
        assert monitor.is_recording(step)
        recorded(model, x[start:start + 3], y[start:start + 3], step=step, monitor=monitor)
    assert monitor.history.steps == [10] and monitor.history.checkpoints[0].batches == 3
    assert not monitor.is_recording(13)
    assert_same_analysis(monitor.history.checkpoints[0].analysis, reference)


def _all_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_hooks_only_on_recording_steps_and_the_schedule():
    model, (x, y) = mlp(), mlp_data()
    monitor = lcsuite.Monitor(model, every=3)
    recorded_steps = []
    for step in range(7):
        with monitor.record(step, targets=y) as rec:
            hooks = _all_hooks(model)
            F.cross_entropy(model(x), y).backward()
        assert hooks == (len(monitor.history.layer_names) + 1 if rec.recording else 0)
        recorded_steps += [step] if rec.recording else []
        assert _all_hooks(model) == 0
    assert recorded_steps == [0, 3, 6] == monitor.history.steps
    assert lcsuite.Monitor(model, every=[2, 5]).is_recording(5)
    assert not lcsuite.Monitor(model, every=lambda s: s > 9).is_recording(5)


def test_a_step_recorded_twice_makes_one_checkpoint():
    model, (x, y) = mlp(), mlp_data()
    monitor = lcsuite.Monitor(model, every=1)
    for _ in range(2):  # gradient accumulation: two micro-batches in step 0
        recorded(model, x, y, step=0, monitor=monitor)
    assert monitor.history.steps == [0]


def _dropout_bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3)).double()


def _user_step(model, x, y, monitor=None):
    """One forward + backward from a fixed RNG state, inside ``monitor.record`` if given."""
    torch.manual_seed(5)
    context = monitor.record(0, inputs=x, targets=y) if monitor else torch.enable_grad()
    with context:
        F.cross_entropy(model(x), y).backward()
    return torch.get_rng_state()


def test_true_fisher_passes_leave_grad_buffers_and_rng_as_the_users_step_does():
    x, y = mlp_data()
    reference, model = _dropout_bn_net(), _dropout_bn_net()
    rng_after_plain = _user_step(reference, x, y)
    monitor = lcsuite.Monitor(model, every=1, fisher="true")
    rng_after_monitored = _user_step(model, x, y, monitor)
    assert len(monitor.history) == 1
    assert torch.equal(rng_after_monitored, rng_after_plain)  # same dropout masks ahead
    for got, want in zip(model.parameters(), reference.parameters()):
        assert torch.equal(got.grad, want.grad)
    for got, want in zip(model.buffers(), reference.buffers()):  # BN statistics of the user's pass
        assert torch.equal(got, want)


def test_frozen_layer_recorded_and_its_grad_left_empty():
    model, (x, y) = mlp(), mlp_data()
    model[0].weight.requires_grad_(False)
    monitor = recorded(model, x, y)
    assert model[0].weight.grad is None and not model[0].weight.requires_grad
    checkpoint = monitor.history.checkpoints[0]
    assert checkpoint.frozen_layers == ("0",)
    assert checkpoint.analysis["0"].grad_lambda_max > 0  # its output-gradient was recorded
    reference = lcsuite.analyze(model, x, y)
    assert_same_analysis(checkpoint.analysis, reference)


def test_errors_are_clear_and_leave_no_hooks_or_checkpoint():
    model, (x, y) = mlp(), mlp_data()
    monitor = lcsuite.Monitor(model, every=1)
    with pytest.raises(RuntimeError, match="no backward pass"):
        with monitor.record(0, targets=y):
            model(x)
    with pytest.raises(ZeroDivisionError):
        with monitor.record(1, targets=y):
            model(x)
            1 / 0
    assert _all_hooks(model) == 0 and len(monitor.history) == 0 and model[0].weight.grad is None
    with pytest.raises(ValueError, match="inputs=..., targets="):
        lcsuite.Monitor(model, fisher="true").record(0, targets=y)
    for bad, match in [(dict(loss_reduction="avg"), "loss_reduction"), (dict(every=0), "every"),
                       (dict(batches_per_checkpoint=0), "batches_per_checkpoint"), (dict(fisher="x"), "FisherType")]:
        with pytest.raises(ValueError, match=match):
            lcsuite.Monitor(model, **bad)
    with pytest.raises(TypeError, match="every must be"):
        lcsuite.Monitor(model, every="10")
    with pytest.raises(ValueError, match="no nn.Conv2d or nn.Linear"):
        lcsuite.Monitor(nn.ReLU())


def test_unseen_parameters_and_layers_are_listed_as_analyze_lists_them():
    class WithUnusedLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3))
            self.extra = nn.Linear(3, 3)
            self.use_extra = False

        def forward(self, x):
            out = self.body(x)
            return self.extra(out) if self.use_extra else out

    model = WithUnusedLayer()
    x, y = mlp_data()
    before = lcsuite.Monitor(model).unseen()  # before any checkpoint: every Linear assumed used
    assert "extra.bias (nn.Linear): bias of an analysed layer: not part of the sub-FIM the analysis covers" in before
    assert not any(line.startswith("extra.weight") for line in before)
    with pytest.warns(UserWarning, match=r"lcsuite.Monitor does not analyse 2 parameters of 1 module;.*"
                                         r"extra \(nn.Linear: weight, bias\)"):
        monitor = recorded(model, x.float(), y)
    with pytest.warns(UserWarning):
        reference = lcsuite.analyze(model, x.float(), y)
    assert monitor.history.checkpoints[0].analysis.skipped == reference.skipped
    model.use_extra = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the unused layer was named once; nothing new to warn about
        recorded(model, x.float(), y, step=1, monitor=monitor)
    unseen = monitor.unseen()
    assert "body.1.weight (nn.BatchNorm1d): nn.BatchNorm1d affine parameter: a normalisation's scale or shift" in unseen
    assert ("extra.weight (nn.Linear): nn.Linear not called through its module in the forward pass (unused, or "
            "its weight applied functionally) (at steps [0])") in unseen
    assert "extra.bias (nn.Linear): bias of an analysed layer: not part of the sub-FIM the analysis covers " \
           "(at steps [1])" in unseen
    assert "extra.weight" not in monitor.table(1) and "extra.weight" in monitor.table(0)
    assert "not analysed: 6 of 8 parameters" in monitor.table(0) and "! nn.Linear not called" in monitor.table(0)


def test_mean_loss_known_only_with_targets():
    model, (x, y) = mlp(), mlp_data()
    monitor = lcsuite.Monitor(model, every=1)
    with monitor.record(0):
        F.cross_entropy(model(x), y).backward()
    assert math.isnan(monitor.history.checkpoints[0].analysis.mean_loss)
    assert monitor.history.checkpoints[0].analysis.num_examples == len(y)
