"""Training throughput of lcsuite's loops: steps per second, median over repeats.

Cases: the paper's 20x256 MLP with full-batch GD on MNIST-sized inputs, and ResNet-56 with SGD
at batch 128. On CUDA also ResNet-110 and ResNet-1202, each eager and under ``torch.compile``
(a compile failure is reported in the table, not raised). Inputs are random tensors of the real
shapes: this measures speed, not learning.

Run: ``python bench/train_speed.py [--device cuda] [--json out.json]``; importable
(:func:`run_benchmarks`, :func:`main`). CPU defaults finish in well under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from dataclasses import asdict, dataclass

import torch

from lcsuite.data import Dataset, Provenance
from lcsuite.models import MLP, cifar_net
from lcsuite.format import fmt_number
from lcsuite.timing import timed_call
from lcsuite.train import seed_everything, train


@dataclass
class Case:
    name: str
    build: str  # "mlp" or a CIFAR arch
    depth: int
    num_examples: int
    batch_size: int | None  # None: full batch (GD)
    optimizer: str
    compile: bool = False


@dataclass
class Measurement:
    case: str
    mode: str
    batch: int
    steps_per_s: float | None
    samples_per_s: float | None
    repeats: int
    note: str = ""


def default_cases(device: torch.device) -> list[Case]:
    """CPU: small enough for < 2 min on one core; CUDA: MNIST-sized data and deep ResNets."""
    if device.type == "cpu":
        return [
            Case("MLP 20x256, full-batch GD", "mlp", 20, 2048, None, "gd"),
            Case("ResNet-56, SGD", "resnet", 56, 256, 128, "sgd"),
        ]
    cases = [Case("MLP 20x256, full-batch GD", "mlp", 20, 60000, None, "gd")]
    for depth in (56, 110, 1202):
        for compiled in (False, True):
            cases.append(Case(f"ResNet-{depth}, SGD", "resnet", depth, 1024, 128, "sgd", compiled))
    return cases


def _synthetic_data(case: Case, device: torch.device) -> Dataset:
    generator = torch.Generator().manual_seed(0)
    shape = (case.num_examples, 1, 28, 28) if case.build == "mlp" else (case.num_examples, 3, 32, 32)
    inputs = torch.randn(shape, generator=generator)
    targets = torch.randint(10, (case.num_examples,), generator=generator)
    provenance = Provenance("random", "train", case.num_examples, "substitute", True, "benchmark inputs")
    return Dataset(inputs, targets, provenance, 10).to(device)


def _build(case: Case) -> torch.nn.Module:
    if case.build == "mlp":
        return MLP(784, 10, depth=case.depth, width=256, norm="bn", init="he")
    return cifar_net(case.build, case.depth)


def measure(case: Case, device: torch.device, steps: int, repeats: int, warmup: int) -> Measurement:
    """Median steps/s of ``train(...)`` calls of ``steps`` steps each, after a warm-up call."""
    seed_everything(0)
    data = _synthetic_data(case, device)
    model = _build(case).to(device)
    mode = "compile" if case.compile else "eager"
    batch = case.batch_size or case.num_examples
    runner = model
    if case.compile:
        try:
            runner = torch.compile(model)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return Measurement(case.name, mode, batch, None, None, 0, f"compile failed: {error!r}"[:120])
    kwargs = dict(optimizer=case.optimizer, lr=0.01, batch_size=case.batch_size, momentum=0.9,
                  evaluate_train=False, device=device)
    try:
        train(runner, data, steps=warmup, **kwargs)
        rates = []
        for repeat in range(repeats):
            seconds, result = timed_call(lambda: train(runner, data, steps=steps, seed=repeat, **kwargs), device)
            rates.append(result.steps_run / seconds)
    except Exception as error:  # noqa: BLE001 - e.g. a compile error at the first call
        return Measurement(case.name, mode, batch, None, None, 0, f"failed: {error!r}"[:120])
    median = statistics.median(rates)
    return Measurement(case.name, mode, batch, median, median * batch, repeats)


def environment(device: torch.device) -> dict:
    import torchvision

    info = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    return info


def run_benchmarks(device="cpu", steps: int | None = None, repeats: int = 3, warmup: int = 2,
                   compile: bool = True, cases: list[Case] | None = None) -> dict:
    """Measure every case; returns ``{"environment": {...}, "results": [Measurement dicts]}``."""
    device = torch.device(device)
    cases = default_cases(device) if cases is None else cases
    if not compile:
        cases = [c for c in cases if not c.compile]
    steps = steps or (3 if device.type == "cpu" else 20)
    results = [measure(case, device, steps, repeats, warmup) for case in cases]
    return {"environment": environment(device), "steps_per_repeat": steps, "results": [asdict(r) for r in results]}


def format_table(report: dict) -> str:
    from tabulate import tabulate

    rows = [
        [r["case"], r["mode"], r["batch"],
         fmt_number(r["steps_per_s"]) if r["steps_per_s"] else "-",
         fmt_number(r["samples_per_s"]) if r["samples_per_s"] else "-", r["repeats"], r["note"]]
        for r in report["results"]
    ]
    env = report["environment"]
    header = f"{env['device_name']} ({env['device']}), torch {env['torch']}, {env['threads']} threads"
    table = tabulate(rows, headers=["case", "mode", "batch", "steps/s (median)", "samples/s", "repeats", "note"])
    return header + "\n" + table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2, help="steps of the untimed first call")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile cases")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = run_benchmarks(args.device, args.steps, args.repeats, args.warmup, compile=not args.no_compile)
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
