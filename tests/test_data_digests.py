"""The digest cache: where it lives, when an entry is used (same path, size, mtime_ns and inode),
and that a broken or unwritable cache only costs a re-read."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from lcsuite.data import digests
from lcsuite.data.digests import CACHE_FILE, cache_dir, file_digests


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("LCSUITE_CACHE", str(folder))
    return folder / CACHE_FILE


@pytest.fixture
def hashed(monkeypatch) -> list:
    """The paths actually read and hashed (not answered from the cache)."""
    calls = []
    original = digests._hash

    def counting(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(digests, "_hash", counting)
    return calls


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("LCSUITE_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("LCSUITE_CACHE")
    assert cache_dir() == tmp_path / "b" / "lcsuite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "lcsuite"


def test_digests_are_right_and_cached_by_path_size_mtime_and_inode(tmp_path, cache, hashed):
    path = tmp_path / "file"
    path.write_bytes(b"0123456789" * 1000)
    first = file_digests(path)
    assert (first.size, first.md5, first.sha256) == (
        10000, hashlib.md5(path.read_bytes()).hexdigest(), hashlib.sha256(path.read_bytes()).hexdigest())
    entry = json.loads(cache.read_text())[str(path.resolve())]
    stat = path.stat()
    assert entry == {"size": 10000, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino,
                     "md5": first.md5, "sha256": first.sha256}
    assert file_digests(path) == first and len(hashed) == 1  # answered from the cache

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched: mtime differs
    assert file_digests(path) == first and len(hashed) == 2

    replacement = tmp_path / "replacement"  # same size and mtime, another inode, other bytes
    replacement.write_bytes(b"9876543210" * 1000)
    now = path.stat()
    os.utime(replacement, ns=(now.st_atime_ns, now.st_mtime_ns))
    os.replace(replacement, path)
    assert path.stat().st_size == now.st_size and path.stat().st_mtime_ns == now.st_mtime_ns
    assert file_digests(path).md5 == hashlib.md5(path.read_bytes()).hexdigest() != first.md5
    assert len(hashed) == 3


def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path, cache, hashed):
    path = tmp_path / "file"
    path.write_bytes(b"abc")
    cache.parent.mkdir(parents=True)
    cache.write_text("{ not json")
    assert file_digests(path).md5 == hashlib.md5(b"abc").hexdigest()
    assert str(path.resolve()) in json.loads(cache.read_text())
    cache.write_text(json.dumps([1, 2]))  # valid JSON, wrong shape
    assert file_digests(path).size == 3
    assert len(hashed) == 2
    assert [p.name for p in cache.parent.iterdir()] == [CACHE_FILE]  # no temporary files left


def test_a_malformed_entry_is_recomputed(tmp_path, cache, hashed):
    path = tmp_path / "file"
    path.write_bytes(b"abc")
    file_digests(path)
    entries = json.loads(cache.read_text())
    entries[str(path.resolve())]["md5"] = "short"
    cache.write_text(json.dumps(entries))
    assert file_digests(path).md5 == hashlib.md5(b"abc").hexdigest() and len(hashed) == 2


def test_an_unwritable_cache_still_gives_digests(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("LCSUITE_CACHE", str(blocker / "cache"))
    path = tmp_path / "file"
    path.write_bytes(b"abc")
    assert file_digests(path).sha256 == hashlib.sha256(b"abc").hexdigest()


def test_a_missing_file_raises(tmp_path, cache):
    with pytest.raises(FileNotFoundError):
        file_digests(tmp_path / "absent")
