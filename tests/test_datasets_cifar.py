"""ember.datasets.cifar on tiny synthetic binary files (no network, no real CIFAR-10)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from ember.datasets import (
    Cifar10Unavailable,
    load_cifar10,
    normalize_cifar,
    parse_cifar_binary,
)
from ember.datasets.cifar import (
    CIFAR10_ARCHIVE,
    CIFAR10_FOLDER,
    CIFAR10_TEST_FILE,
    CIFAR10_TRAIN_FILES,
    CIFAR10_URL,
)


def records(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """`n` binary records with known labels and pixels, and the arrays they encode."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    raw = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
    return raw.tobytes(), images, labels.astype(np.int32)


def write_batches(folder, n: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for k, name in enumerate((*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)):
        raw, images, labels = records(n, seed=k)
        (folder / name).write_bytes(raw)
        truth[name] = (images, labels)
    return truth


def check(data, truth) -> None:
    x_train = np.concatenate([truth[n][0] for n in CIFAR10_TRAIN_FILES])
    y_train = np.concatenate([truth[n][1] for n in CIFAR10_TRAIN_FILES])
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.x_test, truth[CIFAR10_TEST_FILE][0])
    np.testing.assert_array_equal(data.y_test, truth[CIFAR10_TEST_FILE][1])
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int32
    assert data.x_train.shape == (15, 3, 32, 32)


def test_parse_record_layout():
    """Label byte first, then the red plane, green plane, blue plane, rows of 32."""
    image = np.arange(3 * 32 * 32, dtype=np.int64).reshape(3, 32, 32) % 251
    raw = bytes([4]) + image.astype(np.uint8).tobytes()
    images, labels = parse_cifar_binary(raw + raw)
    assert labels.tolist() == [4, 4]
    assert images[0, 1, 0, 0] == (1024 % 251) and images[0, 2, 31, 31] == (3071 % 251)
    np.testing.assert_array_equal(images[1], image)


def test_load_from_folder_and_subfolder(tmp_path):
    truth = write_batches(tmp_path / "flat")
    check(load_cifar10(tmp_path / "flat", verbose=False), truth)
    truth = write_batches(tmp_path / "nested" / CIFAR10_FOLDER)
    data = load_cifar10(tmp_path / "nested", verbose=False)
    check(data, truth)
    assert "15 train / 3 test" in data.source


def test_load_from_archive_in_cache(tmp_path, monkeypatch):
    truth = write_batches(tmp_path / "src" / CIFAR10_FOLDER)
    cache = tmp_path / "root" / "cifar10"
    cache.mkdir(parents=True)
    with tarfile.open(cache / CIFAR10_ARCHIVE, "w:gz") as tar:
        tar.add(tmp_path / "src" / CIFAR10_FOLDER, arcname=CIFAR10_FOLDER)
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "root"))
    check(load_cifar10(download=False, verbose=False), truth)


def test_missing_data_names_url_and_files(tmp_path, monkeypatch):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(Cifar10Unavailable) as info:
        load_cifar10(tmp_path, verbose=False)
    message = str(info.value)
    assert CIFAR10_URL in message and "data_batch_5.bin" in message and "test_batch.bin" in message
    assert "pickles" in message  # the python version is recognised and refused
    assert isinstance(info.value, FileNotFoundError)

    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "empty"))
    with pytest.raises(Cifar10Unavailable, match="not found"):
        load_cifar10(download=False, verbose=False)


def test_failed_download_is_reported(tmp_path, monkeypatch):
    import ember.datasets.cifar as cifar

    def offline(urls, dest, **kwargs):
        raise cifar.DownloadError("could not download: no network")

    monkeypatch.setattr(cifar, "fetch", offline)
    with pytest.raises(Cifar10Unavailable, match="The download failed: could not download"):
        load_cifar10(cache_dir=tmp_path, verbose=False)


def test_malformed_files_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="whole number of CIFAR-10 records"):
        parse_cifar_binary(bytes(3072))
    raw = bytearray(records(2, 0)[0])
    raw[0] = 11
    with pytest.raises(ValueError, match="label 11 outside"):
        parse_cifar_binary(bytes(raw))
    archive = tmp_path / CIFAR10_ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(records(1, 0)[0])
        tar.addfile(info, io.BytesIO(records(1, 0)[0]))
    with pytest.raises(ValueError, match="lacks data_batch_1.bin"):
        load_cifar10(tmp_path, verbose=False)


def test_normalize_standardizes_per_channel():
    images = np.zeros((2, 3, 4, 4), np.uint8)
    images[:, 0] = 255
    x = normalize_cifar(images)
    assert x.dtype == np.float32 and x.shape == images.shape
    np.testing.assert_allclose(x[0, 0, 0, 0], (1 - 0.4914) / 0.2470, rtol=1e-6)
    np.testing.assert_allclose(x[1, 2, 3, 3], -0.4465 / 0.2616, rtol=1e-6)
