"""Toy experiments and claim files for the plugin tests (numpy only, fast).

The toy module is written into the pytester directory and registered through
``LCSUITE_PLUGINS``, the registries' extension point for out-of-package code.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lcsuite import registry
from lcsuite.harness.experiments import EXPERIMENTS
from lcsuite.harness import runs

TOY_EXPERIMENTS = '''
import os, time
from pathlib import Path
import numpy as np
from lcsuite.harness.experiments import experiment
from lcsuite.harness.papers import register_paper

register_paper(Path(__file__).with_name("toy_paper.toml"), owner=__name__)

def count_call(ctx):
    counter = os.environ.get("TOY_COUNTER")
    if counter:
        with open(counter, "a") as f:
            f.write(f"{ctx.params.get('name', 'toy')}:{ctx.seed}\\n")
    devices = os.environ.get("TOY_DEVICES")
    if devices:
        with open(devices, "a") as f:
            f.write(f"{os.environ.get('PYTEST_XDIST_WORKER')} {os.environ.get('CUDA_VISIBLE_DEVICES')} "
                    f"{ctx.device}\\n")

@experiment("toy_line", outputs={"values": ("layer",), "total": ()}, params=("n", "slope", "name"))
def toy_line(ctx):
    if os.environ.get("TOY_EXIT_AT_SEED") == str(ctx.seed):
        os._exit(3)  # killed before this seed, after the earlier ones finished
    count_call(ctx)
    ctx.record_data({"name": "toyset", "split": "test", "size": 10, "substitute": True})
    if ctx.params.get("name") == os.environ.get("TOY_SLEEP_ITEM"):
        time.sleep(float(os.environ.get("TOY_SLEEP_S", "0")))
    if ctx.params.get("name") == os.environ.get("TOY_SPIN_ITEM"):
        spin_until = time.process_time() + float(os.environ.get("TOY_SPIN_S", "0"))
        while time.process_time() < spin_until:  # CPU time, which the item's limit counts
            pass
    if ctx.params.get("name") == os.environ.get("TOY_CRASH_ITEM"):
        os._exit(3)
    n = ctx.params["n"]
    values = ctx.params["slope"] * np.arange(1, n + 1) + ctx.seed * 1e-3
    return {"values": values, "total": float(values.sum())}

@experiment("toy_train", outputs={"final_loss": ()}, params=("steps", "name"))
def toy_train(ctx):
    """A tiny linear classifier trained with lcsuite's loop (its progress lines), then a sleep."""
    import torch
    from lcsuite.train import train

    count_call(ctx)
    ctx.record_data({"name": "toyset", "split": "train", "size": 64, "substitute": True})
    inputs, targets = torch.randn(64, 4), torch.randint(0, 3, (64,))
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    result = train(model, (inputs, targets), optimizer="sgd", lr=0.1, steps=ctx.params["steps"], batch_size=16,
                   seed=ctx.seed, device=ctx.device)
    if ctx.params.get("name") == os.environ.get("TOY_SLEEP_ITEM"):
        time.sleep(float(os.environ.get("TOY_SLEEP_S", "0")))
    return {"final_loss": result.final_train_loss}

@experiment("toy_undeclared")
def toy_undeclared(ctx):
    return {"measured": (np.ones(3), ("layer",))}

@experiment("toy_raises", outputs={"partial": ("layer",), "values": ("layer",)}, params=())
def toy_raises(ctx):
    ctx.save("partial", np.arange(3.0))
    if ctx.seed == 1:
        raise ValueError("the toy diverged")
    return {"values": np.arange(3.0)}

@experiment("toy_nonfinite", outputs={"values": ("layer",)}, params=("bad",))
def toy_nonfinite(ctx):
    return {"values": np.array([1.0, float(ctx.params["bad"]), 3.0])}
'''

HEADER = '''
paper = "toy"
ref = "Toy 1, Sec. 0"
statement = "A toy statement."
'''

LINE_PASS = '''
experiment = "toy_line"
[params]
n = 4
slope = 1.0
name = "line"
[tier.smoke]
seeds = [0, 1]
[[expect]]
check = "monotone"
quantity = "values"
along = "layer"
direction = "increasing"
strict = true
'''

LINE_FAIL = '''
experiment = "toy_line"
[params]
n = 4
slope = 1.0
name = "line"
[tier.smoke]
seeds = [0]
[[expect]]
description = "the values stay below 3"
check = "less"
left = "values"
right = 3
'''

TRAIN = '''
experiment = "toy_train"
[params]
steps = 40
name = "train"
[tier.smoke]
seeds = [0, 1]
[[expect]]
description = "the loss stays finite"
check = "less"
left = "final_loss"
right = 100
'''

SMOKE = ("claims", "--lc-tier", "smoke", "--lc-results", "res", "-p", "no:cacheprovider")


def claim_text(id_, body):
    return f'id = "{id_}"\n{HEADER}\n{body}'


@pytest.fixture
def toy(pytester, monkeypatch, tmp_path):
    """A pytester dir with the toy experiments registered and a call counter."""
    module = pytester.path / "toy_experiments.py"
    module.write_text(TOY_EXPERIMENTS)
    (pytester.path / "toy_paper.toml").write_text('id = "toy"\ntitle = "A Toy Paper"\n')
    monkeypatch.setenv("LCSUITE_PLUGINS", str(module))
    monkeypatch.setenv("TOY_COUNTER", str(tmp_path / "calls.txt"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("LCSUITE_DATA", raising=False)
    # In-process runs share this process's registry: start each test from an empty one, so a
    # toy registered from an earlier test's (since deleted) directory is never reused here.
    monkeypatch.setattr(EXPERIMENTS, "_entries", dict(EXPERIMENTS._entries))
    monkeypatch.setattr(EXPERIMENTS, "_owners", {k: v for k, v in EXPERIMENTS._owners.items() if not k.startswith("toy_")})
    monkeypatch.setattr(registry, "_LOADED", {s for s in registry._LOADED if not s.startswith("env:")})
    (pytester.path / "claims").mkdir()
    return pytester


def write_claim(pytester, id_, body):
    path = pytester.path / "claims" / f"{id_}.toml"
    path.write_text(claim_text(id_, body))
    return path


def calls(tmp_path):
    path = tmp_path / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def run_dir(pytester, run_id=None):
    return pytester.path / "res" / run_id if run_id else runs.latest_run(pytester.path / "res")


def verdicts(pytester, run_id=None) -> dict[str, str]:
    """``{claim/item: verdict}`` of a run (missing items included)."""
    info = runs.read_run(run_dir(pytester, run_id))
    return {r.key.split("/", 1)[1]: r.verdict for r in runs.run_records(info)}


def spawn_pytest(pytester, *args, **popen):
    return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=pytester.path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(), **popen)
