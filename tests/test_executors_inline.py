"""The executor contract without any scheduler: tasks, inline runs, options, progress lines."""

from __future__ import annotations

import io
import json

import pytest
from executor_toys import RaiseTask, WriteTask, square_result

from lcsuite.harness.executors import ClusterOptions, TaskOutcome, load_cluster_options, run_tasks
from lcsuite.harness.executors.options import options_from_mapping, submitit_parameters
from lcsuite.harness.executors.progress import ProgressClock, last_progress, parse_progress, report_progress
from lcsuite.harness.atomic import atomic_write_path
from lcsuite.harness.executors.task import check_task_keys


def test_inline_runs_in_order_records_errors_and_skips_done(tmp_path):
    calls = []

    class Recorded(WriteTask):
        def __call__(self):
            calls.append(self.key)
            return super().__call__()

    done_before = WriteTask("done-before", str(tmp_path), 9)
    done_before()
    tasks = [Recorded("a", str(tmp_path), 2), RaiseTask("bad", str(tmp_path), 1), done_before,
             Recorded("b", str(tmp_path), 3)]
    outcomes = run_tasks(tasks, tmp_path / "run", executor="inline")
    assert calls == ["a", "b"]
    assert [o.state for o in outcomes] == ["done", "failed", "done", "done"]
    assert outcomes[0].summary == square_result("a", 2)
    assert "ValueError: toy failure in bad" in outcomes[1].error
    assert outcomes[2].already_done and outcomes[2].summary is None
    assert json.loads((tmp_path / "b.json").read_text()) == square_result("b", 3)
    assert done_before.attempts() == 1


@pytest.mark.parametrize("tasks, message", [
    ([WriteTask("a", "x", 1), WriteTask("a", "x", 2)], "duplicate task key 'a'"),
    ([WriteTask("", "x", 1)], "has no string key"),
    ([object()], "has no string key"),
])
def test_task_keys_are_checked(tasks, message):
    with pytest.raises(ValueError, match=message):
        check_task_keys(tasks)


def test_unknown_executor_and_state_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown executor 'pbs'"):
        run_tasks([WriteTask("a", str(tmp_path), 1)], tmp_path, executor="pbs")
    with pytest.raises(ValueError, match="unknown state 'lost'"):
        TaskOutcome("a", "lost")


def test_atomic_write_leaves_nothing_behind_on_error(tmp_path):
    final = tmp_path / "r.json"
    with pytest.raises(RuntimeError):
        with atomic_write_path(final) as tmp:
            tmp.write_text("half")
            assert tmp.name.startswith(".r.json.inline-") and tmp.name.endswith(".tmp")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    with atomic_write_path(final) as tmp:
        tmp.write_text("whole")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"] and final.read_text() == "whole"


def test_options_from_toml_then_overrides(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.lcsuite.slurm]\npartition = "gpu"\ngpus-per-task = 1\nmem_gb = 40\n'
                         'extra_sbatch = ["--constraint=h200", "--exclusive"]\nitems-per-task = 4\n')
    options = load_cluster_options(search_dir=tmp_path, overrides={"items-per-task": 2, "qos": None})
    assert options == ClusterOptions(partition="gpu", gpus_per_task=1, mem_gb=40.0, items_per_task=2,
                                     extra_sbatch=("--constraint=h200", "--exclusive"))
    params = submitit_parameters(options, "slurm")
    assert params["mem"] == "40960M" and params["gpus_per_task"] == 1 and params["partition"] == "gpu"
    assert params["additional_parameters"] == {"constraint": "h200", "exclusive": True}
    assert "qos" not in params and "account" not in params
    assert submitit_parameters(options, "local") == {"timeout_min": 60, "gpus_per_node": 1, "signal_delay_s": 90}
    given = tmp_path / "cluster.toml"
    given.write_text("[slurm]\naccount = 'lab'\ntime_min = 600\n")
    assert load_cluster_options(given) == ClusterOptions(account="lab", time_min=600)
    assert load_cluster_options(search_dir=tmp_path / "nowhere") == ClusterOptions()


@pytest.mark.parametrize("mapping, message", [
    ({"partitions": "gpu"}, "src: unknown cluster option 'partitions'"),
    ({"items_per_task": 0}, "items_per_task: expected an integer >= 1, got 0"),
    ({"gpus_per_task": True}, "gpus_per_task: expected an integer"),
    ({"mem_gb": -1}, "mem_gb: expected a positive number"),
    ({"extra_sbatch": ["constraint=h200"]}, "'constraint=h200' is not of the form --name=value"),
    ({"partition": ""}, "partition: expected a non-empty string"),
])
def test_bad_options_name_source_key_and_value(mapping, message):
    with pytest.raises(ValueError, match=message):
        options_from_mapping(mapping, source="src")


def test_options_file_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_cluster_options(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("partition = \n")
    with pytest.raises(ValueError, match="broken.toml: invalid TOML"):
        load_cluster_options(broken)


def test_progress_lines_carry_eta_and_key(monkeypatch):
    monkeypatch.setenv("LCSUITE_TASK_KEY", "fig3/x")
    stream, clock = io.StringIO(), ProgressClock()
    first = report_progress(0, 100, stream=stream, clock=clock, now=10.0)
    second = report_progress(10, 100, epoch=1, stream=stream, clock=clock, now=15.0)
    assert first["eta_s"] is None
    assert second == {"step": 10, "steps": 100, "epoch": 1, "eta_s": 45.0, "key": "fig3/x"}
    restarted = report_progress(2, 100, stream=stream, clock=clock, now=100.0)
    assert restarted["eta_s"] is None
    lines = stream.getvalue().splitlines()
    assert all(line.startswith("lcsuite-progress {") for line in lines)
    assert parse_progress(lines[1]) == second
    assert parse_progress("lcsuite-progress {broken") is None and parse_progress("loss 0.3") is None
    with pytest.raises(ValueError, match=r"step must be an int in \[0, 5\]"):
        report_progress(6, 5, stream=stream)


def test_last_progress_picks_the_tasks_own_line(tmp_path):
    log = tmp_path / "job.err"
    log.write_text("noise\n"
                   'lcsuite-progress {"step": 3, "steps": 9, "eta_s": 6.0, "key": "a"}\n'
                   'lcsuite-progress {"step": 5, "steps": 9, "eta_s": 4.0, "key": "b"}\n'
                   "Traceback ...\n")
    assert last_progress(log, "a")["step"] == 3
    assert last_progress(log, "b")["step"] == 5
    assert last_progress(log)["step"] == 5
    assert last_progress(log, "c") is None
    assert last_progress(tmp_path / "missing.err", "a") is None
