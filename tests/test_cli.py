"""The ``lcsuite`` command line: help, report, errors as one line with exit 2, list, run, data."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import sample_items, write_run

from lcsuite import cli
from lcsuite.cli import main

CLAIM_TOML = '''id = "{id}"
paper = "huang2020"
ref = "Fig. 5"
statement = "BN lowers kappa."
experiment = "not_needed_for_listing"
[params]
depth = 4
[grid]
init = ["random", "he"]
[tier.smoke]
seeds = [0, 1]
[tier.gpu]
seeds = [0, 1, 2]
[[expect]]
check = "less"
left = "bn/kappa"
right = "plain/kappa"
'''


@pytest.mark.parametrize(
    "command",
    [[], ["report"], ["compare"], ["list"], ["run"], ["data"], ["data", "check"]],
)
def test_help_works_for_every_command(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lcsuite")


def test_the_console_script_is_the_cli_main():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'lcsuite = "lcsuite.cli:main"' in text


def test_a_usage_error_exits_2(capsys):
    assert main(["compare", "only-one-dir"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_report_command_writes_report_and_figures(tmp_path, capsys):
    write_run(tmp_path / "results", "r1", sample_items())
    output = tmp_path / "out" / "nightly.md"
    assert main(["report", str(tmp_path / "results"), "-o", str(output)]) == 0
    assert output.is_file() and any((tmp_path / "out" / "nightly_figures").rglob("*.png"))
    assert str(output) in capsys.readouterr().out


def _corrupt_run_file(root: Path) -> None:
    write_run(root, "r1", sample_items()[:1])
    (root / "r1" / "run.json").write_text("{ not json")


def _not_a_run(root: Path) -> None:
    bad = root / "r1" / "huang2020" / "fig5_bn_improves_conditioning" / "init=he.h5"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89HDF\r\n\x1a\n truncated")


@pytest.mark.parametrize(
    ("prepare", "words"),
    [
        (None, "not found"),
        (lambda root: root.mkdir(), "no runs in"),
        (_corrupt_run_file, "cannot read the run file"),
        (_not_a_run, "no runs in"),
    ],
    ids=["missing", "empty", "corrupt-run-file", "not-a-run"],
)
def test_report_on_a_bad_results_dir_is_one_line_and_exit_2(tmp_path, capsys, prepare, words):
    root = tmp_path / "results"
    if prepare:
        prepare(root)
    assert main(["report", str(root), "-o", str(tmp_path / "report.md")]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and words in err
    assert "\n" not in err and "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "report.md").exists()


def test_the_installed_script_reports_errors_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from lcsuite.cli import main; sys.exit(main())",
         "report", str(tmp_path / "nothing")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: results directory not found: {tmp_path / 'nothing'}"


def test_list_shows_claims_papers_and_items_per_tier(tmp_path, capsys):
    claims = tmp_path / "claims"
    claims.mkdir()
    for claim_id in ("fig5_a", "fig5_b"):
        (claims / f"{claim_id}.toml").write_text(CLAIM_TOML.format(id=claim_id))
    assert main(["list", "--claims", str(claims)]) == 0
    out = capsys.readouterr().out
    assert "fig5_a" in out and "fig5_b" in out and "Fig. 5" in out and "huang2020" in out
    assert "2 × 2 seeds" in out and "2 × 3 seeds" in out
    assert "2 claims; items per tier: smoke 4, gpu 4, paper 0" in out


def test_list_counts_variant_items_and_ignores_toml_files_that_are_not_claims(tmp_path, capsys):
    claims = tmp_path / "claims"
    claims.mkdir()
    variant = '[[variant]]\nname = "deep"\nlabel = "at depth 8"\nparams = {depth = 8}\n'
    (claims / "fig5_a.toml").write_text(CLAIM_TOML.format(id="fig5_a") + variant)
    (claims / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (claims / "nightly-tolerances.toml").write_text('default = 0.1\n')
    assert main(["list", "--claims", str(claims)]) == 0
    out = capsys.readouterr().out
    assert "4 (2 variant) × 2 seeds" in out and "4 (2 variant) × 3 seeds" in out
    assert "1 claims; items per tier: smoke 4, gpu 4, paper 0" in out
    assert "pyproject" not in out and "tolerances" not in out


def test_list_counts_the_items_of_each_tier_with_its_own_grid(capsys):
    assert main(["list", "--claims", str(Path(__file__).resolve().parents[1] / "claims")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("table")}
    for claim_id, smoke in (("table1_lastbn_beats_resnet", "1 × 6 seeds"), ("tableA2_lastbn_without_bn", "1 × 10 seeds")):
        assert smoke in rows[claim_id] and "1 × 5 seeds" in rows[claim_id]  # smoke, gpu: one item
        assert rows[claim_id].rstrip().endswith("4 × 5 seeds")  # paper: one item per depth


def test_list_reports_a_malformed_claim_file_in_one_line(tmp_path, capsys):
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "broken.toml").write_text(CLAIM_TOML.format(id="broken").replace('paper = "huang2020"', "paper = 3"))
    assert main(["list", "--claims", str(claims)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: broken.toml") and "\n" not in err


def test_list_of_a_folder_without_claim_files_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert main(["list", "--claims", str(tmp_path)]) == 2
    assert f"no claim files in {tmp_path}" in capsys.readouterr().err


def test_list_without_claims_is_a_clear_error(tmp_path, capsys):
    assert main(["list", "--claims", str(tmp_path / "none")]) == 2
    assert "claims directory not found" in capsys.readouterr().err


def test_run_passes_the_harness_options_to_pytest(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_pytest(command):
        calls.append(command)
        run_id = command[command.index("--lc-run-id") + 1]
        write_run(tmp_path / "results", run_id, sample_items()[:2])
        return 1  # some claim failed: reported, not an error

    monkeypatch.setattr(cli.subprocess, "call", fake_pytest)
    code = main(["run", "--tier", "smoke", "--results", str(tmp_path / "results"), "-n", "2",
                 "--rerun", "--data", "/data", "--run-id", "night1", "--reuse-from", "night0",
                 "--allow-unverified"])
    assert code == 1
    (command,) = calls
    assert command[1:4] == ["-m", "pytest", "claims"]
    for option in (["--lc-tier", "smoke"], ["-n", "2"], ["--lc-data", "/data"],
                   ["--lc-results", str(tmp_path / "results")], ["--lc-run-id", "night1"]):
        start = command.index(option[0])
        assert command[start:start + 2] == option
    assert "--lc-rerun" in command and "--lc-allow-unverified" in command
    assert command[command.index("--lc-reuse-from") + 1] == "night0"
    out = capsys.readouterr().out
    assert f"results: {tmp_path / 'results' / 'night1'}" in out
    assert (tmp_path / "results" / "night1" / "report.md").is_file()


def test_run_without_results_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli.subprocess, "call", lambda command: 4)
    assert main(["run", "--results", str(tmp_path / "results")]) == 4
    assert "left no run" in capsys.readouterr().err


def test_pytest_command_leaves_unset_options_to_the_harness():
    args = argparse.Namespace(claims="claims", results="results", tier=None, n=None, rerun=False,
                              data=None, run_id=None, reuse_from=None, allow_unverified=False)
    command = cli.pytest_command(args)
    assert command[1:] == ["-m", "pytest", "claims", "--lc-results", "results"]


def test_the_nightly_script_is_valid_bash_and_wired_into_tox():
    root = Path(__file__).parents[1]
    script = root / ".ci" / "nightly"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    for step in ("run --tier", "--rerun", "report.md", "compare", "--tolerance-file"):
        assert step in text, step
    tox = root / "tox.ini"
    nightly = tox.read_text().split("[testenv:nightly]", 1)[1].split("\n[", 1)[0]
    assert "bash .ci/nightly" in nightly
    from lcsuite.reporting.compare import Tolerances

    tolerances = Tolerances.from_file(root / ".ci" / "nightly-tolerances.toml")
    assert tolerances.default == 0.1
    assert tolerances.for_path("huang2020/appB_layerwise_cost/width=256/headline/speedup") == float("inf")


def test_data_download_without_a_root_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("LCSUITE_DATA", raising=False)
    assert main(["data", "download", "mnist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no data root") and "Traceback" not in err


def test_data_download_calls_the_downloader_for_each_named_set(tmp_path, monkeypatch, capsys):
    calls = []
    import lcsuite.data as data

    monkeypatch.setattr(data, "download_mnist", lambda root: calls.append(("mnist", root)) or Path(root))
    monkeypatch.setattr(data, "download_cifar", lambda root, n: calls.append((n, root)) or Path(root))
    assert main(["data", "download", "mnist", "cifar100", "--data", str(tmp_path)]) == 0
    assert calls == [("mnist", str(tmp_path)), (100, str(tmp_path))]


def test_version_prints_the_package_version(capsys):
    import lcsuite

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lcsuite {lcsuite.__version__}"


def test_report_into_a_directory_and_unwritable_outputs_are_one_line(tmp_path, capsys):
    write_run(tmp_path / "results", "r1", sample_items()[:1])
    assert main(["report", str(tmp_path / "results"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is a directory" in err and err.count("\n") == 1


def test_run_refuses_a_run_id_with_a_path_separator(tmp_path, capsys):
    assert main(["run", "--results", str(tmp_path), "--run-id", "../escape"]) == 2
    err = capsys.readouterr().err
    assert "invalid run id '../escape'" in err and "Traceback" not in err
