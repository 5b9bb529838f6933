"""pytest plugin: claim files as tests (``pytest claims/ -n 4``).

Loaded through the ``pytest11`` entry point. A ``.toml`` file is a claim file when it has the
top-level keys ``id`` and ``experiment`` and at least one ``[[expect]]`` table; other TOML files
are ignored, so claim files are collected from any folder given on the command line (or the
``testpaths`` ini option). ``--lc-claims`` makes collection strict: every collected ``.toml``
must then be a valid claim file. One test item per grid point, e.g.
``claims/fig5_bn_improves_conditioning.toml::init=he`` (``::default`` without a grid).

A run (``--lc-run-id``, default a fresh timestamped id) lives in ``<results>/<run-id>/``; the
process that collects (the xdist controller, or the single process) writes the plan of the
collected items when the run starts, and after the last item prints the verdict table read back
from the run directory, so items that never finished show as missing.

Executors (``--lc-executor``): ``inline`` measures items in this process and its xdist workers;
``local`` and ``slurm`` hand the items still to do to local processes or Slurm job-array tasks
(:mod:`lcsuite.harness.executors`, through submitit), wait for them, and judge them here from the
stored results; ``--lc-submit-only`` stops after submitting. ``--lc-collect-only`` (any executor)
measures nothing: it judges the run's stored results, after waiting for the jobs of its manifest.

Exit status: 0 when no item is contradicted, failed or errored (inconclusive allowed); 1 when
some item is contradicted or failed; 2 for pytest's own (usage, interrupted, a malformed claim
file); :data:`EXIT_ERRORED` (6) when an item errored or is missing (a crash must never pass).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lcsuite.harness import devices, runs
from lcsuite.harness.determinism import prepare_cuda_environment
from lcsuite.harness.enums import TIER_NAMES, Verdict
from lcsuite.harness.session import LcSession, is_claim_file

VERDICT_PROPERTY = "lcsuite_verdict"
VARIANT_PROPERTY = "lcsuite_variant"
EXIT_ERRORED = 6
_STATE = pytest.StashKey[LcSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lcsuite", "lcsuite claim files")
    group.addoption("--lc-tier", choices=TIER_NAMES, default=None,
                    help="claim tier to run (default: gpu when CUDA is available, else smoke)")
    group.addoption("--lc-results", default="results", metavar="DIR",
                    help="results directory (default: results/)")
    group.addoption("--lc-run-id", default=None, metavar="ID",
                    help="run id; an existing run of the same tier is resumed (its valid results kept)")
    group.addoption("--lc-reuse-from", default=None, metavar="RUN",
                    help="copy valid results of another run (a run id under --lc-results, or its folder)")
    group.addoption("--lc-rerun", action="store_true", default=False,
                    help="measure every item again, even when resuming a run that holds valid results")
    group.addoption("--lc-data", default=None, metavar="DIR",
                    help="data root for MNIST/CIFAR (default: $LCSUITE_DATA)")
    group.addoption("--lc-download", action="store_true", default=False,
                    help="let data loaders download missing data sets")
    group.addoption("--lc-allow-unverified", action="store_true", default=False,
                    help="let claims that require real data run on files whose checksums do not verify "
                         "(recorded in every result)")
    group.addoption("--lc-claims", action="store_true", default=False,
                    help="strict collection: every collected .toml file must be a valid claim file")
    _add_executor_options(group)


def _add_executor_options(group) -> None:
    group.addoption("--lc-executor", choices=("inline", "local", "slurm"), default="inline",
                    help="who measures the items: this process (and its xdist workers; the default), local "
                         "processes, or Slurm job-array tasks (through submitit); then they are judged here")
    group.addoption("--lc-submit-only", action="store_true", default=False,
                    help="local/slurm: submit the items still to do, write the manifest, and stop; judge later "
                         "with 'lcsuite collect RUN' or pytest on the same --lc-run-id")
    group.addoption("--lc-collect-only", action="store_true", default=False,
                    help="measure and submit nothing: wait for the jobs of the run's manifest (if any) and judge "
                         "the run's stored results; an item without one is missing (needs --lc-run-id of a run)")
    group.addoption("--lc-slurm-config", default=None, metavar="FILE",
                    help="cluster options file ([tool.lcsuite.slurm] of a TOML file; default: pyproject.toml's)")
    for name, kind, text in (("partition", str, "Slurm partition"), ("account", str, "Slurm account"),
                             ("qos", str, "Slurm QoS"), ("gpus_per_task", int, "GPUs per array task"),
                             ("cpus_per_task", int, "CPUs per array task"), ("mem_gb", float, "memory per array task (GiB)"),
                             ("time_min", int, "time limit per array task (minutes); past it the item is requeued"),
                             ("array_parallelism", int, "array tasks running at once"),
                             ("items_per_task", int, "items packed into one array task, run concurrently on its GPU")):
        group.addoption(f"--lc-slurm-{name.replace('_', '-')}", dest=f"lc_slurm_{name}", type=kind, default=None,
                        metavar=name.split("_")[0].upper(), help=text)
    group.addoption("--lc-slurm-sbatch", action="append", default=None, metavar="FLAG",
                    help="an extra sbatch flag, e.g. --lc-slurm-sbatch=--constraint=h100 (repeatable)")


def _session(config: pytest.Config) -> LcSession:
    return config.stash[_STATE]


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and config.pluginmanager.is_registered(state):
        config.pluginmanager.unregister(state)


def pytest_configure(config: pytest.Config) -> None:
    prepare_cuda_environment()
    try:
        state = LcSession(config)
    except runs.RunError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "lcsuite-session")
    if state.is_worker and state.cuda_count:
        devices.pin_worker_to_gpu(state.worker_id, state.cuda_count)  # before anything starts CUDA


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: hand the run id, tier and device count to each worker."""
    node.workerinput["lcsuite"] = _session(node.config).for_workers()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """xdist controller: plan the run from the first worker's collection."""
    _session(node.config).plan_from_node_ids(ids)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = _session(session.config)
    if not state.is_worker:
        state.plan_from_items([item for item in session.items if isinstance(item, ClaimItem)])


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    return _session(config).header()


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix != ".toml":
        return None
    if parent.config.getoption("lc_claims") or is_claim_file(file_path):
        return ClaimFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Let the other claims run when the only collection errors are malformed claim files; with
    a local or Slurm executor, hand the items to it first (and stop there with --lc-submit-only)."""
    state = _session(session.config)
    if state.claim_collect_errors and session.testsfailed == len(state.claim_collect_errors):
        session.config.option.continue_on_collection_errors = True
    items = [item for item in session.items if isinstance(item, ClaimItem)]
    if state.is_worker or not items or state.executor == "inline" or session.config.option.collectonly:
        return None
    try:
        if state.dispatch(items):
            return True  # submit-only: nothing is judged in this session
    except (runs.RunError, ValueError, RuntimeError) as exc:
        raise pytest.UsageError(f"--lc-executor {state.executor}: {exc}") from None
    return None


_STATUS = {
    Verdict.HOLDS: ("H", {"green": True}), Verdict.INCONCLUSIVE: ("I", {"yellow": True}),
    Verdict.NOT_VALID: ("V", {"yellow": True}), Verdict.CONTRADICTED: ("C", {"red": True}),
}


def pytest_report_teststatus(report, config):
    """The verdict in pytest's own words, so that its summary line counts holds, contradicted and
    inconclusive items. Inconclusive and not-valid items pass for pytest but are never green;
    a variant's verdict is shown as such and never fails the run."""
    properties = dict(report.user_properties) if report.when == "call" else {}
    verdict, variant = properties.get(VERDICT_PROPERTY), properties.get(VARIANT_PROPERTY)
    if verdict is None:
        return None
    verdict = Verdict(verdict)
    if variant and not verdict.is_error:
        return f"variant {verdict}", "v", (f"VARIANT {str(verdict).upper()}", {"yellow": not verdict.is_green})
    if verdict in _STATUS:
        letter, markup = _STATUS[verdict]
        return str(verdict), letter, (str(verdict).upper(), markup)
    return None


def pytest_terminal_summary(terminalreporter) -> None:
    """The verdict table, printed once: by the controller (or single process), never by workers."""
    from lcsuite.reporting.table import render_table

    state = _session(terminalreporter.config)
    if state.submission is not None:
        terminalreporter.write_sep("=", f"lcsuite: submitted to {state.executor} (run {state.run_id})")
        terminalreporter.write_line(state.submission.describe())
        terminalreporter.write_line(f"Follow them with 'lcsuite status {state.run_dir}'; judge them with "
                                    f"'lcsuite collect {state.run_dir}'.")
        return
    records = state.session_records()
    if not records:
        return
    terminalreporter.write_sep("=", f"lcsuite claims (tier {state.tier}, run {state.run_id})")
    missing = [r.key for r in records if r.verdict == Verdict.MISSING]
    if missing:
        terminalreporter.write_line(f"incomplete: {len(records) - len(missing)} of {len(records)} items "
                                    f"finished; missing: {', '.join(missing)}", red=True)
    terminalreporter.write_line(render_table(records))
    terminalreporter.write_line(f"results: {state.run_dir}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = _session(session.config)
    if state.is_worker or state.submission is not None:  # submit-only: nothing was judged
        return
    if state.claim_collect_errors and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = pytest.ExitCode.INTERRUPTED  # a malformed claim file fails the run
        return
    if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return
    records = state.session_records()
    if any(Verdict(r.verdict).is_error for r in records):
        session.exitstatus = EXIT_ERRORED
    elif any(Verdict(r.verdict).is_red for r in records if r.variant is None):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class ClaimFile(pytest.File):
    """A claim file; its items are the grid points at the selected tier."""

    def collect(self):
        from lcsuite.harness.schema import ClaimError, load_claim

        state = _session(self.config)
        try:
            claim = load_claim(self.path, display=state.display_path(self.path))
        except ClaimError as exc:
            raise self.CollectError(str(exc)) from None
        tier = state.tier
        if tier not in claim.tiers:
            pytest.skip(f"{claim.display}: defines no [tier.{tier}] (tiers: {', '.join(claim.tiers)})")
        for item, grid_point, _ in claim.all_items():
            yield ClaimItem.from_parent(self, name=item, claim=claim, grid_point=grid_point)


class ClaimOutcome(Exception):
    """A claim item that did not hold; carries its verdict record for the failure text."""

    def __init__(self, record):
        super().__init__(record.message)
        self.record = record


class ClaimItem(pytest.Item):
    """One grid point of a claim at the selected tier."""

    def __init__(self, *, claim, grid_point: dict, **kwargs):
        super().__init__(**kwargs)
        self.claim = claim
        self.grid_point = grid_point

    def spec(self, state: LcSession):
        return self.claim.item_spec(state.tier, self.name, self.grid_point, state.allow_unverified)

    def runtest(self) -> None:
        from lcsuite.harness.runner import judge_after_executor, judge_collected, run_item

        state = _session(self.config)
        if state.executor == "inline" and state.collect_only:
            record = judge_collected(self.claim, self.name, self.grid_point, state.run_settings())
        elif state.executor == "inline":
            record = run_item(self.claim, self.name, self.grid_point, state.run_settings())
        else:
            key = self.spec(state).key
            record = judge_after_executor(self.claim, self.name, self.grid_point, state.run_settings(),
                                          state.outcomes.get(key), state.reused.get(key))
        self.user_properties += [(VERDICT_PROPERTY, record.verdict), (VARIANT_PROPERTY, record.variant)]
        verdict = Verdict(record.verdict)
        if verdict.is_error or (verdict.is_red and record.variant is None):
            raise ClaimOutcome(record)  # a variant's red verdict is a robustness finding, not a failure

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ClaimOutcome):
            return format_outcome(self.claim, excinfo.value.record)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"claim {self.claim.id} [{self.name}] ({self.claim.ref})"


def format_outcome(claim, record) -> str:
    """The failure text, in the claim's words."""
    lines = [
        f"claim {claim.id} [{record.item}], {claim.ref}, tier {record.tier}: {record.verdict.upper()}",
        f"  statement: {claim.statement}",
        f"  {record.message}",
    ]
    for expectation in record.expectations:
        if Verdict(expectation["verdict"]).rank == 0:
            continue
        lines += [f"  expectation: {expectation['description']}",
                  f"    expected: {expectation['expected']}",
                  f"    measured: {expectation['measured']}"]
        if expectation.get("where"):
            lines.append(f"    where:    {expectation['where']}")
    if record.data:
        lines.append(f"  data: {', '.join(record.data)}")
    if record.note:
        lines.append(f"  note: {record.note}")
    return "\n".join(lines)

