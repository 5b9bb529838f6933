"""``lcsuite doctor``: layer-wise conditioning diagnoses on a user's own model."""

from __future__ import annotations

import sys

from lcsuite.cli.common import EXIT_OK, EXIT_USAGE


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


def add_parsers(sub) -> None:
    """The ``doctor`` subcommand's arguments."""
    from lcsuite.monitor.doctor import DATASETS

    p = sub.add_parser(
        "doctor", help="diagnose your own model (a factory in MODEL.py) with the layer-wise conditioning rules",
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
