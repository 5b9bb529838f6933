"""The benchmarks: ``python -m bench --quick`` runs and writes the JSON; the agreement check
with the peer libraries fails when the numbers disagree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASE_KEYS = {"title", "headers", "rows", "medians_s", "ratios", "goals", "notes", "elapsed_s"}
MACHINE_KEYS = {"hostname", "platform", "cpu_count", "usable_cpus", "torch_threads", "device",
                "versions", "git_commit", "timestamp"}

pytest.importorskip("curvlinops", reason="the peers case needs curvlinops")
pytest.importorskip("backpack", reason="the peers case needs BackPACK")


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    import bench.cli

    return bench


def test_quick_run_writes_json_with_expected_keys(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for case in ("== overhead", "== monitor", "== appb", "== peers", "== memory"):
        assert case in proc.stdout
    document = json.loads(out.read_text())
    assert set(document) >= {"schema", "machine", "config", "cases", "goals"}
    assert set(document["machine"]) >= MACHINE_KEYS
    assert set(document["machine"]["versions"]) >= {"torch", "lcsuite", "curvlinops", "backpack"}
    assert set(document["cases"]) == {"overhead", "monitor", "appb", "peers", "memory"}
    for name in ("overhead", "monitor", "appb", "peers"):
        case = document["cases"][name]
        assert set(case) >= CASE_KEYS, name
        assert case["medians_s"] and all(v > 0 for v in case["medians_s"].values()), name
        assert case["ratios"] and case["goals"], name
    assert document["cases"]["overhead"]["ratios"]["mlp/recorded_over_plain"] > 0
    assert set(document["cases"]["monitor"]["ratios"]) == {
        "mlp/skipped over plain", "mlp/skipped bound over plain", "mlp/recorded (empirical) over plain",
        "mlp/recorded (true) over plain"}
    peers = document["cases"]["peers"]
    assert peers["factors"]["max_relative_error"] < 1e-8
    assert peers["exact"]["max_relative_error"] < 1e-8
    assert any("skipped" in note for note in document["cases"]["appb"]["notes"])
    assert document["cases"]["memory"]["workloads"]


def test_unknown_case_is_a_usage_error(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.cli.main(["--cases", "nonsense"])
    assert exc.value.code == 2
    assert "unknown case" in capsys.readouterr().err


@pytest.mark.parametrize("perturb", [1e-6, -1e-4])
def test_agreement_check_fails_on_perturbed_numbers(bench, perturb):
    from bench.agreement import AgreementError
    from bench.config import quick_config
    from bench.peers import run

    config = quick_config()
    config.perturb = perturb
    with pytest.raises(AgreementError, match="disagree beyond rtol=1e-08"):
        run(config)


def test_agreement_check_names_every_offender(bench):
    from bench.agreement import AgreementError, check

    assert check({"a": 1e-12, "b": 0.0}) == {"a": 1e-12, "b": 0.0}
    with pytest.raises(AgreementError) as exc:
        check({"ok": 1e-15, "layer 1": 2e-7, "layer 2": float("nan")})
    assert "layer 1" in str(exc.value) and "layer 2" in str(exc.value)
    assert "ok:" not in str(exc.value)
