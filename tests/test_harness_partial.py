"""Per-seed partials: an item killed between seeds resumes from its finished seeds, with the same
bits as an uninterrupted run; a partial of another spec or code is ignored and said so.

Each measurement runs in its own process (as a requeued Slurm task does): the item is killed
with ``os._exit`` when its seed ``k`` is about to start, after the partial of the seeds before it
was written. The seeds each process ran are logged, so a test can tell that finished seeds were
not run again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from lcsuite.harness.enums import MeasurementStatus
from lcsuite.harness.measure import WALL_BACKSTOP, ItemClock
from lcsuite.harness.partial import discard_partial, load_partial, partial_file
from lcsuite.harness.runs import item_file
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import read_item

TOY_MODULE = '''
import numpy as np
import torch
from lcsuite.harness.experiments import experiment

@experiment("toy_draws", outputs={"draws": ("k",), "torch_draws": ("k",), "total": ()}, params=("n",))
def toy_draws(ctx):
    draws = np.random.rand(ctx.params["n"]) + ctx.rng().normal(size=ctx.params["n"])
    torch_draws = torch.randn(ctx.params["n"], dtype=torch.float64)
    return {"draws": draws, "torch_draws": torch_draws, "total": float(draws.sum() + torch_draws.sum())}
'''

MEASURE = '''
import json, os, sys
from pathlib import Path
import lcsuite.harness.measure as measure
from lcsuite.harness.spec import ItemSpec

spec = ItemSpec.from_dict(json.loads(sys.argv[1]))
run_dir, kill_at, log = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seed_all = measure.seed_all

def logged_seed_all(seed):
    if seed == kill_at:
        os._exit(3)  # killed as seed `kill_at` starts: the seeds before it are finished
    with open(log, "a") as f:
        f.write(f"{seed}\\n")
    seed_all(seed)

measure.seed_all = logged_seed_all
print(json.dumps(measure.ItemTask(spec, measure.MeasureSettings(run_dir))()))
'''


@pytest.fixture
def toy_module(tmp_path, monkeypatch):
    module = tmp_path / "partial_toys.py"
    module.write_text(TOY_MODULE)
    monkeypatch.setenv("LCSUITE_PLUGINS", str(module))
    return module


def toy_spec(seeds=(0, 1, 2, 3), n=5) -> ItemSpec:
    return ItemSpec("toy", "toy_claim", "default", "toy_draws", "smoke", {"n": n}, tuple(seeds))


def measure_in_process(spec: ItemSpec, run_dir: Path, log: Path, kill_at: int = -1) -> subprocess.CompletedProcess:
    """Measure ``spec`` into ``run_dir`` in a fresh process, killed as seed ``kill_at`` starts."""
    return subprocess.run([sys.executable, "-c", MEASURE, json.dumps(spec.to_dict()), str(run_dir), str(kill_at),
                           str(log)], capture_output=True, text=True, timeout=600, env=os.environ.copy())


def seeds_run(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def stored_bytes(path: Path) -> dict[str, tuple[str, tuple, bytes]]:
    """Every non-timing dataset of a result file: dtype, shape and bytes."""
    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not obj.attrs.get("timing"):
                found[name] = (obj.dtype.str, obj.shape, obj[()].tobytes())
        f["quantities"].visititems(visit)
    return found


def interrupted_then_resumed(spec: ItemSpec, tmp_path: Path, kill_at: int) -> tuple[Path, Path]:
    """Run ``spec`` killed at ``kill_at`` then again (run ``resumed``), and uninterrupted (run
    ``whole``); return the two result files. Checks the partial between the two attempts."""
    resumed, whole = tmp_path / "resumed", tmp_path / "whole"
    killed = measure_in_process(spec, resumed, tmp_path / "first.log", kill_at)
    assert killed.returncode == 3, killed.stderr[-3000:]
    partial = read_item(partial_file(resumed, spec.key))
    finished = list(spec.seeds[: spec.seeds.index(kill_at)])
    assert partial.status is MeasurementStatus.PARTIAL and partial.provenance["seeds_measured"] == finished
    assert not item_file(resumed, spec.key).exists()
    done = measure_in_process(spec, resumed, tmp_path / "second.log")
    assert done.returncode == 0, done.stderr[-3000:]
    assert seeds_run(tmp_path / "first.log") == finished
    assert seeds_run(tmp_path / "second.log") == list(spec.seeds[len(finished):])  # finished seeds not rerun
    assert measure_in_process(spec, whole, tmp_path / "whole.log").returncode == 0
    assert not partial_file(resumed, spec.key).exists()  # removed once the result is stored
    return item_file(resumed, spec.key), item_file(whole, spec.key)


def test_a_killed_item_resumes_from_its_finished_seeds_with_the_same_bits(toy_module, tmp_path):
    spec = toy_spec()
    resumed, whole = interrupted_then_resumed(spec, tmp_path, kill_at=2)
    assert stored_bytes(resumed) == stored_bytes(whole) and len(stored_bytes(whole)) == 3
    item = read_item(resumed)
    assert item.status is MeasurementStatus.COMPLETE and item.provenance["seeds_measured"] == [0, 1, 2, 3]
    assert item.provenance["resume"]["seeds"] == [0, 1]
    assert item.provenance["resume"]["note"].startswith("resumed seeds 0, 1 from the partial measurement of inline-")
    assert set(item.provenance["timings"]) == {"0", "1", "2", "3"}
    assert read_item(whole).provenance["resume"] == {"seeds": [], "note": ""}
    assert item.provenance["code"] == read_item(whole).provenance["code"]


def test_resumed_seeds_count_against_the_items_time_limit():
    cpu, wall = time.process_time(), time.perf_counter()
    clock = ItemClock.starting_now(10.0, spent_s=4.0)
    assert cpu + 6.0 <= clock.cpu <= time.process_time() + 6.0
    assert wall + WALL_BACKSTOP * 10.0 - 4.0 <= clock.wall <= time.perf_counter() + WALL_BACKSTOP * 10.0 - 4.0


@pytest.mark.slow
def test_a_resnet_training_item_resumed_after_a_kill_stores_the_same_bits(tmp_path):
    params = {"archs": ["resnet", "resnet_lastbn"], "depths": [8], "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
              "batch_size": 16, "epochs": 2, "milestone_fractions": [0.5], "gamma": 0.1, "augment": "none",
              "train_size": 64, "test_size": 32, "image_size": 8, "num_classes": 10}
    spec = ItemSpec("huang2020", "table1_lastbn_beats_resnet", "depths=8", "paired_depth_training", "paper",
                    params, (0, 1, 2))
    resumed, whole = interrupted_then_resumed(spec, tmp_path, kill_at=1)
    found = stored_bytes(whole)
    assert stored_bytes(resumed) == found and "resnet_lastbn/test_error" in found
    epoch_loss = np.frombuffer(found["resnet/epoch_loss"][2], dtype=found["resnet/epoch_loss"][0])
    assert np.isfinite(epoch_loss).all() and len(set(epoch_loss.tolist())) == epoch_loss.size  # seeds differ


def kill_at_two(spec: ItemSpec, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    assert measure_in_process(spec, run, tmp_path / "killed.log", kill_at=2).returncode == 3
    return run


def test_a_partial_of_another_spec_is_ignored_and_the_note_says_so(toy_module, tmp_path):
    run = kill_at_two(toy_spec(n=5), tmp_path)
    changed = toy_spec(n=6)
    assert measure_in_process(changed, run, tmp_path / "again.log").returncode == 0
    assert seeds_run(tmp_path / "again.log") == [0, 1, 2, 3]
    note = read_item(item_file(run, changed.key)).provenance["resume"]["note"]
    assert note == "ignored the partial measurement (seeds 0, 1) in default.h5.partial: the item's spec changed"


def test_a_partial_measured_by_other_code_is_ignored_and_the_note_says_so(toy_module, tmp_path):
    spec = toy_spec()
    run = kill_at_two(spec, tmp_path)
    toy_module.write_text(TOY_MODULE + "# edited\n")
    assert measure_in_process(spec, run, tmp_path / "again.log").returncode == 0
    assert seeds_run(tmp_path / "again.log") == [0, 1, 2, 3]
    note = read_item(item_file(run, spec.key)).provenance["resume"]["note"]
    assert note.startswith("ignored the partial measurement (seeds 0, 1)") and "source of lcsuite_plugin_partial_toys changed" in note


def test_a_damaged_partial_is_ignored_and_a_missing_one_is_nothing(toy_module, tmp_path):
    spec = toy_spec()
    run = kill_at_two(spec, tmp_path)
    path = partial_file(run, spec.key)
    assert load_partial(path, spec, "cpu", None).finished == 2
    path.write_bytes(path.read_bytes()[:200])
    resumed = load_partial(path, spec, "cpu", None)
    assert resumed.finished == 0 and resumed.note.startswith("ignored the partial measurement in default.h5.partial:")
    assert discard_partial(path) and not discard_partial(path)
    assert load_partial(path, spec, "cpu", None).note == ""


def test_a_result_file_never_passes_for_a_partial(toy_module, tmp_path):
    spec = toy_spec(seeds=(0, 1))
    assert measure_in_process(spec, tmp_path / "run", tmp_path / "log").returncode == 0
    result = item_file(tmp_path / "run", spec.key)
    resumed = load_partial(result, spec, "cpu", None)  # a complete result where a partial is looked for
    assert resumed.finished == 0 and "status complete, not a partial measurement" in resumed.note
