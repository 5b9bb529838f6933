"""Tests of lcsuite.models: shapes, parameter counts, BN placement, initialisation."""

import math

import pytest
import torch
from torch import nn

from lcsuite.models import MLP, cifar_net, count_parameters, weight_layers
from lcsuite.registry import UnknownName

# The engine's CIFAR architectures and the paper's variants (registered by its package).
CIFAR_ARCHS = ("resnet", "preresnet", "vgg", "resnet_nobn", "vgg_nobn", "resnet_lastbn", "preresnet_v1",
               "vgg_lastbn", "resnet_nobn_lastbn", "vgg_nobn_lastbn")

torch.set_num_threads(1)


def bn_layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]


# ---------------------------------------------------------------- MLP


@pytest.mark.parametrize("depth,width", [(1, 8), (5, 16), (8, 24)])
@pytest.mark.parametrize("norm", ["none", "bn"])
def test_mlp_shapes_and_layers(depth, width, norm):
    model = MLP(144, 10, depth=depth, width=width, norm=norm)
    out = model(torch.randn(6, 1, 12, 12))  # (N, ...) is flattened
    assert out.shape == (6, 10)
    assert len(model.linears) == depth
    assert model.classifier is model.linears[-1]
    assert model.classifier.out_features == 10
    assert [layer.in_features for layer in model.linears] == [144] + [width] * (depth - 1)
    assert len(bn_layers(model)) == (depth - 1 if norm == "bn" else 0)
    expected = 144 * width + width + (depth - 2) * (width * width + width) + width * 10 + 10
    if depth == 1:
        expected = 144 * 10 + 10
    expected += 2 * width * (depth - 1) if norm == "bn" else 0
    assert count_parameters(model) == expected


def test_mlp_bn_precedes_relu():
    model = MLP(20, 3, depth=3, width=7, norm="bn")
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]


def test_mlp_without_bias():
    model = MLP(20, 3, depth=4, width=7, bias=False)
    assert all(layer.bias is None for layer in model.linears)


def test_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="norm"):
        MLP(4, 2, depth=2, width=3, norm="ln")
    with pytest.raises(ValueError, match="init"):
        MLP(4, 2, depth=2, width=3, init="xavier")
    with pytest.raises(ValueError, match="depth"):
        MLP(4, 2, depth=0, width=3)


def _sample_tolerance(n, std):
    # 6 standard errors: a false alarm is essentially impossible, a wrong scale (x sqrt 2) is not.
    return 6 * std / math.sqrt(n)


def test_mlp_random_init_statistics():
    torch.manual_seed(0)
    model = MLP(400, 10, depth=3, width=300, init="random")
    for layer in model.linears[:2]:
        w = layer.weight.detach().double().flatten()
        bound = 1 / math.sqrt(layer.in_features)
        std = bound / math.sqrt(3)  # std of U(-b, b)
        assert w.abs().max() <= bound
        assert abs(w.mean().item()) < _sample_tolerance(w.numel(), std)
        # std of the sample std is about std / sqrt(2 n) for a uniform distribution (kurtosis 1.8)
        assert abs(w.std().item() - std) < 6 * std / math.sqrt(w.numel())
        assert layer.bias.abs().max() <= bound


def test_mlp_he_init_statistics():
    torch.manual_seed(0)
    model = MLP(400, 10, depth=3, width=300, init="he")
    for layer in model.linears[:2]:
        w = layer.weight.detach().double().flatten()
        std = math.sqrt(2 / layer.in_features)
        assert abs(w.mean().item()) < _sample_tolerance(w.numel(), std)
        assert abs(w.std().item() - std) < 6 * std / math.sqrt(2 * w.numel())
        assert torch.all(layer.bias == 0)


def test_mlp_init_distinguishes_he_from_random():
    torch.manual_seed(0)
    random_std = MLP(400, 10, 2, 300, init="random").linears[0].weight.std().item()
    he_std = MLP(400, 10, 2, 300, init="he").linears[0].weight.std().item()
    assert he_std / random_std == pytest.approx(math.sqrt(6), rel=0.05)


# ---------------------------------------------------------------- CIFAR nets


# He et al. (2016), Table 6: option-A ResNets for CIFAR-10.
@pytest.mark.parametrize("depth,millions", [(20, 0.27), (56, 0.85), (110, 1.7)])
def test_resnet_parameter_counts_match_he_et_al(depth, millions):
    count = count_parameters(cifar_net("resnet", depth))
    assert count == pytest.approx(millions * 1e6, rel=0.02)


def test_resnet1202_parameter_count():
    assert count_parameters(cifar_net("resnet", 1202)) == pytest.approx(19.4e6, rel=0.01)


def _expected_bn_count(arch, n):
    blocks = 3 * n
    return {
        "resnet": 1 + 2 * blocks,
        "resnet_lastbn": 2 + 2 * blocks,
        "preresnet": 2 * blocks + 1,
        "preresnet_v1": 2 * blocks,
        "vgg": 1 + 2 * blocks,
        "vgg_lastbn": 2 + 2 * blocks,
        "resnet_nobn": 0,
        "resnet_nobn_lastbn": 1,
        "vgg_nobn": 0,
        "vgg_nobn_lastbn": 1,
    }[arch]


@pytest.mark.parametrize("arch", CIFAR_ARCHS)
@pytest.mark.parametrize("depth", [8, 20])
def test_cifar_net_shapes_and_bn_counts(arch, depth):
    num_classes = 100 if depth == 8 else 10
    model = cifar_net(arch, depth, num_classes=num_classes)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, num_classes)
    assert isinstance(model.classifier, nn.Linear)
    assert model.classifier.in_features == 64
    n = (depth - 2) // 6
    assert len(bn_layers(model)) == _expected_bn_count(arch, n)
    convs = [m for m in weight_layers(model) if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == depth  # 6n convs in blocks + stem conv, + classifier
    assert weight_layers(model)[-1] is model.classifier


@pytest.mark.parametrize("arch", CIFAR_ARCHS)
def test_parameter_count_depends_only_on_bn_and_bias(arch):
    # shortcuts are parameter-free (option A): resnet and vgg have identical counts
    count = count_parameters(cifar_net(arch, 20))
    base = 269722  # ResNet-20, CIFAR-10
    bn_params_removed = 2 * (16 + 2 * 3 * (16 + 32 + 64))  # stem BN + 2 BN per block
    conv_biases = 16 + 2 * 3 * (16 + 32 + 64)
    last_bn = 2 * 64 if arch.endswith("lastbn") else 0
    if "nobn" in arch:
        expected = base - bn_params_removed + conv_biases + last_bn
    elif arch == "preresnet_v1":
        # stem BN moves into block 1, BNs see stage inputs: preresnet == base; minus final BN(64)
        expected = base - 2 * 64
    else:
        expected = base + last_bn
    assert count == expected


def _module_before_classifier(model):
    """The last parameterised or normalising module that runs before the classifier."""
    last_bn = model.last_bn
    if not isinstance(last_bn, nn.Identity):
        return last_bn
    final = model.final
    if isinstance(final, nn.Sequential) and isinstance(final[0], nn.BatchNorm2d):
        return final[0]
    return None


@pytest.mark.parametrize(
    "arch,expected",
    [
        ("resnet", None),
        ("resnet_lastbn", nn.BatchNorm1d),
        ("preresnet", nn.BatchNorm2d),
        ("preresnet_v1", None),
        ("vgg", None),
        ("vgg_lastbn", nn.BatchNorm1d),
        ("resnet_nobn_lastbn", nn.BatchNorm1d),
        ("vgg_nobn", None),
    ],
)
def test_bn_directly_before_classifier(arch, expected):
    model = cifar_net(arch, 8)
    found = _module_before_classifier(model)
    assert (found is None) if expected is None else isinstance(found, expected)


def test_lastbn_normalises_classifier_input():
    torch.manual_seed(0)
    captured = {}
    for arch in ("resnet", "resnet_lastbn"):
        model = cifar_net(arch, 20).train()
        hook = model.classifier.register_forward_hook(
            lambda m, inp, out, arch=arch: captured.__setitem__(arch, inp[0].detach())
        )
        model(torch.randn(16, 3, 32, 32))
        hook.remove()
    x = captured["resnet_lastbn"]
    assert x.mean(0).abs().max() < 1e-4
    assert torch.allclose(x.var(0, unbiased=False), torch.ones(64), atol=1e-2)
    assert captured["resnet"].min() >= 0  # post-ReLU pooled features: non-negative


def test_vgg_has_no_shortcut_and_resnet_does():
    torch.manual_seed(0)
    resnet, vgg = cifar_net("resnet", 8), cifar_net("vgg", 8)
    vgg.load_state_dict(resnet.state_dict())
    x = torch.randn(4, 3, 32, 32)
    assert not torch.allclose(resnet(x), vgg(x))


def test_cifar_conv_init_statistics():
    torch.manual_seed(0)
    model = cifar_net("resnet", 56)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 64]
    w = torch.cat([c.weight.detach().double().flatten() for c in convs])
    std = math.sqrt(2 / (9 * 64))
    assert abs(w.mean().item()) < 6 * std / math.sqrt(w.numel())
    assert abs(w.std().item() - std) < 6 * std / math.sqrt(2 * w.numel())
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert torch.all(model.classifier.bias == 0)
    assert model.classifier.weight.abs().max() <= 1 / 8


def test_nobn_conv_biases_start_at_zero():
    model = cifar_net("vgg_nobn", 8)
    assert all(torch.all(c.bias == 0) for c in model.modules() if isinstance(c, nn.Conv2d))


@pytest.mark.parametrize("depth", [0, 7, 21, 19, "20"])
def test_invalid_depth_raises(depth):
    with pytest.raises(ValueError, match="6n\\+2"):
        cifar_net("resnet", depth)


def test_unknown_arch_lists_valid_ones():
    with pytest.raises(UnknownName) as info:
        cifar_net("densenet", 20)
    for arch in CIFAR_ARCHS:
        assert arch in str(info.value)
    with pytest.raises(ValueError, match="not a CIFAR architecture"):
        cifar_net("mlp", 20)
