"""``python -m bench``: run the benchmark cases, print a table per case, write JSON.

Usage::

    python -m bench [--quick] [--json out.json] [--cases overhead,monitor,appb,peers,memory]
                    [--device cpu|cuda]

Run it outside pytest-xdist, on an otherwise idle machine where possible
(``OMP_NUM_THREADS=1`` for figures comparable across machines). The exit status is 1 when
lcsuite and a peer library disagree (a correctness failure); a missed speed goal is
reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from lcsuite.harness.devices import limit_loaded_blas_pools

from bench import agreement, appb, memory, monitor, overhead, peers
from bench.config import full_config, quick_config
from bench.machine import machine_info

__all__ = ["CASES", "main", "run_cases"]

CASES = {"overhead": overhead.run, "monitor": monitor.run, "appb": appb.run, "peers": peers.run,
         "memory": memory.run}


def _json_default(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def run_cases(config, cases, echo=print) -> dict:
    """Run ``cases`` (names from :data:`CASES`) and return the JSON document as a dict."""
    device = config.torch_device
    document = {"schema": "lcsuite-bench/1", "machine": machine_info(device),
                "config": config.to_dict(), "cases": {}}
    for name in cases:
        started = time.perf_counter()
        result = CASES[name](config)
        entry = result.to_dict()
        entry["elapsed_s"] = time.perf_counter() - started
        document["cases"][name] = entry
        echo(result.table())
        echo(f"({name}: {entry['elapsed_s']:.1f} s)\n")
    document["goals"] = [dict(g, case=n) for n, c in document["cases"].items()
                         for g in c.get("goals", [])]
    return document


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds; code paths only)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device of the overhead case (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own; 1 with --quick)")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; valid: {', '.join(CASES)}")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is available")
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    if threads is not None:
        torch.set_num_threads(threads)
        limit_loaded_blas_pools(threads)  # numpy's BLAS (the capture's CPU Gram) as well
    config = (quick_config if args.quick else full_config)(args.device)
    config.threads = threads
    info = machine_info(config.torch_device)
    print(f"lcsuite bench ({'quick' if args.quick else 'full'}) on {info['device_name']}, "
          f"{info['usable_cpus']} usable CPUs, torch {info['versions']['torch']} "
          f"({info['torch_threads']} threads), commit {str(info['git_commit'])[:10]}\n")
    try:
        document = run_cases(config, cases)
    except agreement.AgreementError as error:
        print(f"AGREEMENT FAILURE: {error}", file=sys.stderr)
        return 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump(document, f, indent=1, default=_json_default)
        print(f"wrote {args.json}")
    return 0
