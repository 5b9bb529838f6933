"""The ``lcsuite`` command line: report, compare, list, run, data check, doctor.

Exit codes: 0 success; 1 a regression (``compare``) or failing claims (``run``, as pytest);
2 a usage problem or a missing, empty or corrupt results directory (one line on stderr).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from lcsuite.compare import DEFAULT_RTOL
from lcsuite.harness.schema import TIERS
from lcsuite.report import ResultsError

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2


# ----------------------------------------------------------------------------------------
# report / compare
# ----------------------------------------------------------------------------------------


def cmd_report(args) -> int:
    from lcsuite.report import write_report

    output = write_report(args.results_dir, args.output)
    print(f"report written to {output} (figures in {output.parent / (output.stem + '_figures')})")
    return EXIT_OK


def cmd_compare(args) -> int:
    from tabulate import tabulate

    from lcsuite.compare import compare_dirs, render_comparison

    comparison = compare_dirs(args.baseline_dir, args.new_dir, args.rtol, args.tolerance_file)
    rows = [[c.key, c.old, c.new, c.kind] for c in comparison.verdict_changes]
    rows += [[d.path, d.old, d.new, f"drift {d.drift:.3g} > {d.tolerance:.3g}"]
             for d in comparison.drift_regressions]
    rows += [[k, "present", "absent", "only in baseline"] for k in comparison.only_baseline]
    rows += [[k, "absent", "present", "only in new"] for k in comparison.only_new]
    print(f"compared {comparison.matched} items ({len(comparison.drifts)} numbers), "
          f"baseline {comparison.baseline_dir} -> new {comparison.new_dir}")
    if rows:
        print(tabulate(rows, headers=["item / path", "baseline", "new", "finding"]))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(render_comparison(comparison), encoding="utf-8")
        print(f"comparison written to {args.output}")
    if comparison.has_regression:
        print(f"REGRESSION: {len(comparison.regressions)} verdict regressions, "
              f"{len(comparison.drift_regressions)} drifts beyond tolerance")
        return EXIT_REGRESSION
    print("no regression")
    return EXIT_OK


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
    rows = [[c.id, c.paper, *(tier_items(c, t) for t in TIERS)] for c in claims]
    print(tabulate(rows, headers=["claim", "paper", *(f"items ({t})" for t in TIERS)]))
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
    return command


def cmd_run(args) -> int:
    from lcsuite.harness.store import new_run_id
    from lcsuite.report import write_report

    # The run id is fixed here, so the report is of this run even if pytest stops early.
    args.run_id = args.run_id or new_run_id()
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
    from tabulate import tabulate

    from lcsuite.data import describe_data

    if args.data and not Path(args.data).is_dir():
        raise ResultsError(f"data directory not found: {args.data}")
    inventory = describe_data(args.data)
    searched = inventory.get("searched") or []
    print("searched: " + (", ".join(searched) if searched else "nothing (give --data DIR or set LCSUITE_DATA)"))
    rows = []
    for name, splits in inventory.get("datasets", {}).items():
        for split, entry in splits.items():
            would_use = entry.get("would_use", "")
            rows.append([name, split, entry.get("found") or "not found", would_use,
                         entry.get("substitute", "") if would_use == "substitute" else ""])
    print(tabulate(rows, headers=["data set", "split", "found at", "smoke/gpu tiers use", "substitute"]))
    print("the paper tier refuses substitutes")
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
        description="Verify the claims of Huang et al. (ECCV 2020): run claims, report, compare runs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("report", help="markdown report with figures of one stored run")
    p.add_argument("results_dir", metavar="RESULTS_DIR",
                   help="a run directory, or a results root whose LATEST names the run")
    p.add_argument("-o", "--output", default="report.md",
                   help="report file (default report.md); figures go to <stem>_figures/ beside it")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="verdict flips and numeric drift between two runs",
                       description="Exit 1 on a regression (pass -> fail/error, or drift beyond "
                                   "tolerance), 0 otherwise.")
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
    p.add_argument("--run-id", metavar="ID", help="run id (default: the harness's timestamped id)")
    p.add_argument("--report", metavar="FILE", help="report path (default <run dir>/report.md)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("data", help="data sets: what is found, what is substituted")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    q = data_sub.add_parser("check", help="what data is found where, and what will be substituted")
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
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
