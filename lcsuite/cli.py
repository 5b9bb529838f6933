"""The ``lcsuite`` command line: report, compare, list, run, data check, doctor.

Exit codes (the README's table): 0 success; 1 a regression or a planned item missing
(``compare``), contradicted or failed claims (``run``, as pytest); 2 a usage problem, runs that
cannot be compared (different tiers, schema) or a missing, empty or unreadable results directory
(one line on stderr, never a traceback); ``run`` passes on pytest's status (6: an item errored);
``data check``: 0 usable data found, 1 the folders given hold nothing usable, 2 usage.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import lcsuite
from lcsuite.harness.enums import TIER_NAMES as TIERS
from lcsuite.harness.runs import RunError
from lcsuite.reporting.compare import DEFAULT_RTOL
from lcsuite.reporting.loading import ResultsError

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2
EXIT_NO_DATA = 1  # data check: the folders given hold nothing usable


# ----------------------------------------------------------------------------------------
# report / compare
# ----------------------------------------------------------------------------------------


def cmd_report(args) -> int:
    from lcsuite.reporting.report import write_report

    output = write_report(args.results_dir, args.output)
    print(f"report written to {output} (figures in {output.parent / (output.stem + '_figures')})")
    return EXIT_OK


def cmd_compare(args) -> int:
    from tabulate import tabulate

    from lcsuite.reporting.compare import compare_dirs, render_comparison, summary_line

    comparison = compare_dirs(args.baseline_dir, args.new_dir, args.rtol, args.tolerance_file)
    rows = [[c.key, c.old, c.new, c.kind] for c in comparison.verdict_changes]
    rows += [[key, "—", "—", f"planned, missing in {side}"] for key, side in comparison.missing]
    rows += [[d.path, d.old, d.new, f"drift {d.drift:.3g} > {d.tolerance:.3g}"]
             for d in comparison.drift_regressions]
    rows += [[k, "planned", "not planned", "plans differ"] for k in comparison.plan_only_baseline]
    rows += [[k, "not planned", "planned", "plans differ"] for k in comparison.plan_only_new]
    print(f"compared {comparison.matched} items ({len(comparison.drifts)} numbers), "
          f"baseline {comparison.baseline_dir} -> new {comparison.new_dir}")
    if rows:
        print(tabulate(rows, headers=["item / path", "baseline", "new", "finding"]))
    if args.output:
        _write_text(Path(args.output), render_comparison(comparison))
        print(f"comparison written to {args.output}")
    print(summary_line(comparison))
    return EXIT_REGRESSION if comparison.has_regression else EXIT_OK


def _write_text(path: Path, text: str) -> None:
    if path.is_dir():
        raise ResultsError(f"{path} is a directory; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------------------
# list
# ----------------------------------------------------------------------------------------



def load_claims(claims_dir: Path) -> list:
    """Every ``*.toml`` in ``claims_dir`` through the harness's claim loader."""
    from lcsuite.harness.schema import ClaimError, load_claim

    if not claims_dir.is_dir():
        raise ResultsError(f"claims directory not found: {claims_dir}")
    files = sorted(claims_dir.glob("*.toml"))
    if not files:
        raise ResultsError(f"no claim files (*.toml) in {claims_dir}")
    try:
        # The experiment registry is not consulted: listing must work without importing
        # every experiment; `pytest claims/` reports unknown experiments.
        return [load_claim(f, display=f.name, check_experiment=False) for f in files]
    except ClaimError as exc:
        raise ResultsError(str(exc).splitlines()[0]) from None


def tier_items(claim, tier: str) -> str:
    """``"<items> × <seeds> seeds"`` for a tier the claim defines, else ``"—"``."""
    if tier not in claim.tiers:
        return "—"
    return f"{len(claim.items())} × {len(claim.tiers[tier].seeds)} seeds"


def cmd_list(args) -> int:
    from tabulate import tabulate

    claims = load_claims(Path(args.claims))
    rows = [[c.id, c.paper, c.ref, *(tier_items(c, t) for t in TIERS)] for c in claims]
    print(tabulate(rows, headers=["claim", "paper", "ref", *(f"items ({t})" for t in TIERS)]))
    totals = [sum(len(c.items()) for c in claims if t in c.tiers) for t in TIERS]
    print(f"{len(claims)} claims; items per tier: "
          + ", ".join(f"{t} {n}" for t, n in zip(TIERS, totals)))
    return EXIT_OK


# ----------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------


def pytest_command(args) -> list[str]:
    """The ``pytest claims/`` command line for ``lcsuite run``'s options."""
    command = [sys.executable, "-m", "pytest", str(args.claims), "--lc-results", str(args.results)]
    if args.tier:
        command += ["--lc-tier", args.tier]
    if args.n is not None:
        command += ["-n", str(args.n)]
    if args.rerun:
        command.append("--lc-rerun")
    if args.data:
        command += ["--lc-data", str(args.data)]
    if args.run_id:
        command += ["--lc-run-id", args.run_id]
    if args.reuse_from:
        command += ["--lc-reuse-from", str(args.reuse_from)]
    if args.allow_unverified:
        command.append("--lc-allow-unverified")
    return command


def cmd_run(args) -> int:
    from lcsuite.harness.runs import new_run_id, validate_run_id
    from lcsuite.reporting.report import write_report

    # The run id is fixed here, so the report is of this run even if pytest stops early.
    args.run_id = validate_run_id(args.run_id) if args.run_id else new_run_id()
    command = pytest_command(args)
    print("running:", " ".join(command), flush=True)
    returncode = subprocess.call(command)
    run_dir = Path(args.results) / args.run_id
    if not run_dir.is_dir():
        print(f"error: pytest exited with {returncode} and left no run in {args.results}",
              file=sys.stderr)
        return returncode or EXIT_USAGE
    print(f"results: {run_dir}")
    report = Path(args.report) if args.report else run_dir / "report.md"
    try:
        write_report(run_dir, report)
        print(f"report: {report}")
    except ResultsError as exc:
        print(f"no report: {exc}", file=sys.stderr)
    return returncode


# ----------------------------------------------------------------------------------------
# data check
# ----------------------------------------------------------------------------------------


def cmd_data_check(args) -> int:
    """Verify the data the loaders would read. Exit 0 when some data set / split is usable,
    1 when the folders given (``--data``, ``$LCSUITE_DATA``) hold nothing usable or do not
    exist, 2 when no folder is given."""
    from tabulate import tabulate

    from lcsuite.data import ALLOW_UNVERIFIED_OPTION, ENV_VAR, candidate_roots, check_data

    roots = candidate_roots(args.data)
    if not roots:
        raise ResultsError(f"nothing to check: give --data DIR or set {ENV_VAR}")
    existing = [folder for folder in roots if folder.is_dir()]
    for folder in roots:
        if folder not in existing:
            print(f"error: data folder {folder} does not exist: nothing usable there", file=sys.stderr)
    if not existing:
        return EXIT_NO_DATA
    checks = check_data(args.data)
    print("searched: " + ", ".join(str(folder) for folder in existing))
    rows = [[c.dataset, c.split, c.status, c.folder or "—", c.detail] for c in checks]
    print(tabulate(rows, headers=["data set", "split", "status", "folder", "detail"]))
    if not any(check.usable for check in checks):
        print(f"error: no usable data in {', '.join(str(folder) for folder in existing)}", file=sys.stderr)
        return EXIT_NO_DATA
    print(f"Claims that require real data refuse unverified files unless run with {ALLOW_UNVERIFIED_OPTION}; "
          "the others use them, labelled [unverified]. A missing data set is replaced by a labelled "
          "substitute where the claim allows it.")
    return EXIT_OK


def cmd_data_download(args) -> int:
    """Download the named data sets; the only place (with ``--lc-download``) that does."""
    import os

    from lcsuite.data import ENV_VAR, download_cifar, download_mnist

    root = args.data or os.environ.get(ENV_VAR)
    if not root:
        raise ResultsError(f"no data root: give --data DIR or set {ENV_VAR}")
    Path(root).mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        try:
            folder = download_mnist(root) if name == "mnist" else download_cifar(root, int(name[5:]))
        except (OSError, RuntimeError) as exc:  # network errors surface as either
            raise ResultsError(f"downloading {name} into {root} failed: {exc}") from exc
        print(f"{name}: {folder}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------
# doctor
# ----------------------------------------------------------------------------------------


def cmd_doctor(args) -> int:
    """Diagnose a user's model factory at initialisation (and along ``--train`` SGD steps)."""
    from lcsuite.monitor.doctor import DoctorError, DoctorOptions, run_doctor

    options = DoctorOptions(
        model_file=args.model_file, factory=args.factory, data=args.data, data_dir=args.data_dir,
        batch_size=args.batch_size, train=args.train, every=args.every, lr=args.lr, fisher=args.fisher,
        conv_mode=args.conv_mode, seed=args.seed, device=args.device, save=args.save, plots=args.plots,
    )
    try:
        run_doctor(options)
    except DoctorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def add_doctor_parser(sub) -> None:
    """The ``doctor`` subcommand's arguments."""
    from lcsuite.monitor.doctor import DATASETS

    p = sub.add_parser(
        "doctor", help="diagnose your own model (a factory in MODEL.py) with the paper's rules",
        description="Analyse the model that MODEL.py's factory (default: def make_model() -> "
                    "torch.nn.Module) returns, at initialisation on one batch; with --train STEPS also "
                    "along that many SGD steps. Prints per-layer tables and findings. Exit 0; 2 for a "
                    "missing file or factory, or unusable data.")
    p.add_argument("model_file", metavar="MODEL.py", help="Python file defining the model factory")
    p.add_argument("--factory", default="make_model", help="factory function name (default make_model)")
    p.add_argument("--data", default="mnist", choices=DATASETS,
                   help="mnist (digits substitute when MNIST is not found), digits or cifar10 (default mnist)")
    p.add_argument("--data-dir", metavar="DIR", help="data root (default $LCSUITE_DATA)")
    p.add_argument("--batch-size", type=int, default=256, help="examples per batch (default 256)")
    p.add_argument("--train", type=int, default=0, metavar="STEPS", help="SGD steps to run (default 0)")
    p.add_argument("--every", type=int, metavar="K", help="record every K steps (default STEPS/5)")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--fisher", default="empirical", choices=["empirical", "true"])
    p.add_argument("--conv-mode", default="channel", choices=["channel", "patch"])
    p.add_argument("--seed", type=int, default=0, help="seed of the model factory and batches")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--save", metavar="FILE.h5", help="also write the history (HDF5)")
    p.add_argument("--plots", metavar="DIR", help="also write the figures (PNG)")
    p.set_defaults(func=cmd_doctor)


# ----------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcsuite",
        description="Layer-wise conditioning analysis and claim verification: run claims, report, compare runs.",
    )
    parser.add_argument("--version", action="version", version=f"lcsuite {lcsuite.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("report", help="markdown report with figures of one stored run")
    p.add_argument("results_dir", metavar="RESULTS_DIR",
                   help="a run directory, or a results root whose LATEST names the run")
    p.add_argument("-o", "--output", default="report.md",
                   help="report file (default report.md); figures go to <stem>_figures/ beside it")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="verdict changes, missing items and numeric drift between two runs",
                       description="Exit 1 on a regression (a verdict got worse, a planned item is missing, "
                                   "or drift beyond tolerance), 2 when the runs cannot be compared, 0 otherwise.")
    p.add_argument("baseline_dir", metavar="BASELINE_DIR")
    p.add_argument("new_dir", metavar="NEW_DIR")
    p.add_argument("--rtol", type=_positive_float, default=DEFAULT_RTOL,
                   help="default relative tolerance for drift (default 0.1)")
    p.add_argument("--tolerance-file", metavar="FILE",
                   help="TOML: 'default = x' and a [paths] table of fnmatch pattern = rtol")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the comparison as markdown")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("list", help="claims, paper references and item counts per tier")
    p.add_argument("--claims", default="claims", metavar="DIR", help="claim files (default claims/)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run the claims with pytest, then write the report")
    p.add_argument("--tier", choices=TIERS, help="default: the harness's (gpu with CUDA, else smoke)")
    p.add_argument("--results", default="results", metavar="DIR", help="results root (default results/)")
    p.add_argument("-n", type=int, metavar="N", help="pytest-xdist workers")
    p.add_argument("--rerun", action="store_true", help="rerun items even when results can be reused")
    p.add_argument("--data", metavar="DIR", help="data root (default $LCSUITE_DATA)")
    p.add_argument("--claims", default="claims", metavar="DIR", help="claim files (default claims/)")
    p.add_argument("--run-id", metavar="ID", help="run id (default: a fresh timestamped id); an existing run is resumed")
    p.add_argument("--reuse-from", metavar="RUN", help="copy the valid results of another run (its id or folder)")
    p.add_argument("--allow-unverified", action="store_true",
                   help="let claims that require real data run on unverified files (recorded)")
    p.add_argument("--report", metavar="FILE", help="report path (default <run dir>/report.md)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("data", help="data sets: what is found, whether it is verified; downloads")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    q = data_sub.add_parser(
        "check", help="verify the data sets found against their published digests",
        description="Exit 0 when usable data is found, 1 when the folders given hold nothing usable "
                    "(or do not exist), 2 when no folder is given.")
    q.add_argument("--data", metavar="DIR", help="data root (default $LCSUITE_DATA)")
    q.set_defaults(func=cmd_data_check)
    q = data_sub.add_parser("download", help="download MNIST / CIFAR into a data root (needs internet)")
    q.add_argument("datasets", nargs="+", choices=["mnist", "cifar10", "cifar100"])
    q.add_argument("--data", metavar="DIR", help="data root (default $LCSUITE_DATA)")
    q.set_defaults(func=cmd_data_download)
    add_doctor_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``lcsuite`` command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return args.func(args)
    except (ResultsError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
