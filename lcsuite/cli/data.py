"""Commands on data: ``data check`` and ``data download``."""

from __future__ import annotations

import sys
from pathlib import Path

from lcsuite.cli.common import EXIT_NO_DATA, EXIT_OK
from lcsuite.reporting.loading import ResultsError


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


def add_parsers(sub) -> None:
    """The ``data check`` and ``data download`` subcommands."""
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
