"""md5 and sha256 of data files, cached so that a file is read once, not at every load.

The cache is one JSON file, ``digests.json``, in :func:`cache_dir`: ``$LCSUITE_CACHE``, else
``$XDG_CACHE_HOME/lcsuite``, else ``~/.cache/lcsuite``. It maps a file's resolved path to
``{"size", "mtime_ns", "inode", "md5", "sha256"}``; an entry is used only while the file's
size, mtime_ns and inode are all unchanged, else the file is hashed again. The cache holds
digests only: whether a digest is trusted is decided by the known digests in code
(:mod:`lcsuite.data.checksums`). It is written atomically (a temporary file renamed over it);
an unreadable or malformed cache counts as empty, and a cache that cannot be written is
skipped (the digests are then computed at every load).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CACHE_ENV", "CACHE_FILE", "FileDigests", "cache_dir", "file_digests"]

CACHE_ENV = "LCSUITE_CACHE"
CACHE_FILE = "digests.json"
_CHUNK = 1 << 20
_HEX_LENGTHS = {"md5": 32, "sha256": 64}


@dataclass(frozen=True)
class FileDigests:
    """Size in bytes and hex md5 / sha256 of a file's bytes."""

    size: int
    md5: str
    sha256: str


def cache_dir() -> Path:
    """``$LCSUITE_CACHE``, else ``$XDG_CACHE_HOME/lcsuite``, else ``~/.cache/lcsuite``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "lcsuite"
    return Path.home() / ".cache" / "lcsuite"


def _stamp(stat: os.stat_result) -> dict[str, int]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def _read_cache(cache_file: Path) -> dict:
    try:
        entries = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent, unreadable or malformed: start afresh
        return {}
    return entries if isinstance(entries, dict) else {}


def _cached(entry, stamp: dict[str, int]) -> FileDigests | None:
    """The digests of a cache entry whose stamp matches, else None (also for malformed ones)."""
    if not isinstance(entry, dict) or any(entry.get(key) != value for key, value in stamp.items()):
        return None
    for algorithm, length in _HEX_LENGTHS.items():
        digest = entry.get(algorithm)
        if not isinstance(digest, str) or len(digest) != length:
            return None
    return FileDigests(stamp["size"], entry["md5"], entry["sha256"])


def _write_entry(cache_file: Path, key: str, entry: dict) -> None:
    """Merge one entry into the cache file (re-read just before) and replace it atomically."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        entries = _read_cache(cache_file)
        entries[key] = entry
        descriptor, temporary = tempfile.mkstemp(dir=cache_file.parent, prefix=".digests-", suffix=".tmp")
    except OSError:  # read-only or full: the cache is an optimisation only
        return
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=1, sort_keys=True)
        os.replace(temporary, cache_file)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _hash(path: Path) -> tuple[str, str]:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def file_digests(path) -> FileDigests:
    """Size, md5 and sha256 of ``path``, from the cache when the file is unchanged.

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path).resolve()
    stamp = _stamp(path.stat())
    cache_file = cache_dir() / CACHE_FILE
    cached = _cached(_read_cache(cache_file).get(str(path)), stamp)
    if cached is not None:
        return cached
    md5, sha256 = _hash(path)
    if _stamp(path.stat()) == stamp:  # not changed while it was read: safe to cache
        _write_entry(cache_file, str(path), {**stamp, "md5": md5, "sha256": sha256})
    return FileDigests(stamp["size"], md5, sha256)
