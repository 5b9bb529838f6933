"""Tests of lcsuite.train: loops, repeatability, frozen layers, divergence, recording, sweeps."""

import math

import pytest
import torch

from lcsuite.data import cifar_substitute, digits_substitute
from lcsuite.models import MLP, cifar_net
from lcsuite.train import evaluate, parse_frozen, record_schedule, seed_everything, train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    return digits_substitute("train").head(512)


def small_mlp(norm="bn", depth=5, init="random"):
    return MLP(64, 10, depth=depth, width=32, norm=norm, init=init)


def test_same_seed_same_weights_and_bitwise_identical_losses(digits):
    runs = []
    for _ in range(2):
        seed_everything(7)
        model = small_mlp()
        initial = [p.detach().clone() for p in model.parameters()]
        result = train(model, digits, optimizer="sgd", lr=0.05, steps=12, batch_size=64, seed=3,
                       augment=lambda x, g: x + 0.01 * torch.randn(x.shape, generator=g))
        runs.append((initial, result, [p.detach().clone() for p in model.parameters()]))
    (init_a, res_a, final_a), (init_b, res_b, final_b) = runs
    assert all(torch.equal(a, b) for a, b in zip(init_a, init_b))
    assert torch.equal(res_a.losses, res_b.losses)
    assert all(torch.equal(a, b) for a, b in zip(final_a, final_b))
    seed_everything(7)
    other = train(small_mlp(), digits, optimizer="sgd", lr=0.05, steps=12, batch_size=64, seed=4)
    assert not torch.equal(other.losses, res_a.losses)  # the batch order depends on the seed


@pytest.mark.parametrize("optimizer,lr", [("gd", 0.1), ("sgd", 0.05), ("adam", 1e-3)])
def test_optimizers_reduce_the_loss(digits, optimizer, lr):
    seed_everything(0)
    result = train(small_mlp(), digits, optimizer=optimizer, lr=lr, steps=40, batch_size=128,
                   eval_data=digits_substitute("test"))
    assert result.losses.shape == (40,)
    assert result.losses[-5:].mean() < 0.7 * result.losses[:5].mean()
    assert not result.diverged and result.steps_run == 40
    assert 0 <= result.final_train_error < 0.5 and result.test_error is not None
    assert result.config["optimizer"] == optimizer


def test_gd_first_loss_is_full_training_loss_in_train_mode(digits):
    seed_everything(0)
    model = small_mlp(norm="none")
    expected, _ = evaluate(model, digits)  # no BN: train mode and eval mode agree
    result = train(model, digits, optimizer="gd", lr=0.1, steps=1, evaluate_train=False)
    assert result.losses[0].item() == pytest.approx(expected, rel=1e-5)
    assert math.isnan(result.final_train_loss)


def test_frozen_layer_unchanged_others_change(digits):
    seed_everything(0)
    model = small_mlp(norm="bn")
    before = [layer.weight.detach().clone() for layer in model.linears]
    bias_before = model.linears[1].bias.detach().clone()
    train(model, digits, optimizer="sgd", lr=0.1, steps=10, batch_size=64, weight_decay=1e-3, frozen="10111")
    for index, (layer, weight) in enumerate(zip(model.linears, before)):
        if index == 1:
            assert torch.equal(layer.weight, weight)
            assert torch.equal(layer.bias, bias_before)
        else:
            assert not torch.equal(layer.weight, weight)


def test_frozen_mask_validation():
    assert parse_frozen("101", 3) == [False, True, False]
    assert parse_frozen([1, 1, 0], 3) == [False, False, True]
    with pytest.raises(ValueError, match="3 Linear/Conv layers"):
        parse_frozen("1011", 3)
    with pytest.raises(ValueError, match="0 and 1"):
        parse_frozen("10x", 3)


def test_divergence_is_a_result_not_an_exception(digits):
    seed_everything(0)
    result = train(small_mlp(norm="none", init="he"), digits, optimizer="gd", lr=1e6, steps=100)
    assert result.diverged
    assert result.diverged_at_step is not None and result.diverged_at_step < 100
    assert len(result.losses) == result.diverged_at_step + 1
    assert not math.isfinite(result.losses[-1].item())
    assert torch.isfinite(result.losses[:-1]).all()
    assert result.final_loss == math.inf


def test_divergence_detected_with_sparse_checks(digits):
    seed_everything(0)
    result = train(small_mlp(norm="none", init="he"), digits, optimizer="gd", lr=1e6, steps=100, check_every=50)
    assert result.diverged and result.diverged_at_step < 50
    assert len(result.losses) == result.diverged_at_step + 1


def test_record_schedule_shapes():
    assert record_schedule("linear", 10, 6) == [0, 2, 4, 6, 8, 10]
    log = record_schedule("log", 1000, 10)
    assert log[0] == 0 and log[1] == 1 and log[-1] == 1000
    assert all(b > a for a, b in zip(log, log[1:]))
    assert log[2] / log[1] > log[-1] / log[-2] * 0.5  # denser early
    assert record_schedule("log", 0, 5) == [0]
    with pytest.raises(ValueError):
        record_schedule("cubic", 10)


def test_record_callback_called_at_scheduled_steps(digits):
    seed_everything(0)
    model = small_mlp()
    seen = []

    def record(step, net):
        assert net is model
        seen.append(step)
        return {"step": step, "w": net.classifier.weight.detach().norm().item()}

    result = train(model, digits, optimizer="gd", lr=0.1, steps=9, record=record, record_schedule=[0, 3, 9, 50])
    assert seen == [0, 3, 9]
    assert [s for s, _ in result.records] == [0, 3, 9]
    assert result.records[0][1]["w"] != result.records[-1][1]["w"]
    default = train(small_mlp(), digits, optimizer="gd", lr=0.1, steps=30, record=lambda s, m: s)
    assert [s for s, _ in default.records] == record_schedule("log", 30)


def test_step_schedule_lowers_the_learning_rate(digits):
    seed_everything(0)
    model = small_mlp()

    def weights(step, net):
        return net.classifier.weight.detach().clone()

    # 512 examples / 128 = 4 steps per epoch; milestones in epochs
    result = train(model, digits, optimizer="sgd", lr=0.1, epochs=3, batch_size=128, milestones=(1, 2),
                   gamma=0.5, record=weights, record_schedule=[0, 4, 8, 12])
    assert result.steps_run == 12
    assert result.lr_schedule == [(0, 0.1), (4, 0.05), (8, 0.025)]
    # gamma = 0 stops learning exactly at the milestone (momentum is scaled by lr too)
    seed_everything(0)
    frozen_after = train(small_mlp(), digits, optimizer="sgd", lr=0.1, epochs=3, batch_size=128,
                         milestones=(1,), gamma=0.0, record=weights, record_schedule=[0, 4, 12])
    w0, w4, w12 = (w for _, w in frozen_after.records)
    assert not torch.equal(w0, w4) and torch.equal(w4, w12)


def test_cnn_with_augmentation_trains():
    data = cifar_substitute(10, "train", size=64, seed=0)
    seed_everything(0)
    model = cifar_net("resnet_lastbn", 8)
    result = train(model, data, optimizer="sgd", lr=0.05, steps=4, batch_size=32, weight_decay=1e-4,
                   augment="crop_flip")
    assert result.losses.shape == (4,) and torch.isfinite(result.losses).all()
    assert result.config["augment"] == "crop_flip"


def test_bad_arguments():
    data = digits_substitute("test")
    with pytest.raises(ValueError, match="exactly one"):
        train(small_mlp(), data, lr=0.1)
    with pytest.raises(ValueError, match="valid: gd, sgd, adam"):
        train(small_mlp(), data, optimizer="lbfgs", lr=0.1, steps=1)


def test_progress_bar_does_not_change_results(digits, capsys):
    seed_everything(0)
    quiet = train(small_mlp(), digits, optimizer="gd", lr=0.1, steps=5)
    seed_everything(0)
    shown = train(small_mlp(), digits, optimizer="gd", lr=0.1, steps=5, progress=True)
    assert torch.equal(quiet.losses, shown.losses)


def test_training_writes_progress_lines_only_inside_an_executor_task(monkeypatch, capsys):
    from lcsuite.harness.executors.progress import parse_progress

    data = (torch.randn(32, 4), torch.randint(0, 2, (32,)))
    monkeypatch.delenv("LCSUITE_TASK_KEY", raising=False)
    train(torch.nn.Linear(4, 2), data, optimizer="sgd", lr=0.1, steps=8, batch_size=8)
    assert "lcsuite-progress" not in capsys.readouterr().err
    monkeypatch.setenv("LCSUITE_TASK_KEY", "paper/claim/item")
    monkeypatch.setenv("LCSUITE_PROGRESS_EVERY_S", "3600")  # rate-limited: the first and the last step only
    train(torch.nn.Linear(4, 2), data, optimizer="sgd", lr=0.1, steps=8, batch_size=8)
    lines = [parse_progress(line) for line in capsys.readouterr().err.splitlines()]
    assert [(p["step"], p["steps"], p["epoch"], p["epochs"], p["key"]) for p in lines] == [
        (0, 8, 0, 2, "paper/claim/item"), (8, 8, 2, 2, "paper/claim/item")]
    assert lines[0]["eta_s"] is None and lines[1]["eta_s"] == 0.0


def test_loop_progress_is_rate_limited_by_the_clock(monkeypatch):
    import io

    from lcsuite.harness.executors.progress import parse_progress
    from lcsuite.progress import LoopProgress, loop_progress, seed_context

    now = [100.0]
    stream = io.StringIO()
    progress = LoopProgress(50, 10, every_s=5.0, stream=stream, clock=lambda: now[0])
    with seed_context(2, 3):
        for step in range(51):
            progress.update(step)
            now[0] += 1.0  # one second per step: a line every 5 steps, plus the last
    lines = [parse_progress(line) for line in stream.getvalue().splitlines()]
    assert [p["step"] for p in lines] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert lines[1] == {"step": 5, "steps": 50, "epoch": 0, "epochs": 5, "eta_s": 45.0, "seed": 2, "seeds": 3}
    monkeypatch.setenv("LCSUITE_TASK_KEY", "k")
    monkeypatch.setenv("LCSUITE_PROGRESS_EVERY_S", "soon")
    with pytest.raises(ValueError, match=r"\$LCSUITE_PROGRESS_EVERY_S: expected a number of seconds >= 0, got 'soon'"):
        loop_progress(10)
    monkeypatch.delenv("LCSUITE_TASK_KEY")
    assert loop_progress(10) is None
