"""Networks and helpers shared by the monitor tests (each net built to show, or not show, one
of the paper's problems; sizes small enough for CPU tests)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import lcsuite
from lcsuite.data import digits_substitute
from lcsuite.harness.devices import limit_loaded_blas_pools
from lcsuite.models import MLP


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch and one BLAS thread: small matrices on a shared 2-core machine run orders of
    magnitude faster without thread contention (import this fixture into a test module)."""
    torch.set_num_threads(1)
    limit_loaded_blas_pools(1)


def digits(limit: int = 512):
    """The labelled digits substitute (ships with scikit-learn): inputs (N, 64), targets (N,)."""
    data = digits_substitute(limit=limit)
    return data.inputs.flatten(1), data.targets


def gaussian_data(n: int = 512, features: int = 64, seed: int = 0):
    """Standard normal inputs: a first-layer ReLU unit is negative on all of them with
    probability 2^-n, so no unit dies or fills up by chance."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g), torch.randint(0, 10, (n,), generator=g)


def recorded(model: nn.Module, x, y, step: int = 0, monitor=None, reduction: str = "mean", **options):
    """A monitor (new, or ``monitor``) that recorded one training-loop step on ``(x, y)``."""
    monitor = monitor or lcsuite.Monitor(model, every=1, loss_reduction=reduction, **options)
    with monitor.record(step, inputs=x, targets=y):
        F.cross_entropy(model(x), y, reduction=reduction).backward()
    model.zero_grad(set_to_none=True)
    return monitor


def rules_fired(monitor) -> dict[str, list]:
    fired: dict[str, list] = {}
    for finding in monitor.diagnose():
        fired.setdefault(finding.rule, []).append(finding)
    return fired


def plain_mlp(depth=20, width=64, norm="none", init="random", seed=0) -> MLP:
    torch.manual_seed(seed)
    return MLP(64, 10, depth, width, norm=norm, init=init, bias=False)


class BranchSum(nn.Module):
    """``branches`` parallel Linear→BN→ReLU branches on one BN-ReLU stem, summed into the
    classifier, as ResNet's last layer sums the ReLU outputs of all residual branches (Sec. 5).

    Each branch gives every unit a mean ≈ 0.4 (ReLU of a standard normal), so the sum's
    second moment, and ``λ_max(Sx)`` of the classifier, is ≈ ``branches²`` times a hidden
    layer's. ``last_bn`` puts a BatchNorm before the classifier (ResNetLastBN, Sec. 5.1).
    """

    def __init__(self, branches: int = 20, width: int = 32, last_bn: bool = False, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.stem = nn.Sequential(nn.Linear(64, width), nn.BatchNorm1d(width), nn.ReLU())
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU()) for _ in range(branches))
        self.last_bn = nn.BatchNorm1d(width) if last_bn else nn.Identity()
        self.classifier = nn.Linear(width, 10)

    def forward(self, x):
        h = self.stem(x)
        return self.classifier(self.last_bn(sum(branch(h) for branch in self.branches)))
