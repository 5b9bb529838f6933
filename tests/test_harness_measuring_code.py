"""The code part of the reuse key holds the code that can change a measurement, and nothing that
only collects, judges or reports (DECISIONS D1): editing a check, the schema, the pytest plugin
or the report keeps stored tensors; editing an experiment, a helper it imports, a model it names
or the analysis invalidates them; another paper's code never does."""

import importlib
import json
import os
import subprocess
import sys

import pytest
from torch import nn

# Loaded here so that the manifest is built while they are in the process, as in a pytest run.
import lcsuite.cli  # noqa: F401
import lcsuite.format  # noqa: F401
import lcsuite.harness.session  # noqa: F401
import lcsuite.harness.trends  # noqa: F401
import lcsuite.pytest_plugin  # noqa: F401
import lcsuite.reporting.report  # noqa: F401
from lcsuite.conditioning.layer_types import layer_type_of
from lcsuite.harness import measuring_code
from lcsuite.harness.experiments import EXPERIMENTS
from lcsuite.harness.measuring_code import changed_since_loaded, code_manifest, missing_exclusions
from lcsuite.harness.provenance import device_description, library_versions, stale_reasons
from lcsuite.harness.spec import ItemSpec
from lcsuite.registry import Registry, recording_use

COLLECT_JUDGE_REPORT = ("lcsuite.pytest_plugin", "lcsuite.harness.session", "lcsuite.harness.schema",
                        "lcsuite.harness.trends", "lcsuite.harness.judge", "lcsuite.harness.checks",
                        "lcsuite.harness.reuse", "lcsuite.format", "lcsuite.reporting", "lcsuite.cli")

MINI_PAPER = {
    "__init__.py": "from mini_paper import checks, experiments  # noqa: F401  (they register on import)\n",
    "experiments.py": "from lcsuite.conditioning import analyze  # noqa: F401\nfrom mini_paper import helpers\n",
    "helpers.py": "DEPTH = 3\n",
    "checks.py": "from lcsuite.harness.checks import Expectation  # noqa: F401\n",
    "models.py": "WIDTH = 2\n",
}


@pytest.fixture
def mini_paper(tmp_path, monkeypatch):
    """An out-of-package paper ``mini_paper`` (experiments, a helper, checks, models), imported."""
    package = tmp_path / "mini_paper"
    package.mkdir()
    for name, text in MINI_PAPER.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("mini_paper")
    importlib.import_module("mini_paper.models")
    yield package
    for name in [n for n in sys.modules if n == "mini_paper" or n.startswith("mini_paper.")]:
        del sys.modules[name]


def _under(modules, prefixes):
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def _provenance(manifest):
    return {"versions": library_versions(), "device": device_description("cpu"), "code": manifest}


def test_the_manifest_holds_the_measuring_code_and_nothing_that_collects_judges_or_reports(mini_paper):
    modules = code_manifest(["mini_paper.experiments"])
    assert {"mini_paper", "mini_paper.experiments", "mini_paper.helpers", "lcsuite.conditioning.analyze",
            "lcsuite.harness.measure", "lcsuite.harness.quantities", "lcsuite.harness.store"} <= set(modules)
    assert _under(modules, COLLECT_JUDGE_REPORT) == []
    assert "mini_paper.checks" not in modules and "mini_paper.models" not in modules
    assert _under(modules, ["lcsuite.papers"]) == []  # another paper's code


def test_another_papers_item_does_not_depend_on_this_paper_nor_on_its_siblings(mini_paper):
    EXPERIMENTS.names()  # loads the registered papers
    modules = code_manifest([EXPERIMENTS.owner("mlp_bn_conditioning")])
    assert {"lcsuite.papers.huang2020.experiments.mlp_dynamics", "lcsuite.conditioning.analyze"} <= set(modules)
    assert _under(modules, ["mini_paper"]) == [] and _under(modules, COLLECT_JUDGE_REPORT) == []
    assert "lcsuite.papers.huang2020.experiments.kronecker" not in modules  # imported by the paper, not the item


def test_the_owners_of_registry_entries_used_while_measuring_are_roots(mini_paper):
    widgets = Registry("widget", "test.measuring_code.widgets")
    widgets.register("mini", object(), owner="mini_paper.models")
    with recording_use() as used:
        widgets.get("mini")
        layer_type_of(nn.Linear(2, 2))
    assert used == {"mini_paper.models", "lcsuite.conditioning.layer_types"}
    assert "mini_paper.models" in code_manifest(["mini_paper.experiments", *used])
    widgets.get("mini")  # outside the block: recorded nowhere
    assert used == {"mini_paper.models", "lcsuite.conditioning.layer_types"}


def test_editing_a_measuring_module_invalidates_the_measurement(mini_paper):
    stored = _provenance(code_manifest(["mini_paper.experiments"]))
    versions, kind = stored["versions"], stored["device"]["kind"]
    assert stale_reasons(stored, versions, kind) == []
    (mini_paper / "helpers.py").write_text("DEPTH = 30\n")
    assert stale_reasons(stored, versions, kind) == ["source of mini_paper.helpers changed"]
    (mini_paper / "helpers.py").write_text(MINI_PAPER["helpers.py"])
    stored["code"]["lcsuite.conditioning.analyze"]["sha256"] = "0" * 64  # as after an edit of the analysis
    assert stale_reasons(stored, versions, kind) == ["source of lcsuite.conditioning.analyze changed"]


def test_every_excluded_module_exists(monkeypatch):
    assert missing_exclusions() == []
    monkeypatch.setattr(measuring_code, "NOT_MEASUREMENT", (*measuring_code.NOT_MEASUREMENT, "lcsuite.report"))
    assert missing_exclusions() == ["lcsuite.report"]


def test_the_manifest_records_the_source_loaded_not_the_file_as_edited_since(mini_paper):
    loaded = code_manifest(["mini_paper.experiments"])
    assert changed_since_loaded(loaded) == []
    (mini_paper / "helpers.py").write_text("DEPTH = 30\n")
    again = code_manifest(["mini_paper.experiments"])
    assert again["mini_paper.helpers"]["sha256"] == loaded["mini_paper.helpers"]["sha256"]
    assert changed_since_loaded(again) == ["mini_paper.helpers"]


SELF_EDITING = '''
from pathlib import Path
from lcsuite.harness.experiments import experiment

@experiment("self_editing", outputs={"total": ()}, params=("n",))
def self_editing(ctx):
    if ctx.seed == 1:  # an edit of the experiment's source while the item is measured
        Path(__file__).write_text(Path(__file__).read_text() + "# edited\\n")
    return {"total": float(ctx.params["n"])}
'''

MEASURE = '''
import json, sys
from pathlib import Path
from lcsuite.harness.measure import ItemTask, MeasureSettings
from lcsuite.harness.spec import ItemSpec
print(json.dumps(ItemTask(ItemSpec.from_dict(json.loads(sys.argv[1])), MeasureSettings(Path(sys.argv[2])))()))
'''


def test_an_item_whose_source_is_edited_while_it_is_measured_is_an_error(tmp_path):
    module = tmp_path / "self_editing_toys.py"
    module.write_text(SELF_EDITING)
    spec = ItemSpec("toy", "toy_claim", "default", "self_editing", "smoke", {"n": 3}, (0, 1))
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(spec.to_dict()), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "LCSUITE_PLUGINS": str(module)})
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "error"
    assert outcome["message"].startswith("the source of lcsuite_plugin_self_editing_toys changed on disk after this "
                                          "process loaded it")
