"""pytest plugin: claim files as tests (``pytest claims/ -n 4``).

Loaded through the ``pytest11`` entry point. It collects ``*.toml`` files whose directory is
named ``claims`` (or every ``.toml`` with ``--lc-claims``), one item per grid point:
``claims/fig5_bn_improves_conditioning.toml::init=he`` (``::default`` without a grid). Ordinary
test files are left alone.

Run ids: the controller (or the single process without xdist) picks the run id and reads the
previous run id from ``<results>/LATEST`` at configure time; xdist workers receive both (and the
tier, and the number of CUDA devices) through ``workerinput["lcsuite"]``. ``LATEST`` is
rewritten when the first item of a run starts.

Malformed claim files are collection errors (``file: key.path: message``); the other claims
still run, and the exit status is 2 (as for any collection error) so CI notices.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from lcsuite.harness import devices, store
from lcsuite.harness.schema import TIERS, Claim, ClaimError, load_claim

SUMMARY_PROPERTY = "lcsuite_summary"
_log = logging.getLogger("lcsuite")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lcsuite", "lcsuite claim files")
    group.addoption("--lc-tier", choices=TIERS, default=None,
                    help="claim tier to run (default: gpu when CUDA is available, else smoke)")
    group.addoption("--lc-results", default="results", metavar="DIR",
                    help="results directory (default: results/)")
    group.addoption("--lc-rerun", action="store_true", default=False,
                    help="recompute items even if a stored result with the same spec exists")
    group.addoption("--lc-data", default=None, metavar="DIR",
                    help="data root for MNIST/CIFAR (default: $LCSUITE_DATA)")
    group.addoption("--lc-download", action="store_true", default=False,
                    help="let data loaders download missing data sets")
    group.addoption("--lc-run-id", default=None, metavar="ID",
                    help="use this run id (e.g. to resume into an existing run directory)")
    group.addoption("--lc-claims", action="store_true", default=False,
                    help="treat every collected .toml file as a claim file")


class LcState:
    """Per-session plugin state (stored on the config)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.worker_info: dict[str, Any] | None = None
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None:
            self.worker_info = workerinput.get("lcsuite")
            self.worker_id = workerinput.get("workerid")
            self.n_workers = int(workerinput.get("workercount", 1))
        else:
            self.worker_id = None
            self.n_workers = 1
        results = Path(config.getoption("lc_results"))
        self.results_dir = results if results.is_absolute() else Path(config.invocation_params.dir) / results
        if self.worker_info:
            self.run_id = self.worker_info["run_id"]
            self.previous_run_id = self.worker_info["previous_run_id"]
        else:
            self.run_id = config.getoption("lc_run_id") or store.new_run_id()
            previous = store.read_latest(self.results_dir)
            self.previous_run_id = previous if previous != self.run_id else None
        self._tier: str | None = None
        self._cuda_count: int | None = None
        self.summaries: dict[str, Any] = {}
        self.claim_collect_errors: set[str] = set()

    @property
    def is_worker(self) -> bool:
        return self.worker_id is not None

    @property
    def tier(self) -> str:
        """The tier; resolving the default asks torch (controller only, on first need)."""
        if self._tier is None:
            option = self.config.getoption("lc_tier")
            if option:
                self._tier = option
            elif self.worker_info and self.worker_info.get("tier"):
                self._tier = self.worker_info["tier"]
            else:
                self._tier = "gpu" if self.cuda_count > 0 else "smoke"
        return self._tier

    @property
    def cuda_count(self) -> int:
        if self._cuda_count is None:
            if self.worker_info is not None:
                self._cuda_count = int(self.worker_info.get("cuda_count", 0))
            else:
                self._cuda_count = devices.cuda_device_count()
        return self._cuda_count

    def for_workers(self) -> dict[str, Any]:
        tier = self.tier
        return {
            "run_id": self.run_id,
            "previous_run_id": self.previous_run_id,
            "tier": tier,
            "cuda_count": self.cuda_count if tier != "smoke" else 0,
        }

    # hooks (the state object is registered as a plugin) -----------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # In the controller too: xdist forwards the workers' failed collect reports.
        if report.failed and report.nodeid.split("::")[0].endswith(".toml"):
            self.claim_collect_errors.add(report.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Let the other claims run when the only collection errors are malformed claim files."""
        if self.claim_collect_errors and session.testsfailed == len(self.claim_collect_errors):
            session.config.option.continue_on_collection_errors = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == SUMMARY_PROPERTY:
                from lcsuite.harness.runner import ItemSummary

                self.summaries[report.nodeid] = ItemSummary.from_json(value)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """The pass/fail table, printed once: by the controller, never by xdist workers."""
        if self.is_worker or not self.summaries:
            return
        from lcsuite.harness.table import render_table

        terminalreporter.write_sep("=", f"lcsuite claims (tier {self.tier}, run {self.run_id})")
        terminalreporter.write_line(render_table(self.summaries.values()))
        terminalreporter.write_line(f"results: {self.results_dir / self.run_id}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # A malformed claim file fails the run like any collection error (exit status 2).
        if self.claim_collect_errors and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.INTERRUPTED

    def settings(self):
        from lcsuite.harness.runner import RunSettings

        data = self.config.getoption("lc_data") or os.environ.get("LCSUITE_DATA")
        return RunSettings(
            results_dir=self.results_dir, run_id=self.run_id, previous_run_id=self.previous_run_id,
            tier=self.tier, data_root=Path(data) if data else None,
            device="cpu" if self.tier == "smoke" or self.cuda_count == 0 else "cuda",
            download=self.config.getoption("lc_download"), rerun=self.config.getoption("lc_rerun"),
            n_workers=self.n_workers, progress=_log.info,
        )


_STATE = pytest.StashKey[LcState]()


def _state(config: pytest.Config) -> LcState:
    return config.stash[_STATE]


def _may_collect_claims(config: pytest.Config) -> bool:
    """Whether this run may collect claim files (decides eager tier resolution)."""
    if config.getoption("lc_claims"):
        return True
    for arg in config.args:
        path = Path(arg.split("::")[0])
        if path.suffix == ".toml" or "claims" in path.parts or (path.is_dir() and (path / "claims").is_dir()):
            return True
    return False


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and config.pluginmanager.is_registered(state):
        config.pluginmanager.unregister(state)


def pytest_configure(config: pytest.Config) -> None:
    state = LcState(config)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "lcsuite-state")
    if state.is_worker:
        if state.n_workers > 1:
            devices.cap_threads(state.n_workers)
        if state.worker_info and state.worker_info.get("cuda_count"):
            # Before anything initialises CUDA in this worker process.
            devices.pin_worker_to_gpu(state.worker_id, state.worker_info["cuda_count"])
    elif config.pluginmanager.hasplugin("dsession") and _may_collect_claims(config):
        state.tier  # the controller decides once, so workers never ask CUDA


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: hand the run id, tier and device count to each worker."""
    node.workerinput["lcsuite"] = _state(node.config).for_workers()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = _state(config)
    if not _may_collect_claims(config):
        return None
    return [f"lcsuite: tier={state.tier} run={state.run_id} results={state.results_dir}"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".toml" and (file_path.parent.name == "claims" or parent.config.getoption("lc_claims")):
        return ClaimFile.from_parent(parent, path=file_path)
    return None


def _display_path(config: pytest.Config, path: Path) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


class ClaimFile(pytest.File):
    """A claim file; its items are the grid points at the selected tier."""

    def collect(self):
        state = _state(self.config)
        try:
            claim = load_claim(self.path, display=_display_path(self.config, self.path))
        except ClaimError as exc:
            raise self.CollectError(str(exc)) from None
        tier = state.tier
        if tier not in claim.tiers:
            pytest.skip(f"{claim.display}: defines no [tier.{tier}] (tiers: {', '.join(claim.tiers)})")
        for item, grid_point in claim.items():
            yield ClaimItem.from_parent(self, name=item, claim=claim, grid_point=grid_point)


class ClaimOutcome(Exception):
    """A claim item that did not pass; carries its summary for the report."""

    def __init__(self, summary):
        super().__init__(summary.message)
        self.summary = summary


class ClaimItem(pytest.Item):
    """One grid point of a claim at the selected tier."""

    def __init__(self, *, claim: Claim, grid_point: dict, **kwargs):
        super().__init__(**kwargs)
        self.claim = claim
        self.grid_point = grid_point

    def runtest(self) -> None:
        from lcsuite.harness.runner import run_item

        summary = run_item(self.claim, self.name, self.grid_point, _state(self.config).settings())
        self.user_properties.append((SUMMARY_PROPERTY, summary.to_json()))
        if summary.verdict != "pass":
            raise ClaimOutcome(summary)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ClaimOutcome):
            return format_outcome(self.claim, excinfo.value.summary)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"claim {self.claim.id} [{self.name}] ({self.claim.paper})"


def format_outcome(claim: Claim, summary) -> str:
    """The failure text, in the claim's words."""
    lines = [
        f"claim {claim.id} [{summary.item}], {claim.paper}, tier {summary.tier}: {summary.verdict.upper()}",
        f"  statement: {claim.statement}",
        f"  {summary.message}",
    ]
    for failure in summary.failures:
        lines += [
            f"  expectation: {failure['description']}",
            f"    expected: {failure['expected']}",
            f"    measured: {failure['measured']}",
        ]
        if failure["where"]:
            lines.append(f"    where:    {failure['where']}")
    if summary.data:
        lines.append(f"  data: {', '.join(summary.data)}")
    lines.append(f"  result: {summary.path}" + (" (reused)" if summary.reused else ""))
    return "\n".join(lines)


