"""Sizes of every benchmark case: the full run and ``--quick`` (tiny, for the test-suite)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

__all__ = ["Config", "full_config", "quick_config"]


@dataclass
class Config:
    """Everything a run depends on besides the machine (stored in the JSON).

    Attributes:
        quick: Tiny sizes (seconds); the figures are not meaningful, the code paths are.
        device: Where the overhead case runs (``cuda`` adds the ResNet-56 step).
        repeats / warmup: Timed and untimed rounds per comparison (see :func:`lcsuite.timing.compare`).
        budget_s: Time budget of one comparison's timed rounds.
        overhead_mlp: ``(in_features, depth, width, N)`` of the capture-overhead MLP (float32,
            full batch, MNIST-sized random data: 784 = 28×28 inputs, 10 classes).
        overhead_resnet: ``(depth, batch)`` of the CIFAR ResNet (CUDA only).
        appb_widths / appb_depth / appb_examples: App. B MLPs (``in_features = width``, so
            every hidden layer is ``d × d`` as in the paper's complexity model), float64.
        appb_flop_budget: Paths whose estimated cost exceeds this many flops are skipped
            (5e11: about a minute per run on one core).
        peers_mlp: ``(in_features, depth, width, N)`` of the factor comparison (float64).
        exact_mlp: ``(in_features, depth, width, N)`` of the exact-FIM comparison (float64).
        threads: torch CPU threads the run was set to (``None``: torch's default).
        rtol: Agreement tolerance with the peers.
        perturb: Relative perturbation added to lcsuite's numbers before the agreement
            check (tests use it to prove the check fails); 0 in real runs.
    """

    quick: bool = False
    device: str = "cpu"
    repeats: int = 15
    warmup: int = 2
    budget_s: float = 30.0
    overhead_mlp: tuple = (784, 20, 256, 2048)
    overhead_resnet: tuple = (56, 128)
    appb_widths: tuple = (16, 32, 64, 128, 256)
    appb_depth: int = 4
    appb_examples: int = 128
    appb_flop_budget: float = 5e11
    peers_mlp: tuple = (784, 6, 256, 1024)
    exact_mlp: tuple = (32, 3, 32, 128)
    rtol: float = 1e-8
    perturb: float = 0.0
    num_classes: int = 10
    threads: int | None = None
    seed: int = 0
    notes: list = field(default_factory=list)

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    def to_dict(self) -> dict:
        return asdict(self)


def full_config(device: str = "cpu") -> Config:
    return Config(device=device)


def quick_config(device: str = "cpu") -> Config:
    return Config(
        quick=True, device=device, repeats=3, warmup=1, budget_s=2.0,
        overhead_mlp=(64, 3, 32, 128), overhead_resnet=(8, 8),
        appb_widths=(8, 16), appb_depth=3, appb_examples=32, appb_flop_budget=2e8,
        peers_mlp=(32, 3, 16, 64), exact_mlp=(8, 3, 8, 16),
    )
