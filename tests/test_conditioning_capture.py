"""Sx and Sg from LayerCapture against brute force: one example at a time, explicit loops
over spatial positions, and hand-built im2col patches.

Tolerance: the two sides sum the same float64 products in different orders over at most a few
hundred rows, so they agree to a few ulps of the largest entry; 1e-12 relative leaves room
for that and nothing else.
"""

import pytest
import torch
from torch import nn

from cases_conditioning import CASES, cnn, cnn_data, mlp, mlp_data, relative_error
from lcsuite.conditioning import LayerCapture

RTOL = 1e-12


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def manual_forward(model: nn.Sequential, x: torch.Tensor):
    """Run a Sequential module by module; return logits and [(name, layer, input, output)]."""
    records, h = [], x
    for name, module in model.named_children():
        out = module(h)
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            records.append((name, module, h.detach(), out))
        h = out
    return h, records


def channel_rows_by_loop(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → rows t[i, :, h, w] for every example and position (python loops)."""
    return torch.stack([t[i, :, a, b] for i in range(t.shape[0])
                        for a in range(t.shape[2]) for b in range(t.shape[3])])


def patch_rows_by_loop(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """im2col by hand: zero-pad, then for each output position slice the receptive field."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    padded = nn.functional.pad(x, (pw, pw, ph, ph))
    out_h = (padded.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[3] - dw * (kw - 1) - 1) // sw + 1
    rows = []
    for i in range(x.shape[0]):
        for a in range(out_h):
            for b in range(out_w):
                window = padded[i, :, a * sh: a * sh + dh * (kh - 1) + 1: dh,
                                b * sw: b * sw + dw * (kw - 1) + 1: dw]
                rows.append(window.reshape(-1))  # (C_in, kh, kw) order, as weight.reshape(out, -1)
    return torch.stack(rows)


def input_rows_by_loop(module, x, conv_mode):
    if isinstance(module, nn.Linear):
        return x
    return channel_rows_by_loop(x) if conv_mode == "channel" else patch_rows_by_loop(x, module)


def gram_by_loop(rows: torch.Tensor) -> torch.Tensor:
    total = torch.zeros(rows.shape[1], rows.shape[1], dtype=torch.float64)
    for r in rows:
        total += torch.outer(r, r)
    return total


def brute_force_per_example(model, inputs, targets, conv_mode):
    """Sx, Sg summed one example at a time (no coupling between examples)."""
    sx, sg, mx, mg = {}, {}, {}, {}
    for i in range(inputs.shape[0]):
        logits, records = manual_forward(model, inputs[i:i + 1])
        loss = nn.functional.cross_entropy(logits, targets[i:i + 1], reduction="sum")
        grads = torch.autograd.grad(loss, [out for *_, out in records])
        for (name, module, x, _), g in zip(records, grads):
            xr = input_rows_by_loop(module, x, conv_mode)
            gr = g if isinstance(module, nn.Linear) else channel_rows_by_loop(g)
            sx[name] = sx.get(name, 0) + gram_by_loop(xr)
            sg[name] = sg.get(name, 0) + gram_by_loop(gr)
            mx[name] = mx.get(name, 0) + xr.shape[0]
            mg[name] = mg.get(name, 0) + gr.shape[0]
    return {k: sx[k] / mx[k] for k in sx}, {k: sg[k] / mg[k] for k in sg}


def brute_force_batch(model, inputs, targets, conv_mode):
    """Sx, Sg from one batch forward/backward of the summed loss (BN couples examples)."""
    logits, records = manual_forward(model, inputs)
    loss = nn.functional.cross_entropy(logits, targets, reduction="sum")
    grads = torch.autograd.grad(loss, [out for *_, out in records])
    sx, sg = {}, {}
    for (name, module, x, _), g in zip(records, grads):
        xr = input_rows_by_loop(module, x, conv_mode)
        gr = g if isinstance(module, nn.Linear) else channel_rows_by_loop(g)
        sx[name], sg[name] = gram_by_loop(xr) / xr.shape[0], gram_by_loop(gr) / gr.shape[0]
    return sx, sg


def captured(model, inputs, targets, conv_mode, batch_size=None, keep_rows=False):
    step = batch_size or inputs.shape[0]
    with LayerCapture(model, conv_mode, keep_rows=keep_rows) as capture:
        for s in range(0, inputs.shape[0], step):
            loss = nn.functional.cross_entropy(model(inputs[s:s + step]), targets[s:s + step],
                                               reduction="sum")
            torch.autograd.grad(loss, [p for p in model.parameters()])
    return capture


@pytest.mark.parametrize("conv_mode", ["channel", "patch"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_capture_matches_per_example_loop(case, conv_mode):
    make_model, make_data = CASES[case]
    model, (inputs, targets) = make_model(), make_data()
    sx, sg = brute_force_per_example(model, inputs, targets, conv_mode)
    capture = captured(model, inputs, targets, conv_mode)
    assert list(capture.records) == list(sx)
    for name, record in capture.records.items():
        assert relative_error(record.input_covariance(), sx[name]) < RTOL, name
        assert relative_error(record.grad_covariance(), sg[name]) < RTOL, name
        assert record.num_examples == inputs.shape[0]


@pytest.mark.parametrize("conv_mode", ["channel", "patch"])
def test_capture_accumulates_over_batches(conv_mode):
    """Running sums over batches of 2, 2, 1 equal the per-example brute force (no BN)."""
    model, (inputs, targets) = cnn(), cnn_data()
    sx, sg = brute_force_per_example(model, inputs, targets, conv_mode)
    capture = captured(model, inputs, targets, conv_mode, batch_size=2)
    for name, record in capture.records.items():
        assert relative_error(record.input_covariance(), sx[name]) < RTOL
        assert relative_error(record.grad_covariance(), sg[name]) < RTOL


@pytest.mark.parametrize("conv_mode", ["channel", "patch"])
@pytest.mark.parametrize("make_model,make_data", [(mlp, mlp_data), (cnn, cnn_data)])
def test_capture_with_batchnorm_train_mode_matches_batch_computation(make_model, make_data, conv_mode):
    model, (inputs, targets) = make_model(bn=True), make_data()
    model.train()
    sx, sg = brute_force_batch(model, inputs, targets, conv_mode)
    capture = captured(model, inputs, targets, conv_mode)
    for name, record in capture.records.items():
        assert relative_error(record.input_covariance(), sx[name]) < RTOL
        assert relative_error(record.grad_covariance(), sg[name]) < RTOL


def test_capture_with_batchnorm_eval_mode_matches_per_example_loop():
    model, (inputs, targets) = cnn(bn=True), cnn_data()
    model.train()
    model(inputs)  # give the running statistics non-trivial values
    model.eval()
    sx, sg = brute_force_per_example(model, inputs, targets, "channel")
    capture = captured(model, inputs, targets, "channel")
    for name, record in capture.records.items():
        assert relative_error(record.grad_covariance(), sg[name]) < RTOL


def test_kept_rows_are_the_rows_of_the_statistics():
    model, (inputs, targets) = cnn(), cnn_data()
    capture = captured(model, inputs, targets, "patch", keep_rows=True)
    record = capture.records["2"]
    x, g = record.input_rows(), record.grad_rows()
    assert x.shape == (5 * 3 * 3, 3 * 3 * 3) and g.shape == (5 * 3 * 3, 4)
    assert relative_error(x.T @ x / x.shape[0], record.input_covariance()) < RTOL


def test_conv_channel_mode_normalises_input_and_gradient_by_their_own_positions():
    """A stride-2 conv has 5·5 input positions and 3·3 output positions per example."""
    model, (inputs, targets) = cnn(), cnn_data()
    record = captured(model, inputs, targets, "channel").records["2"]
    assert record.num_rows == 5 * 5 * 5 and record.num_output_rows == 5 * 3 * 3


def test_in_place_activation_after_layer_does_not_change_gradients():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    inplace = nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 3)).double()
    inplace.load_state_dict(plain.state_dict())
    inputs, targets = mlp_data()
    a, b = captured(plain, inputs, targets, "channel"), captured(inplace, inputs, targets, "channel")
    for name in a.records:
        assert torch.equal(a.records[name].grad_covariance(), b.records[name].grad_covariance())


def test_hooks_are_removed_on_exit_and_on_error():
    model = mlp()
    with pytest.raises(RuntimeError, match="boom"):
        with LayerCapture(model):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in model.modules())


def test_patch_mode_rejects_grouped_conv():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="groups"):
        LayerCapture(model, "patch")
    LayerCapture(model, "channel")  # channel mode is defined for any conv


def test_model_without_supported_layer_is_rejected():
    with pytest.raises(ValueError, match="no nn.Conv2d or nn.Linear"):
        LayerCapture(nn.Sequential(nn.ReLU()))
