"""Cluster options: what each array task asks the scheduler for, from TOML and overrides.

Sources, later ones winning: the defaults below; a TOML table, either ``[tool.lcsuite.slurm]``
of ``pyproject.toml`` or a given file (its ``[tool.lcsuite.slurm]`` table, else its ``[slurm]``
table, else its top level); then overrides (e.g. ``--lc-slurm-*`` command-line options; a
None value means "not given"). Keys may be written with dashes or underscores
(``items-per-task`` = ``items_per_task``).

All requests are per array task. With ``items_per_task = K``, K tasks share one array task,
and with it its GPUs, CPUs and memory, and run concurrently in K processes.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

__all__ = ["ClusterOptions", "options_from_mapping", "load_cluster_options", "submitit_parameters"]


@dataclass(frozen=True)
class ClusterOptions:
    """Per-array-task requests.

    partition, account, qos: passed to sbatch when set.
    gpus_per_task, cpus_per_task: counts (gpus 0 = none requested).
    mem_gb: memory per array task in GiB (None: the partition's default).
    time_min: time limit in minutes; a task still running then is signalled, checkpointed and
    requeued (at most ``max_requeues`` times).
    array_parallelism: at most this many array tasks run at once (Slurm only).
    items_per_task: tasks packed into one array task, run concurrently (D8).
    extra_sbatch: further sbatch flags, each ``--name=value`` or ``--flag``.
    signal_delay_s: seconds before the time limit at which the job is signalled (USR2).
    max_requeues: requeues after time limits before the task fails (submitit's
    ``max_num_timeout``; preemptions do not count).
    """

    partition: str | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None
    time_min: int = 60
    account: str | None = None
    qos: str | None = None
    array_parallelism: int = 256
    items_per_task: int = 1
    extra_sbatch: tuple[str, ...] = ()
    signal_delay_s: int = 90
    max_requeues: int = 3

    def __post_init__(self) -> None:
        _check_counts(self)
        for flag in self.extra_sbatch:
            _parse_sbatch_flag(flag)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for the manifest)."""
        out = dataclasses.asdict(self)
        out["extra_sbatch"] = list(self.extra_sbatch)
        return out


_MINIMUM = {"gpus_per_task": 0, "cpus_per_task": 1, "time_min": 1, "array_parallelism": 1,
            "items_per_task": 1, "signal_delay_s": 0, "max_requeues": 0}


def _check_counts(options: ClusterOptions) -> None:
    for name, low in _MINIMUM.items():
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"cluster option {name}: expected an integer >= {low}, got {value!r}")
    if options.mem_gb is not None and (isinstance(options.mem_gb, bool)
                                       or not isinstance(options.mem_gb, (int, float)) or options.mem_gb <= 0):
        raise ValueError(f"cluster option mem_gb: expected a positive number, got {options.mem_gb!r}")
    for name in ("partition", "account", "qos"):
        value = getattr(options, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"cluster option {name}: expected a non-empty string, got {value!r}")


def _parse_sbatch_flag(flag: Any) -> tuple[str, Any]:
    """``--name=value`` -> (name, value); ``--flag`` -> (flag, True)."""
    if not isinstance(flag, str) or not flag.startswith("--") or len(flag) < 3 or " " in flag.split("=")[0]:
        raise ValueError(f"cluster option extra_sbatch: {flag!r} is not of the form --name=value or --flag")
    name, sep, value = flag[2:].partition("=")
    return name, (value if sep else True)


def options_from_mapping(mapping: Mapping[str, Any], source: str = "options",
                         base: ClusterOptions | None = None) -> ClusterOptions:
    """``base`` (defaults) updated with ``mapping``; None values are ignored.

    Raises ValueError naming ``source`` and the key for unknown keys and bad values.
    """
    known = {f.name for f in fields(ClusterOptions)}
    updates: dict[str, Any] = {}
    for raw_key, value in mapping.items():
        key = str(raw_key).replace("-", "_")
        if key not in known:
            raise ValueError(f"{source}: unknown cluster option {raw_key!r}; known: {', '.join(sorted(known))}")
        if value is None:
            continue
        if key == "extra_sbatch":
            value = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else value
        if key == "mem_gb" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        updates[key] = value
    try:
        return dataclasses.replace(base or ClusterOptions(), **updates)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{source}: {error}") from None


def _toml_table(path: Path) -> Mapping[str, Any]:
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: invalid TOML: {error}") from None
    tool = document.get("tool", {}).get("lcsuite", {})
    if "slurm" in tool:
        return tool["slurm"]
    if path.name == "pyproject.toml":
        return {}
    return document.get("slurm", document)


def load_cluster_options(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None,
                         search_dir: str | os.PathLike | None = None) -> ClusterOptions:
    """Options from ``path`` (or ``<search_dir or cwd>/pyproject.toml`` when present), then
    ``overrides``. A given ``path`` that does not exist is an error."""
    options = ClusterOptions()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"cluster options file {path} does not exist")
    else:
        candidate = Path(search_dir or Path.cwd()) / "pyproject.toml"
        path = candidate if candidate.is_file() else None
    if path is not None:
        options = options_from_mapping(_toml_table(path), source=str(path), base=options)
    if overrides:
        options = options_from_mapping(overrides, source="overrides", base=options)
    return options


def submitit_parameters(options: ClusterOptions, executor: str) -> dict[str, Any]:
    """The keyword arguments for ``update_parameters`` of submitit's concrete executor."""
    if executor == "local":
        return {"timeout_min": options.time_min, "gpus_per_node": options.gpus_per_task,
                "signal_delay_s": options.signal_delay_s}
    if executor != "slurm":
        raise ValueError(f"no submitit parameters for executor {executor!r}")
    params: dict[str, Any] = {
        "job_name": "lcsuite",
        "time": options.time_min,
        "cpus_per_task": options.cpus_per_task,
        "array_parallelism": options.array_parallelism,
        "signal_delay_s": options.signal_delay_s,
    }
    optional = {"partition": options.partition, "account": options.account, "qos": options.qos,
                "gpus_per_task": options.gpus_per_task or None,
                "mem": f"{int(round(options.mem_gb * 1024))}M" if options.mem_gb else None}
    params.update({k: v for k, v in optional.items() if v is not None})
    if options.extra_sbatch:
        params["additional_parameters"] = dict(_parse_sbatch_flag(flag) for flag in options.extra_sbatch)
    return params
