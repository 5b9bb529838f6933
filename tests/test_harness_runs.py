"""Run directories: run ids, tiers, plans, verdicts, missing items, stale temporary files."""

import os
import time

import pytest

from lcsuite.harness import runs
from lcsuite.harness.enums import Verdict
from lcsuite.harness.spec import ItemSpec


def entry(item="default", claim="claim_a"):
    return runs.PlanEntry(ItemSpec("p", claim, item, "toy", "smoke", {"n": 1}, (0,)), "Fig. 1", "A statement.")


@pytest.mark.parametrize("bad", ["../x", "a/b", ".hidden", "", "x" * 101, "a b", "..", "run\\1"])
def test_run_ids_with_path_separators_or_odd_characters_are_refused(bad):
    with pytest.raises(runs.RunError, match="invalid run id"):
        runs.validate_run_id(bad)


def test_valid_run_ids_and_fresh_ids():
    assert runs.validate_run_id("20240101-000000-abc123") == "20240101-000000-abc123"
    assert runs.validate_run_id(runs.new_run_id())


def test_a_run_keeps_its_tier(tmp_path):
    runs.open_run(tmp_path, "r1", "gpu")
    assert runs.open_run(tmp_path, "r1", "gpu").tier == "gpu"
    with pytest.raises(runs.RunError, match="run r1 is a gpu-tier run; resume it with --lc-tier gpu"):
        runs.open_run(tmp_path, "r1", "smoke")


def test_plans_grow_and_missing_items_are_reported(tmp_path):
    info = runs.open_run(tmp_path, "r1", "smoke")
    runs.add_to_plan(info.run_dir, [entry("a"), entry("b")])
    info = runs.add_to_plan(info.run_dir, [entry("c", claim="claim_b")])
    assert sorted(info.plan) == ["p/claim_a/a", "p/claim_a/b", "p/claim_b/c"]
    runs.write_verdict(info.run_dir, runs.VerdictRecord("p/claim_a/a", "smoke", "pass", "ok"))
    records = {r.key: r.verdict for r in runs.run_records(runs.read_run(info.run_dir))}
    assert records == {"p/claim_a/a": "pass", "p/claim_a/b": "missing", "p/claim_b/c": "missing"}
    assert Verdict.worst(records.values()) is Verdict.MISSING


def test_item_and_verdict_files_are_namespaced_by_paper(tmp_path):
    assert runs.item_file(tmp_path, "p/claim_a/init=he") == tmp_path / "p" / "claim_a" / "init=he.h5"
    assert runs.verdict_file(tmp_path, "p/claim_a/init=he") == tmp_path / "p" / "claim_a" / "init=he.verdict.json"


def test_stale_temporary_files_are_removed_by_age(tmp_path):
    old = tmp_path / "p" / "c" / ".a.h5.1234.tmp"
    fresh = tmp_path / "p" / "c" / ".b.h5.5678.tmp"
    old.parent.mkdir(parents=True)
    old.write_text("x")
    fresh.write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert runs.clean_stale_temps(tmp_path) == [old]
    assert fresh.exists() and not old.exists()


def test_a_results_root_resolves_to_its_latest_run(tmp_path):
    runs.open_run(tmp_path, "20240101-a", "smoke")
    runs.open_run(tmp_path, "20240102-b", "smoke")
    assert runs.resolve_run_dir(tmp_path) == tmp_path / "20240102-b"
    (tmp_path / runs.LATEST_FILE).write_text("20240101-a\n")
    assert runs.resolve_run_dir(tmp_path) == tmp_path / "20240101-a"
    (tmp_path / "empty").mkdir()
    with pytest.raises(runs.RunError, match="no runs in"):
        runs.resolve_run_dir(tmp_path / "empty")
    with pytest.raises(runs.RunError, match="results directory not found"):
        runs.resolve_run_dir(tmp_path / "absent")


def test_an_old_schema_is_refused_with_a_clear_message(tmp_path):
    info = runs.open_run(tmp_path, "r1", "smoke")
    (info.run_dir / runs.RUN_FILE).write_text('{"schema_version": 1}')
    with pytest.raises(runs.RunError, match="schema_version 1; this lcsuite reads 2"):
        runs.read_run(info.run_dir)
