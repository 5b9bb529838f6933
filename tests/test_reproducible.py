"""The same CPU item stores the same bits inline and under ``pytest -n 2`` (DECISIONS D1).

Real claim files (an MLP claim and a ResNet training claim) are copied with smaller smoke sizes,
run once in one process and once with two xdist workers, and every stored float dataset is
compared byte for byte. Other items run before them in the workers, so state left behind by an
earlier item (threads, generators) would show.
"""

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

CLAIMS = Path(__file__).resolve().parents[1] / "claims"

SMALL_SMOKE = {
    "fig5_bn_improves_conditioning": '''[tier.smoke]
depth = 6
width = 16
lrs = [0.1]
steps = 4
checkpoints = [0, 4]
data_limit = 200
seeds = [0, 1]
''',
    "fig6_resnet_last_layer": '''[tier.smoke]
depths = [8, 14]
loss_depths = [8, 14]
steps = 3
batch_size = 8
augment = "none"
measure_examples = 32
train_size = 64
image_size = 8
record_steps = [0, 3]
seeds = [0, 1]
''',
    "thm2_bn_scale_invariance": None,  # unchanged: runs first in a worker
}


def _small_copy(folder: Path, claim_id: str, smoke: str | None) -> None:
    text = (CLAIMS / f"{claim_id}.toml").read_text()
    if smoke is not None:
        text = re.sub(r"\[tier\.smoke\].*?(?=\n\[)", smoke, text, count=1, flags=re.S)
    (folder / f"{claim_id}.toml").write_text(text)


def _run(folder: Path, results: Path, *extra: str) -> str:
    command = [sys.executable, "-m", "pytest", str(folder), "--lc-tier", "smoke", "--lc-results", str(results),
               "--lc-run-id", "run", "-p", "no:cacheprovider", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=folder.parent)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _datasets(run_dir: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(run_dir.rglob("*.h5")):
        with h5py.File(path, "r") as f:
            def visit(name, obj, path=path):
                if isinstance(obj, h5py.Dataset) and not obj.attrs.get("timing"):
                    found[f"{path.relative_to(run_dir)}:{name}"] = obj[()]
            f["quantities"].visititems(visit)
    return found


@pytest.mark.slow
def test_items_store_identical_bits_inline_and_under_two_workers(tmp_path):
    folder = tmp_path / "claims"
    folder.mkdir()
    for claim_id, smoke in SMALL_SMOKE.items():
        _small_copy(folder, claim_id, smoke)
    _run(folder, tmp_path / "inline")
    out = _run(folder, tmp_path / "xdist", "-n", "2")
    assert "2 workers" in out
    inline, xdist = _datasets(tmp_path / "inline" / "run"), _datasets(tmp_path / "xdist" / "run")
    assert set(inline) == set(xdist) and len(inline) > 20
    assert any("fig5_bn_improves_conditioning" in k for k in inline) and any("fig6_resnet" in k for k in inline)
    different = [k for k in inline if inline[k].dtype != xdist[k].dtype or inline[k].tobytes() != xdist[k].tobytes()]
    assert different == []
