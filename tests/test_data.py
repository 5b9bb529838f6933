"""Tests of lcsuite.data: real MNIST, generated CIFAR files, substitutes, resolver, errors."""

import gzip
import pickle

import numpy as np
import pytest
import torch

from data_files import MNIST_DIR, needs_mnist, write_cifar, write_idx

from lcsuite.data import (
    CorruptDataError,
    DataNotFoundError,
    Dataset,
    cifar_substitute,
    digits_substitute,
    load_cifar,
    load_mnist,
    random_crop_flip,
    read_idx,
    resolve_cifar,
    resolve_mnist,
)

torch.set_num_threads(1)
SMOKE = dict(allow_substitute=True, allow_unverified=True)  # what a claim without requires_real_data gets
REAL_ONLY = dict(allow_substitute=False, allow_unverified=False)


@pytest.fixture(autouse=True)
def no_env_data(monkeypatch):
    monkeypatch.delenv("LCSUITE_DATA", raising=False)


# ---------------------------------------------------------------- real MNIST


@needs_mnist
def test_real_mnist_test_set():
    data = load_mnist(MNIST_DIR, "test")
    assert isinstance(data, Dataset)
    assert data.inputs.shape == (10000, 1, 28, 28) and data.inputs.dtype == torch.float32
    assert data.targets.dtype == torch.int64
    assert set(data.targets.tolist()) == set(range(10))
    assert data.inputs.min() == 0 and data.inputs.max() == 1
    assert data.targets[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test labels
    prov = data.provenance
    assert (prov.name, prov.split, prov.size, prov.substitute) == ("mnist", "test", 10000, False)
    assert prov.to_dict()["source"] == str(MNIST_DIR)


@needs_mnist
def test_real_mnist_paper_12x12_crop_keeps_the_digit():
    full = load_mnist(MNIST_DIR, "test", limit=500)
    small = load_mnist(MNIST_DIR, "test", image_size=12, limit=500)
    assert small.inputs.shape == (500, 1, 12, 12)
    assert "center crop 20x20" in small.provenance.note
    # the 4-pixel border cropped away carries little ink (about 3%: digits are centred by mass)
    border = full.inputs.sum() - full.inputs[..., 4:24, 4:24].sum()
    assert border / full.inputs.sum() < 0.05
    # area resizing keeps the mean intensity (20 -> 12 windows overlap slightly)
    assert small.inputs.mean().item() == pytest.approx(full.inputs[..., 4:24, 4:24].mean().item(), rel=1e-2)


@needs_mnist
def test_real_mnist_standardize():
    data = load_mnist(MNIST_DIR, "test", standardize=True, limit=2000)
    assert abs(data.inputs.mean().item()) < 1e-4
    assert data.inputs.std().item() == pytest.approx(1, rel=1e-4)


@needs_mnist
@pytest.mark.parametrize("layout", ["flat_raw", "torchvision"])
def test_mnist_layouts_and_uncompressed_files(tmp_path, layout):
    folder = tmp_path / ("MNIST/raw" if layout == "torchvision" else "")
    folder.mkdir(parents=True, exist_ok=True)
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        data = gzip.decompress((MNIST_DIR / f"{stem}.gz").read_bytes())
        (folder / stem).write_bytes(data)
    loaded = load_mnist(tmp_path, "test", limit=10)
    assert loaded.targets.tolist() == load_mnist(MNIST_DIR, "test", limit=10).targets.tolist()


# ---------------------------------------------------------------- MNIST errors


def test_idx_reader_roundtrip_and_bad_magic(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "ok", array)
    assert read_idx(tmp_path / "ok", 3).numpy().tolist() == array.tolist()
    write_idx(tmp_path / "bad", array, magic_type=0x0D)
    with pytest.raises(CorruptDataError, match="bad"):
        read_idx(tmp_path / "bad", 3)
    with pytest.raises(CorruptDataError, match="dimensions"):
        read_idx(tmp_path / "ok", 1)


def test_missing_mnist_names_the_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match=str(tmp_path)):
        load_mnist(tmp_path, "test")


@needs_mnist
def test_truncated_mnist_file_names_the_path(tmp_path):
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{stem}.gz").write_bytes((MNIST_DIR / f"{stem}.gz").read_bytes())
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:100_000])  # truncated gzip stream
    with pytest.raises(CorruptDataError, match=str(images)):
        load_mnist(tmp_path, "test")


def test_truncated_raw_idx_names_the_path(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3))
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptDataError, match="truncated"):
        load_mnist(tmp_path, "test")


# ---------------------------------------------------------------- CIFAR files in the exact layout


@pytest.mark.parametrize("num_classes", [10, 100])
def test_cifar_loader_on_generated_files(tmp_path, num_classes):
    folder = write_cifar(tmp_path, num_classes)
    train = load_cifar(tmp_path, num_classes, "train", normalize=False)
    test = load_cifar(tmp_path, num_classes, "test", normalize=False)
    batches = 5 if num_classes == 10 else 1
    assert train.inputs.shape == (7 * batches, 3, 32, 32)
    assert test.inputs.shape == (7, 3, 32, 32)
    assert train.num_classes == num_classes
    assert train.targets.max() == num_classes - 1
    # channel-major unpacking: the first 1024 bytes are the red plane of image 0
    with open(folder / ("test_batch" if num_classes == 10 else "test"), "rb") as handle:
        raw = pickle.load(handle, encoding="bytes")[b"data"][0]
    assert torch.equal((test.inputs[0, 0] * 255).round().to(torch.uint8).flatten(), torch.from_numpy(raw[:1024]))
    assert train.provenance.name == f"cifar{num_classes}" and not train.provenance.substitute
    normalized = load_cifar(folder, num_classes, "test")  # the folder itself also works
    assert not torch.allclose(normalized.inputs, test.inputs)


def test_cifar_truncated_batch_names_the_path(tmp_path):
    write_cifar(tmp_path, 10, corrupt="data_batch_3")
    with pytest.raises(CorruptDataError, match="data_batch_3"):
        load_cifar(tmp_path, 10, "train")
    load_cifar(tmp_path, 10, "test")  # the intact split still loads


def test_cifar_missing_batch_names_the_path(tmp_path):
    folder = write_cifar(tmp_path, 10)
    (folder / "data_batch_2").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_2"):
        load_cifar(tmp_path, 10, "train")


# ---------------------------------------------------------------- substitutes and resolver


def test_digits_substitute_is_labelled():
    train, test = digits_substitute("train"), digits_substitute("test", image_size=12)
    assert len(train) + len(test) == 1797
    assert test.inputs.shape[1:] == (1, 12, 12)
    for data in (train, test):
        assert data.provenance.substitute and data.provenance.source == "substitute"
        assert "substitute" in data.provenance.name
    assert 0 <= train.inputs.min() and train.inputs.max() <= 1


@pytest.mark.parametrize("num_classes", [10, 100])
def test_cifar_substitute_deterministic_and_labelled(num_classes):
    a = cifar_substitute(num_classes, "train", size=200, seed=3)
    b = cifar_substitute(num_classes, "train", size=200, seed=3)
    c = cifar_substitute(num_classes, "train", size=200, seed=4)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    assert a.inputs.shape == (200, 3, 32, 32) and a.num_classes == num_classes
    assert a.provenance.substitute and "substitute" in a.provenance.name
    assert 0.5 < a.inputs.std().item() < 2


def test_cifar_substitute_has_learnable_class_structure():
    train = cifar_substitute(10, "train", size=1000, seed=0)
    test = cifar_substitute(10, "test", size=500, seed=0)
    # nearest class mean on the raw pixels: far above chance (10%) without being trivial
    means = torch.stack([train.inputs[train.targets == k].mean(0) for k in range(10)]).flatten(1)
    predicted = torch.cdist(test.inputs.flatten(1), means).argmin(1)
    accuracy = (predicted == test.targets).float().mean().item()
    assert 0.3 < accuracy < 0.99


def test_resolver_falls_back_visibly(tmp_path):
    data = resolve_mnist(tmp_path, split="test", **SMOKE)
    assert data.provenance.substitute and "not found" in data.provenance.note
    assert data.provenance.status == "substitute" and data.provenance.files == ()
    cifar = resolve_cifar(tmp_path, num_classes=100, limit=50, **SMOKE)
    assert cifar.provenance.substitute and len(cifar) == 50 and cifar.num_classes == 100


def test_resolver_refuses_substitutes_when_not_allowed(tmp_path):
    with pytest.raises(DataNotFoundError, match="real MNIST.*required.*" + str(tmp_path)):
        resolve_mnist(tmp_path, **REAL_ONLY)
    with pytest.raises(DataNotFoundError, match="real CIFAR-10 required"):
        resolve_cifar(tmp_path, **REAL_ONLY)
    with pytest.raises(TypeError, match="allow_substitute"):
        resolve_mnist(tmp_path, allow_unverified=True)  # the caller must decide


def test_resolver_finds_cifar_through_environment(tmp_path, monkeypatch):
    write_cifar(tmp_path / "data", 10)
    monkeypatch.setenv("LCSUITE_DATA", str(tmp_path / "data"))
    data = resolve_cifar(split="test", allow_substitute=False, allow_unverified=True)
    assert not data.provenance.substitute and len(data) == 7


def test_resolver_does_not_hide_corrupt_files(tmp_path):
    write_cifar(tmp_path, 10, corrupt="test_batch")
    with pytest.raises(CorruptDataError, match="test_batch"):
        resolve_cifar(tmp_path, split="test", **SMOKE)


@needs_mnist
def test_resolver_uses_real_mnist_and_labels_the_split(monkeypatch):
    monkeypatch.setenv("LCSUITE_DATA", str(MNIST_DIR))
    test = resolve_mnist(split="test", image_size=12, limit=100, **REAL_ONLY)
    assert not test.provenance.substitute and test.inputs.shape == (100, 1, 12, 12)
    train = resolve_mnist(split="train", limit=100, **SMOKE)
    assert train.provenance.split == "test" and "in its place" in train.provenance.note
    assert train.provenance.status == "verified"
    with pytest.raises(DataNotFoundError, match="train"):
        resolve_mnist(split="train", **REAL_ONLY)


def test_dataset_split_and_subset():
    data = digits_substitute("train")
    train, test = data.split(0.2, seed=1)
    assert len(train) + len(test) == len(data)
    assert len(set(train.provenance.note.split(";")) & {" train part of random split (seed 1) of 1500 train examples"}) == 1
    assert data.head(10).provenance.size == 10
    with pytest.raises(TypeError):
        Dataset(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.int64), data.provenance)


# ---------------------------------------------------------------- augmentation


def test_random_crop_flip_is_a_shifted_possibly_flipped_copy():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8) + 1
    generator = torch.Generator().manual_seed(0)
    out = random_crop_flip(images, generator=generator, padding=2)
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(2):
        matches = [
            (top, left, flip)
            for top in range(5)
            for left in range(5)
            for flip in (False, True)
            if torch.equal(
                out[i],
                (padded[i, :, top : top + 8, left : left + 8].flip(2) if flip
                 else padded[i, :, top : top + 8, left : left + 8]),
            )
        ]
        assert len(matches) == 1


def test_random_crop_flip_varies_and_repeats_with_seed():
    images = torch.randn(64, 3, 32, 32)
    a = random_crop_flip(images, torch.Generator().manual_seed(5))
    b = random_crop_flip(images, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    changed = (a != images).flatten(1).any(1).float().mean()
    assert changed > 0.8  # 1 - P(no shift and no flip) = 1 - 1/162


def test_resolver_downloads_only_when_asked(tmp_path, monkeypatch):
    """download=True fetches into the named folder; the default never calls the downloader."""
    import lcsuite.data.resolve as resolve

    calls = []

    def fake_download(root):
        calls.append(root)
        raise RuntimeError("no network in tests")

    monkeypatch.delenv("LCSUITE_DATA", raising=False)
    monkeypatch.setattr(resolve, "download_mnist", fake_download)
    data = resolve.resolve_mnist(tmp_path, **SMOKE)
    assert data.provenance.substitute and calls == []
    with pytest.raises(RuntimeError, match="no network"):
        resolve.resolve_mnist(tmp_path, download=True, **SMOKE)
    assert calls == [tmp_path]


def test_download_without_a_named_folder_is_a_clear_error(monkeypatch):
    from lcsuite.data import DataNotFoundError, resolve_cifar

    monkeypatch.delenv("LCSUITE_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="no data folder is named"):
        resolve_cifar(None, download=True, **SMOKE)
