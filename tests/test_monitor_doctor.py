"""``lcsuite doctor MODEL.py``: a user's factory analysed from the command line."""

import pytest

from lcsuite.cli import main
from lcsuite.monitor import read_history
from monitor_cases import one_thread  # noqa: F401

PLAIN = """
from lcsuite.models import MLP

def make_model():
    return MLP(784, 10, depth=10, width=32, init="random", bias=False)
"""


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LCSUITE_DATA", raising=False)  # MNIST not found: the digits substitute
    path = tmp_path / "model.py"
    path.write_text(PLAIN)
    return path


def test_doctor_at_initialisation_prints_the_table_and_the_findings(model_file, capsys):
    assert main(["doctor", str(model_file), "--batch-size", "128"]) == 0
    out = capsys.readouterr().out
    assert "data: digits (MNIST substitute)" in out and "SUBSTITUTE" in out
    assert "step 0 (1 batch(es)) fisher=empirical" in out and "layers.18" in out
    assert "vanishing_inputs" in out and "vanishing_gradients" in out and "layers 1-10" in out


def test_doctor_trains_and_records_along_the_way(model_file, capsys, tmp_path):
    history = tmp_path / "history.h5"
    code = main(["doctor", str(model_file), "--data", "digits", "--batch-size", "64", "--train", "4",
                 "--every", "2", "--save", str(history)])
    assert code == 0
    out = capsys.readouterr().out
    for step in (0, 2, 4):
        assert f"step {step}/4: loss" in out
    assert "findings at step 0:" in out and "findings at step 4:" in out
    attrs, _ = read_history(history)
    assert attrs["steps"] == [0, 2, 4]


@pytest.mark.parametrize("content, args, message", [
    (None, [], "no such file"),
    ("import torch\n", [], "no function make_model()"),
    (PLAIN, ["--factory", "build"], "no function build()"),
    ("def make_model():\n    raise RuntimeError('broken')\n", [], "make_model() raised RuntimeError: broken"),
    ("def make_model():\n    return 3\n", [], "returned int, not a torch.nn.Module"),
    ("import no_such_module_here\n", [], "importing it raised ModuleNotFoundError"),
    (PLAIN, ["--batch-size", "0"], "--batch-size"),
])
def test_doctor_usage_errors_are_one_line_with_exit_2(tmp_path, capsys, content, args, message):
    path = tmp_path / "model.py"
    if content is not None:
        path.write_text(content)
    assert main(["doctor", str(path), "--data", "digits", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
