"""The training-speed benchmark runs, reports and serialises (tiny case only)."""

import json

import torch

torch.set_num_threads(1)


def test_train_speed_bench_tiny_case(tmp_path, capsys, monkeypatch):
    import bench.train_speed as speed

    tiny = [speed.Case("tiny MLP, full-batch GD", "mlp", 2, 64, None, "gd")]
    report = speed.run_benchmarks("cpu", steps=2, repeats=2, warmup=1, cases=tiny)
    (row,) = report["results"]
    assert row["steps_per_s"] > 0 and row["repeats"] == 2 and row["batch"] == 64
    assert report["environment"]["torch"] == torch.__version__
    assert "tiny MLP" in speed.format_table(report)
    json.dumps(report)  # serialisable

    monkeypatch.setattr(speed, "default_cases", lambda device: tiny)
    out = tmp_path / "speed.json"
    speed.main(["--device", "cpu", "--steps", "1", "--repeats", "1", "--warmup", "1", "--json", str(out)])
    assert "steps/s" in capsys.readouterr().out
    assert json.loads(out.read_text())["results"][0]["case"] == "tiny MLP, full-batch GD"


def test_progress_cost_bench_tiny_case(capsys):
    import bench.progress_cost as cost

    result = cost.main(["--steps", "4", "--repeats", "1"])
    assert result["step_off_us"] > 0 and result["step_on_us"] > 0 and result["update_ns"] > 0
    assert "LoopProgress.update between lines" in capsys.readouterr().out
