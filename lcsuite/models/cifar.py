"""CIFAR networks of depth 6n+2 (He et al. 2016): residual, pre-activation and VGG-style.

Every network is::

    x (N, 3, 32, 32) -> conv3x3(3, 16) [-> BN -> ReLU]          (stem; post-activation nets)
      -> stage 1: n blocks, 16 channels, 32x32
      -> stage 2: n blocks, 32 channels, 16x16 (first block strides by 2)
      -> stage 3: n blocks, 64 channels, 8x8   (first block strides by 2)
      -> [final BN -> ReLU (pre-activation)] -> global average pool (N, 64)
      -> [BatchNorm1d(64) (last_bn)] -> Linear(64, num_classes) = ``classifier``

Each block has two 3x3 convolutions, so depth = 2 * 3n + 2 (stem conv + classifier).

Shortcuts are "option A" of He et al. (2016): identity, and where the shape changes a strided
subsampling with the extra channels zero-padded (parameter-free), fb.resnet.torch's default for
CIFAR (``shortcutType = 'A'``): ResNet-20 has 0.27M and ResNet-110 1.7M parameters.

An architecture is a :class:`CifarArch` (block kind, BN inside the body, shortcuts, a final BN
before pooling for pre-activation nets, a BatchNorm1d before the classifier), registered in
:data:`lcsuite.models.MODELS` under its name with :func:`register_cifar_arch`. Registered here:

=============== =====================================================================
``resnet``       post-activation basic blocks: conv-BN-ReLU-conv-BN, + shortcut, ReLU
``preresnet``    pre-activation blocks (He et al. 2016b): BN-ReLU-conv-BN-ReLU-conv,
                 + shortcut; the first block of each stage shares its BN-ReLU with the
                 shortcut (fb.resnet.torch ``both_preact``); final BN + ReLU before pooling
``vgg``          ``resnet`` without shortcuts ("VGG-style")
``resnet_nobn``  ``resnet`` with every BN removed (convs get a zero-initialised bias)
``vgg_nobn``     ``vgg`` with every BN removed
=============== =====================================================================

Paper packages register their own variants (e.g. a BN before the classifier).

Initialisation follows fb.resnet.torch: conv weights N(0, 2 / (k * k * out_channels)), conv
biases (no-BN variants only) 0, BN weight 1 and bias 0, classifier weight U(±1/sqrt(fan_in))
(the Torch default) and bias 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lcsuite.models.registry import MODELS

__all__ = ["CifarArch", "CifarNet", "cifar_net", "register_cifar_arch", "valid_depth"]

STAGE_CHANNELS = (16, 32, 64)


@dataclass(frozen=True)
class CifarArch:
    """An architecture of the family (see the module docstring).

    Attributes:
        block: ``"post"`` (post-activation basic blocks) or ``"pre"`` (pre-activation).
        bn: BatchNorm inside the body (else convs get a bias).
        shortcut: residual shortcuts (False: VGG-style).
        final_bn: pre-activation only: BN (and ReLU) before pooling (False keeps the ReLU only).
        last_bn: BatchNorm1d between pooling and the classifier.
    """

    block: str = "post"
    bn: bool = True
    shortcut: bool = True
    final_bn: bool = True
    last_bn: bool = False


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """3x3 convolution with padding 1 (keeps the spatial size at stride 1)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


def norm2d(channels: int, enabled: bool) -> nn.Module:
    """BatchNorm2d, or Identity for the no-BN variants."""
    return nn.BatchNorm2d(channels) if enabled else nn.Identity()


class ShortcutA(nn.Module):
    """Option-A shortcut: identity, or subsample by ``stride`` and zero-pad the new channels.

    (N, C_in, H, W) -> (N, C_out, H / stride, W / stride); no parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError("option-A shortcut cannot reduce the channel count")
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x


class BasicBlock(nn.Module):
    """Post-activation block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    ``shortcut=False`` gives the VGG-style block (no addition); ``bn=False`` removes both BNs.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, bn: bool, shortcut: bool):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride, bias=not bn)
        self.bn1 = norm2d(out_channels, bn)
        self.conv2 = conv3x3(out_channels, out_channels, 1, bias=not bn)
        self.bn2 = norm2d(out_channels, bn)
        self.relu = nn.ReLU()
        self.shortcut = ShortcutA(in_channels, out_channels, stride) if shortcut else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class PreActBlock(nn.Module):
    """Pre-activation block: conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut(.).

    With ``shared_preact=True`` (first block of a stage, fb.resnet.torch ``both_preact``) the
    shortcut starts from relu(bn1(x)) instead of x.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, shared_preact: bool):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.relu = nn.ReLU()
        self.shortcut = ShortcutA(in_channels, out_channels, stride)
        self.shared_preact = shared_preact

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.relu(self.bn1(x))
        out = self.conv1(preact)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + self.shortcut(preact if self.shared_preact else x)


class CifarNet(nn.Module):
    """A depth-(6n+2) CIFAR network; build it with :func:`cifar_net`.

    Input (N, 3, 32, 32) float; output logits (N, num_classes).

    Attributes:
        stem, stage1, stage2, stage3, final (BN+ReLU or identity), pool, last_bn (BatchNorm1d or
        Identity), classifier (Linear(64, num_classes)). ``arch``, ``depth``, ``num_blocks`` (n).
    """

    def __init__(self, arch: str, spec: CifarArch, depth: int, num_classes: int = 10):
        super().__init__()
        self.arch, self.depth, self.num_classes = arch, depth, num_classes
        self.num_blocks = n = (depth - 2) // 6
        pre = spec.block == "pre"
        bn = spec.bn

        if pre:  # the first block's shared pre-activation normalises the stem's output
            self.stem = conv3x3(3, STAGE_CHANNELS[0])
        else:
            self.stem = nn.Sequential(
                conv3x3(3, STAGE_CHANNELS[0], bias=not bn), norm2d(STAGE_CHANNELS[0], bn), nn.ReLU()
            )

        in_channels = STAGE_CHANNELS[0]
        stages = []
        for index, channels in enumerate(STAGE_CHANNELS):
            blocks = []
            for b in range(n):
                stride = 2 if (index > 0 and b == 0) else 1
                if pre:
                    blocks.append(PreActBlock(in_channels, channels, stride, shared_preact=(b == 0)))
                else:
                    blocks.append(BasicBlock(in_channels, channels, stride, bn, spec.shortcut))
                in_channels = channels
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages

        if pre:
            self.final = nn.Sequential(norm2d(in_channels, spec.final_bn), nn.ReLU())
        else:
            self.final = nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.last_bn = nn.BatchNorm1d(in_channels) if spec.last_bn else nn.Identity()
        self.classifier = nn.Linear(in_channels, num_classes)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """fb.resnet.torch initialisation (see the module docstring); global torch RNG."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                module.weight.normal_(0.0, math.sqrt(2.0 / (k * module.out_channels)))
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.reset_parameters()  # weight 1, bias 0, fresh running statistics
        bound = 1.0 / math.sqrt(self.classifier.in_features)
        self.classifier.weight.uniform_(-bound, bound)
        self.classifier.bias.zero_()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 32, 32) -> the classifier's input (N, 64) (after last_bn when present)."""
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        x = self.pool(self.final(x)).flatten(1)
        return self.last_bn(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, depth={self.depth}, n={self.num_blocks}"


def valid_depth(depth: int) -> bool:
    """True when ``depth`` = 6n + 2 for some n >= 1 (20, 32, 44, 56, 110, 230, 1202, ...)."""
    return isinstance(depth, int) and depth >= 8 and (depth - 2) % 6 == 0


def register_cifar_arch(name: str, spec: CifarArch, owner: str | None = None):
    """Register the architecture ``name`` as a model builder ``(depth, num_classes=10) -> CifarNet``."""
    def build(depth: int, num_classes: int = 10) -> CifarNet:
        if not valid_depth(depth):
            raise ValueError(f"depth must be 6n+2 with n >= 1 (e.g. 20, 56, 110, 1202), got {depth!r}")
        return CifarNet(name, spec, depth, num_classes)

    build.cifar_arch = spec
    return MODELS.register(name, build, owner=owner or __name__)


def cifar_net(arch: str, depth: int, num_classes: int = 10) -> CifarNet:
    """Build the registered CIFAR architecture ``arch`` (e.g. ``"resnet"``) of depth 6n+2.

    Raises:
        lcsuite.registry.UnknownName: ``arch`` is not registered (the message lists the known ones).
        ValueError: ``depth`` is not 6n+2, or ``arch`` is a model of another family.
    """
    build = MODELS.get(arch)
    if not hasattr(build, "cifar_arch"):
        raise ValueError(f"model {arch!r} is not a CIFAR architecture")
    return build(depth, num_classes)


register_cifar_arch("resnet", CifarArch("post"))
register_cifar_arch("preresnet", CifarArch("pre", final_bn=True))
register_cifar_arch("vgg", CifarArch("post", shortcut=False))
register_cifar_arch("resnet_nobn", CifarArch("post", bn=False))
register_cifar_arch("vgg_nobn", CifarArch("post", bn=False, shortcut=False))
