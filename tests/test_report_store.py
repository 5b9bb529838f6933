"""Stored runs for the report/compare/CLI tests, written with the harness's own store writer,
and tests of how the report tools load (and refuse) result directories.

Other test modules import :func:`write_run` and :func:`sample_items` from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lcsuite.harness.quantities import Quantity
from lcsuite.harness.store import ExpectationRecord, item_path, write_item, write_latest
from lcsuite.report import ResultsError, load_run, resolve_run_dir

MNIST = {"name": "mnist", "split": "test", "size": 512, "source": "/data/mnist", "substitute": False}
DIGITS = {"name": "digits (MNIST substitute)", "split": "train", "size": 1797,
          "source": "substitute", "substitute": True}


def item_spec(claim_id, item, *, verdict="pass", quantities=None, headline=None, expectations=None,
              params=None, data=None, paper="Fig. X", statement="A statement.", seeds=(0, 1)):
    """One item's content as plain dicts (``quantities``: path -> (array, dims))."""
    return dict(
        claim_id=claim_id, item=item, verdict=verdict, quantities=quantities or {},
        headline=headline or {}, params=params or {}, data=data or [MNIST], paper=paper,
        statement=statement, seeds=list(seeds),
        expectations=expectations if expectations is not None else [
            ExpectationRecord("less", f"{item}: BN below Plain", verdict == "pass",
                              ">= 80% of points", "91% of points", "layer, seed")
        ],
    )


def write_run(root: Path, run_id: str, specs: list[dict], latest: bool = True) -> Path:
    """Write ``specs`` as one run ``root/run_id`` with the harness store; returns the run dir."""
    for spec in specs:
        attrs = dict(
            claim_id=spec["claim_id"], paper=spec["paper"], statement=spec["statement"],
            experiment="test_experiment", item=spec["item"], tier="smoke", params=spec["params"],
            seeds=spec["seeds"], data=spec["data"], device="cpu", torch_version="2.x",
            lcsuite_version="0.1.0", git_commit="abc1234", spec_hash="h", run_id=run_id,
            started_at="2024-01-01T00:00:00+00:00", elapsed_s=1.5, verdict=spec["verdict"],
            message="" if spec["verdict"] == "pass" else "expectation not met",
        )
        quantities = {path: Quantity(np.asarray(values, dtype=float), tuple(dims))
                      for path, (values, dims) in spec["quantities"].items()}
        write_item(item_path(root, run_id, spec["claim_id"], spec["item"]), attrs, quantities,
                   spec["expectations"], spec["headline"])
    if latest:
        write_latest(root, run_id)
    return root / run_id


def sample_items(scale: float = 1.0, fig5_verdict: str = "pass") -> list[dict]:
    """A small run covering every figure kind, a table-only quantity, depth parameters,
    a substitute data set and a claim with published numbers. ``scale`` multiplies every
    number (to plant drift)."""
    rng = np.random.default_rng(0)
    layers, steps = 5, 3
    plain_kappa = scale * (10.0 ** np.linspace(1, 4, layers))[None, :, None] * np.ones((2, layers, steps))
    bn_kappa = scale * 5.0 * np.ones((2, layers, steps))
    loss = scale * np.exp(-np.linspace(0, 2, 10))[None, :] * np.ones((2, 10))
    specs = [
        item_spec(
            "fig5_bn_improves_conditioning", "init=random", verdict=fig5_verdict,
            paper="Fig. 5, A6", statement="BN lowers kappa of Sx and Sg in every layer.",
            quantities={
                "plain/input/kappa_p80": (plain_kappa, ["seed", "layer", "step"]),
                "bn/input/kappa_p80": (bn_kappa, ["seed", "layer", "step"]),
                "plain/train_loss": (loss, ["seed", "step"]),
                "bn/train_loss": (0.5 * loss, ["seed", "step"]),
                "fraction_below": (scale * np.array([0.9, 0.95]), ["seed"]),
            },
            headline={"fraction_below": 0.925 * scale},
            params={"init": "random", "depth": 20},
        ),
        item_spec(
            "fig3_magnitude_propagation", "optimizer=gd", paper="Fig. 3",
            quantities={"plain/input_magnitude": (scale * 10.0 ** -np.arange(8.0)[None, :].repeat(2, 0),
                                                   ["seed", "layer"]),
                        "bn/input_magnitude": (scale * np.ones((2, 8)), ["seed", "layer"]),
                        "weird/histogram": (scale * rng.random((2, 3, 4)), ["seed", "bin", "channel"])},
            headline={"plain_fall": 1e7 * scale}, data=[DIGITS],
        ),
        item_spec(
            "fig6_resnet_last_layer", "arch=resnet", paper="Fig. 6",
            quantities={"last/lambda_max_sx": (scale * np.array([[1.0, 4.0, 9.0]] * 2), ["seed", "depth"]),
                        "loss": (scale * np.ones((2, 3, 6)), ["seed", "depth", "step"])},
            headline={"lambda_max_sx_deepest": 9.0 * scale}, params={"depths": [20, 56, 110]},
        ),
    ]
    for depth, lastbn_loss, resnet_loss in ((8, 0.4, 0.5), (14, 0.35, 0.6)):
        for arch, train_loss in (("resnet", resnet_loss), ("resnet_lastbn", lastbn_loss)):
            specs.append(item_spec(
                "table1_lastbn_beats_resnet", f"arch={arch},depth={depth}", paper="Tables 1, 2",
                quantities={"train_loss": (scale * np.full((2, 4), train_loss), ["seed", "step"])},
                headline={"final_train_loss": train_loss * scale, "test_error": 30.0 * scale},
                params={"arch": arch, "depth": depth},
            ))
    return specs


@pytest.fixture
def sample_run(tmp_path) -> Path:
    """A results root holding one run, ``LATEST`` pointing at it."""
    write_run(tmp_path / "results", "20240101-000000-aaaaaa", sample_items())
    return tmp_path / "results"


def test_a_results_root_resolves_to_the_run_named_by_latest(tmp_path):
    root = tmp_path / "results"
    write_run(root, "20240101-000000-old000", sample_items()[:1])
    newest = write_run(root, "20240102-000000-new000", sample_items()[:2])
    write_latest(root, "20240101-000000-old000")
    assert resolve_run_dir(root) == root / "20240101-000000-old000"
    assert resolve_run_dir(newest) == newest
    assert len(load_run(newest).items) == 2


def test_load_run_reads_every_item(sample_run):
    run = load_run(sample_run)
    assert len(run.items) == len(sample_items())
    assert set(run.by_claim()) == {
        "fig5_bn_improves_conditioning", "fig3_magnitude_propagation",
        "fig6_resnet_last_layer", "table1_lastbn_beats_resnet",
    }
    fig5 = run.by_key()["fig5_bn_improves_conditioning/init=random"]
    assert fig5.params == {"init": "random", "depth": 20}
    assert fig5.quantities["plain/input/kappa_p80"].dims == ("seed", "layer", "step")


@pytest.mark.parametrize("case", ["missing", "empty", "not_a_dir", "corrupt", "empty_run"])
def test_bad_results_directories_raise_one_line_errors(tmp_path, case):
    target = tmp_path / "results"
    if case == "empty":
        target.mkdir()
    elif case == "not_a_dir":
        target.write_text("x")
    elif case == "corrupt":
        bad = target / "run1" / "claim_a" / "item.h5"
        bad.parent.mkdir(parents=True)
        bad.write_bytes(b"this is not an HDF5 file")
    elif case == "empty_run":
        (target / "run1" / "claim_a").mkdir(parents=True)
    with pytest.raises(ResultsError) as info:
        load_run(target)
    message = str(info.value)
    assert "\n" not in message and str(target) in message
    expected_word = {"missing": "not found", "empty": "empty", "not_a_dir": "not a directory",
                     "corrupt": "corrupt", "empty_run": "no result files"}[case]
    assert expected_word in message
