"""``lcsuite data check``: the status of each data set and split, and its exit codes (0 usable
data found, 1 the folders given hold nothing usable, 2 usage)."""

import gzip
import shutil

import numpy as np
import pytest
from data_files import MNIST_DIR, copy_mnist_test, needs_mnist, write_cifar, write_idx

from lcsuite.cli import main
from lcsuite.data import check_data


@pytest.fixture(autouse=True)
def no_env_data(monkeypatch):
    monkeypatch.delenv("LCSUITE_DATA", raising=False)


def _status(root, dataset, split):
    return next(c for c in check_data(root) if (c.dataset, c.split) == (dataset, split))


def _row(out: str, dataset: str, split: str) -> str:
    return next(line for line in out.splitlines() if line.split()[:2] == [dataset, split])


@needs_mnist
def test_the_shared_data_verifies(capsys):
    assert main(["data", "check", "--data", str(MNIST_DIR.parent)]) == 0
    out = capsys.readouterr().out
    assert "verified" in _row(out, "mnist", "test") and "published digests" in _row(out, "mnist", "test")
    assert "missing" in _row(out, "mnist", "train") and "missing" in _row(out, "cifar10", "test")


@needs_mnist
def test_an_altered_file_is_unverified_with_the_reason(tmp_path, capsys):
    folder = copy_mnist_test(tmp_path)
    images = folder / "t10k-images-idx3-ubyte.gz"
    data = bytearray(images.read_bytes())
    data[4] ^= 0xFF  # the gzip header's timestamp: still a valid file, other bytes
    images.write_bytes(bytes(data))
    assert main(["data", "check", "--data", str(tmp_path)]) == 0  # usable, where unverified is allowed
    row = _row(capsys.readouterr().out, "mnist", "test")
    assert "unverified" in row and "t10k-images-idx3-ubyte.gz: digest mismatch: md5 " in row
    assert "published 9fb629c4189551a2d022fa330f9573f3" in row


@needs_mnist
def test_a_truncated_file_is_corrupt_and_not_usable(tmp_path, capsys):
    folder = copy_mnist_test(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:1000])
    assert main(["data", "check", "--data", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "corrupt" in _row(captured.out, "mnist", "test") and str(labels) in captured.out
    assert f"error: no usable data in {tmp_path}" in captured.err


@needs_mnist
def test_images_without_labels_are_partial(tmp_path, capsys):
    shutil.copyfile(MNIST_DIR / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-images-idx3-ubyte.gz")
    assert main(["data", "check", "--data", str(tmp_path)]) == 1
    row = _row(capsys.readouterr().out, "mnist", "test")
    assert "partial" in row and "t10k-labels-idx1-ubyte[.gz] is missing (images without labels)" in row


def test_well_formed_unknown_files_are_unverified_garbage_is_corrupt(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2))
    check = _status(tmp_path, "mnist", "test")
    assert check.status == "unverified" and check.usable
    assert "t10k-labels-idx1-ubyte: digest mismatch: sha256 " in check.detail and ", derived ff7bcfd4" in check.detail
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2))
    check = _status(tmp_path, "mnist", "train")
    assert check.status == "unverified" and "train-labels-idx1-ubyte: no published digest" in check.detail
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(gzip.compress(b"garbage"))
    check = _status(tmp_path, "mnist", "train")
    assert check.status == "corrupt" and "train-labels-idx1-ubyte" in check.detail and not check.usable


def test_cifar_statuses(tmp_path):
    folder = write_cifar(tmp_path, 10, corrupt="test_batch")
    (folder / "data_batch_4").unlink()
    assert _status(tmp_path, "cifar10", "train").status == "partial"
    assert _status(tmp_path, "cifar10", "train").detail == "data_batch_4 missing"
    assert _status(tmp_path, "cifar10", "test").status == "corrupt"
    assert _status(tmp_path, "cifar100", "test").status == "missing"
    write_cifar(tmp_path, 100, official=True)
    assert _status(tmp_path, "cifar100", "test").status == "unverified"


def test_an_empty_folder_holds_nothing_usable(tmp_path, capsys):
    assert main(["data", "check", "--data", str(tmp_path)]) == 1
    assert "missing" in _row(capsys.readouterr().out, "mnist", "test")


def test_a_nonexistent_folder_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "nonexistent"
    assert main(["data", "check", "--data", str(missing)]) == 1
    first = capsys.readouterr()
    assert first.out == "" and first.err == f"error: data folder {missing} does not exist: nothing usable there\n"
    monkeypatch.setenv("LCSUITE_DATA", str(missing))  # the same through the environment
    assert main(["data", "check"]) == 1
    assert capsys.readouterr() == first


@needs_mnist
def test_the_environment_is_searched_like_the_loaders_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LCSUITE_DATA", str(MNIST_DIR.parent))
    assert main(["data", "check", "--data", str(tmp_path / "nonexistent")]) == 0  # usable data in the env


def test_usage_errors_exit_2(capsys):
    assert main(["data", "check"]) == 2
    assert "nothing to check: give --data DIR or set LCSUITE_DATA" in capsys.readouterr().err
    assert main(["data", "check", "--no-such-option"]) == 2
