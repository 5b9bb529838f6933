"""Known digests, the provenance of every load (files, sha256, status), and refusal of unverified
or partial data by the caller's decision."""

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from data_files import MNIST_DIR, copy_mnist_test, needs_mnist, write_cifar, write_idx

from lcsuite.data import (
    KNOWN_DIGESTS,
    CorruptDataError,
    DataNotFoundError,
    Provenance,
    UnverifiedDataError,
    data_digests,
    data_label,
    digits_substitute,
    load_cifar,
    load_mnist,
    provenance_status,
    resolve_cifar,
    resolve_mnist,
)
from lcsuite.harness.experiments import ExperimentContext

LABELS_GZ = "t10k-labels-idx1-ubyte.gz"


@pytest.fixture(autouse=True)
def no_env_data(monkeypatch):
    monkeypatch.delenv("LCSUITE_DATA", raising=False)


def relabelled_mnist(folder: Path) -> Path:
    """The MNIST test set with one label changed: well-formed, other bytes than the official."""
    copy_mnist_test(folder)
    labels = bytearray(gzip.decompress((folder / LABELS_GZ).read_bytes()))
    labels[8] = (labels[8] + 1) % 10  # the first label (a 7) becomes an 8
    (folder / LABELS_GZ).write_bytes(gzip.compress(bytes(labels)))
    return folder


# ---------------------------------------------------------------- the known digests


def test_known_digests_are_torchvisions_published_ones():
    datasets = pytest.importorskip("torchvision.datasets")
    published = {
        "mnist": dict(datasets.MNIST.resources),
        "cifar10": dict(datasets.CIFAR10.train_list + datasets.CIFAR10.test_list),
        "cifar100": dict(datasets.CIFAR100.train_list + datasets.CIFAR100.test_list),
    }
    for dataset, files in published.items():
        ours = {name: known.digest for name, known in KNOWN_DIGESTS[dataset].items() if known.kind == "published"}
        assert ours == files, dataset
        assert all(KNOWN_DIGESTS[dataset][name].algorithm == "md5" for name in files)


@needs_mnist
def test_derived_digests_of_the_raw_test_files():
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        gz = (MNIST_DIR / f"{name}.gz").read_bytes()
        assert hashlib.md5(gz).hexdigest() == KNOWN_DIGESTS["mnist"][f"{name}.gz"].digest
        derived = KNOWN_DIGESTS["mnist"][name]
        assert (derived.algorithm, derived.kind) == ("sha256", "derived")
        assert hashlib.sha256(gzip.decompress(gz)).hexdigest() == derived.digest
    assert "train-images-idx3-ubyte" not in KNOWN_DIGESTS["mnist"]  # nobody publishes it


# ---------------------------------------------------------------- provenance of real loads


@needs_mnist
def test_the_shared_mnist_test_set_verifies():
    data = load_mnist(MNIST_DIR.parent, "test", limit=10)
    prov = data.provenance
    assert prov.status == "verified" and len(prov.files) == 2
    entry = json.loads(json.dumps(prov.to_dict()))  # JSON-serialisable, all of it
    assert entry["status"] == "verified"
    images = next(f for f in entry["files"] if f["name"] == "t10k-images-idx3-ubyte.gz")
    assert images["size"] == (MNIST_DIR / "t10k-images-idx3-ubyte.gz").stat().st_size
    assert images["sha256"] == hashlib.sha256((MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    assert (images["published_algorithm"], images["published_digest"]) == ("md5", "9fb629c4189551a2d022fa330f9573f3")
    assert data_label(entry) == "mnist (test, n=10)"
    assert set(data_digests(entry)) == {"mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"}
    # subsets and splits keep the files read
    assert data.head(3).provenance.files == prov.files and data.split(0.5)[0].provenance.status == "verified"


@needs_mnist
def test_raw_idx_files_verify_by_derived_digest_train_files_stay_unverified(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((MNIST_DIR / f"{name}.gz").read_bytes()))
    assert load_mnist(tmp_path, "test", limit=5).provenance.status == "verified"
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(4))
    train = load_mnist(tmp_path, "train").provenance
    assert train.status == "unverified" and {f.reason for f in train.files} == {"no published digest"}


@needs_mnist
def test_a_well_formed_file_with_other_bytes_is_unverified_and_labelled(tmp_path):
    folder = relabelled_mnist(tmp_path / "mnist")
    data = load_mnist(tmp_path, "test")
    assert data.targets[0] == 8  # it loads: well-formed
    prov = data.provenance
    assert prov.status == "unverified"
    (labels,) = prov.unverified_files
    actual = hashlib.md5((folder / LABELS_GZ).read_bytes()).hexdigest()
    assert labels.reason == f"digest mismatch: md5 {actual}, published ec29112dd5afa0611ce80d1b7f02629c"
    assert data_label(prov.to_dict()) == "mnist (test, n=10000) [unverified]"


@needs_mnist
def test_truncated_official_file_is_corrupt(tmp_path):
    folder = copy_mnist_test(tmp_path / "mnist")
    labels = folder / LABELS_GZ
    labels.write_bytes(labels.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match=re.escape(str(labels))):
        load_mnist(tmp_path, "test")


def test_generated_cifar_is_unverified_with_its_digests(tmp_path):
    write_cifar(tmp_path, 10)
    prov = load_cifar(tmp_path, 10, "train").provenance
    assert [f.name for f in prov.files] == [f"data_batch_{i}" for i in range(1, 6)]
    assert prov.status == "unverified" and all(f.reason.startswith("digest mismatch: md5 ") for f in prov.files)
    assert list(data_digests(prov.to_dict())) == [f"cifar10/data_batch_{i}" for i in range(1, 6)]


# ---------------------------------------------------------------- refusal by the caller's decision


@needs_mnist
def test_unverified_data_is_refused_unless_allowed(tmp_path):
    folder = relabelled_mnist(tmp_path / "mnist")
    with pytest.raises(UnverifiedDataError) as refused:
        resolve_mnist(tmp_path, split="test", allow_substitute=False, allow_unverified=False)
    message = str(refused.value)
    sha256 = hashlib.sha256((folder / LABELS_GZ).read_bytes()).hexdigest()
    assert str(folder / LABELS_GZ) in message and sha256 in message and "--lc-allow-unverified" in message
    # no substitute hides it either
    with pytest.raises(UnverifiedDataError):
        resolve_mnist(tmp_path, split="test", allow_substitute=True, allow_unverified=False)
    data = resolve_mnist(tmp_path, split="test", allow_substitute=False, allow_unverified=True)
    assert data.provenance.status == "unverified" and not data.provenance.substitute


def test_unverified_cifar_is_refused_unless_allowed(tmp_path):
    write_cifar(tmp_path, 100)
    with pytest.raises(UnverifiedDataError, match=r"cifar-100-python/test: unverified cifar100 file"):
        resolve_cifar(tmp_path, num_classes=100, split="test", allow_substitute=False, allow_unverified=False)
    data = resolve_cifar(tmp_path, num_classes=100, split="test", allow_substitute=False, allow_unverified=True)
    assert data.provenance.status == "unverified"


@needs_mnist
@pytest.mark.parametrize("requires_real_data, allow_unverified, outcome", [
    (True, False, "refused"),
    (True, True, "used, override noted"),
    (False, False, "used"),
])
def test_experiments_take_the_refusal_from_the_claim(tmp_path, requires_real_data, allow_unverified, outcome):
    relabelled_mnist(tmp_path / "mnist")
    ctx = ExperimentContext(params={}, seed=0, tier="paper" if requires_real_data else "smoke",
                            data_root=tmp_path, requires_real_data=requires_real_data,
                            allow_unverified=allow_unverified)
    if outcome == "refused":
        with pytest.raises(UnverifiedDataError):
            ctx.dataset("mnist", split="test", limit=10)
        return
    data = ctx.dataset("mnist", split="test", limit=10)
    assert ctx.data[0]["status"] == "unverified" and ctx.data[0]["files"]
    assert ("--lc-allow-unverified" in data.provenance.note) == (outcome == "used, override noted")


def test_experiments_refuse_substitutes_only_when_the_claim_requires_real_data(tmp_path):
    strict = ExperimentContext(params={}, seed=0, tier="smoke", data_root=tmp_path, requires_real_data=True)
    with pytest.raises(DataNotFoundError, match="real MNIST"):
        strict.dataset("mnist", limit=10)
    with pytest.raises(DataNotFoundError, match="real CIFAR-10"):
        strict.dataset("cifar10", split="train", limit=10)
    lenient = ExperimentContext(params={}, seed=0, tier="paper", data_root=tmp_path)
    assert lenient.dataset("mnist", limit=10).provenance.status == "substitute"
    assert lenient.data[0]["status"] == "substitute"


# ---------------------------------------------------------------- data found in part


@needs_mnist
def test_images_without_labels_name_the_missing_file(tmp_path):
    copy_mnist_test(tmp_path / "mnist")
    (tmp_path / "mnist" / LABELS_GZ).unlink()
    expected = r"mnist: MNIST test split incomplete: t10k-images-idx3-ubyte.gz found but t10k-labels-idx1-ubyte\[.gz\]"
    with pytest.raises(DataNotFoundError, match=expected):
        load_mnist(tmp_path, "test")
    with pytest.raises(DataNotFoundError, match=expected):  # never replaced by a substitute
        resolve_mnist(tmp_path, split="test", allow_substitute=True, allow_unverified=True)
    with pytest.raises(DataNotFoundError, match=expected):  # nor by the other split
        resolve_mnist(tmp_path, split="train", allow_substitute=True, allow_unverified=True)


def test_cifar_missing_batches_are_named(tmp_path):
    folder = write_cifar(tmp_path, 10)
    (folder / "test_batch").unlink()
    with pytest.raises(DataNotFoundError, match="CIFAR-10 test split incomplete: test_batch missing"):
        resolve_cifar(tmp_path, split="test", allow_substitute=True, allow_unverified=True)
    assert len(load_cifar(tmp_path, 10, "train")) == 35  # the complete split still loads


# ---------------------------------------------------------------- labels of stored provenance


def test_data_label_and_status_of_stored_dicts():
    digits = digits_substitute("train").provenance.to_dict()
    assert data_label(digits) == "digits (MNIST substitute) (train, n=1500) [substitute]"
    assert data_digests(digits) == {}
    old = {"name": "mnist", "split": "test", "size": 100, "source": "/data", "substitute": False}
    assert provenance_status(old) == "unverified"  # stored before files were recorded
    assert data_label(old) == "mnist (test, n=100) [unverified]"
    assert provenance_status({"dataset": "x", "source": "substitute"}) == "substitute"
    assert data_label({"dataset": "cifar10", "n": 5, "status": "verified"}) == "cifar10 (n=5)"
    bare = Provenance("mnist", "test", 3, "/data")
    assert bare.status == "unverified" and bare.to_dict()["files"] == []
