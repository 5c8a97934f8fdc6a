"""Dataset loaders: IDX parsing, MNIST resolution/splits/downloads, text helpers.

No network: the URL opener is replaced for every test, and IDX files are
written here with struct/numpy, independently of the reader.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import sys
import urllib.error

import numpy as np
import pytest

from ember.datasets import (
    MNIST_MEAN,
    MNIST_STD,
    CharVocabulary,
    DownloadError,
    _fetch,
    fetch,
    load_mnist,
    load_tinyshakespeare,
    mnist,
    parse_idx,
    read_idx,
)

CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
}
CODES[np.float64] = 0x0E


def idx_bytes(array: np.ndarray) -> bytes:
    """Independent IDX writer: magic, big-endian dims, big-endian data."""
    header = struct.pack(">BBBB", 0, 0, CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array: np.ndarray, gz: bool = False):
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist(directory, n: int, stem: str, gz: bool = True):
    """Synthetic MNIST pair; image i encodes i in its first two pixels."""
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(n) % 256
    images[:, 0, 1] = np.arange(n) // 256
    images[:, 14, 14] = 255
    labels = (np.arange(n) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(directory / f"{stem}-images-idx3-ubyte{suffix}", images, gz)
    write_idx(directory / f"{stem}-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


def image_ids(x: np.ndarray) -> np.ndarray:
    raw = np.rint((x[:, 0] * MNIST_STD + MNIST_MEAN) * 255).astype(np.int64)
    return raw[:, 0, 0] + 256 * raw[:, 0, 1]


def serve(payloads: dict[str, bytes], log: list[str] | None = None):
    """A fake `urlopen` serving bytes by URL; unknown URLs fail like no network."""

    def urlopen(url, timeout=None):
        assert timeout is not None and timeout <= 30
        if log is not None:
            log.append(url)
        if url not in payloads:
            raise urllib.error.URLError("offline (test)")
        return io.BytesIO(payloads[url])

    return urlopen


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setattr(_fetch, "urlopen", serve({}))
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "ember_data"))


# --- IDX -------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", array, gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, array)
    got[0] = 0  # a writable copy, not a view of the file bytes


def test_idx_1d_and_gzip_detected_from_bytes(tmp_path):
    labels = np.arange(7, dtype=np.uint8)
    # gzip content behind a misleading name is still read.
    path = write_idx(tmp_path / "labels.idx1", labels, gz=True)
    np.testing.assert_array_equal(read_idx(path), labels)
    assert parse_idx(idx_bytes(labels)).tolist() == list(range(7))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b"\x01" + b[1:], "bad IDX magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "bad IDX magic"),
        (lambda b: b[:2], "shorter than the magic"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b[:-1], "truncated IDX data"),
        (lambda b: b + b"\x00\x00", "size mismatch"),
    ],
)
def test_idx_malformed(tmp_path, mutate, match):
    data = mutate(idx_bytes(np.ones((2, 3), np.int16)))
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.ones(100, np.uint8)))[:-10])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


# --- MNIST from a directory -------------------------------------------------


def test_mnist_full_directory(tmp_path):
    train_x, train_y = write_mnist(tmp_path, 30, "train", gz=True)
    test_x, test_y = write_mnist(tmp_path, 12, "t10k", gz=False)
    data = load_mnist(tmp_path, verbose=False)
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_test.shape == (
        12,
        1,
        28,
        28,
    )
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    expected = (train_x[:, None] / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(data.x_train, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.y_test, test_y)
    assert "30 train / 12 test" in data.source


def test_mnist_test_only_split(tmp_path, capsys):
    write_mnist(tmp_path, 10_000, "t10k", gz=False)
    data = load_mnist(tmp_path, seed=0)
    assert "test set only" in capsys.readouterr().out
    assert "test set only" in data.source and "8000 train / 2000 test" in data.source
    assert data.x_train.shape == (8000, 1, 28, 28) and data.x_test.shape == (
        2000,
        1,
        28,
        28,
    )
    train_ids, test_ids = image_ids(data.x_train), image_ids(data.x_test)
    assert not set(train_ids) & set(test_ids)
    assert set(train_ids) | set(test_ids) == set(range(10_000))
    np.testing.assert_array_equal(data.y_train, train_ids % 10)  # labels follow images
    again = load_mnist(tmp_path, seed=0, verbose=False)
    np.testing.assert_array_equal(image_ids(again.x_test), test_ids)
    other = load_mnist(tmp_path, seed=1, verbose=False)
    assert not np.array_equal(image_ids(other.x_test), test_ids)


def test_mnist_empty_directory_lists_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, verbose=False)


def test_mnist_bad_shape_rejected(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((4, 8, 8), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_mnist(tmp_path, verbose=False)


# --- download, cache, fallback ------------------------------------------------


def mirror_payloads(monkeypatch, corrupt: str = "") -> dict[str, bytes]:
    """Synthetic .gz files on the first mirror, with MNIST_FILES md5s patched."""
    files = {}
    for key, (stem, _) in mnist.MNIST_FILES.items():
        n = 20 if key.startswith("train") else 10
        array = np.zeros((n, 28, 28), np.uint8) if "images" in key else np.zeros(n, np.uint8)
        data = gzip.compress(idx_bytes(array))
        files[key] = (stem, hashlib.md5(data).hexdigest())
        payload = bytes([data[0], data[1] ^ 1]) + data[2:] if key == corrupt else data
        files[key] += (payload,)
    monkeypatch.setattr(mnist, "MNIST_FILES", {k: v[:2] for k, v in files.items()})
    mirror = mnist.MNIST_MIRRORS[0]
    return {f"{mirror}{stem}.gz": payload for stem, _, payload in files.values()}


def test_download_into_cache_then_reuse(tmp_path, monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(_fetch, "urlopen", serve(mirror_payloads(monkeypatch), log))
    cache = tmp_path / "cache"
    data = load_mnist(cache_dir=cache, verbose=False)
    assert data.x_train.shape == (20, 1, 28, 28) and data.x_test.shape == (
        10,
        1,
        28,
        28,
    )
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{stem}.gz" for stem, _ in mnist.MNIST_FILES.values()
    )
    assert len(log) == 4
    load_mnist(cache_dir=cache, verbose=False)
    assert len(log) == 4  # second load comes from the cache


def test_checksum_rejects_corrupted_download(tmp_path, monkeypatch):
    payloads = mirror_payloads(monkeypatch, corrupt="test_images")
    monkeypatch.setattr(_fetch, "urlopen", serve(payloads))
    stem, md5 = mnist.MNIST_FILES["test_images"]
    url = f"{mnist.MNIST_MIRRORS[0]}{stem}.gz"
    dest = tmp_path / "dl" / f"{stem}.gz"
    with pytest.raises(DownloadError, match="MD5 mismatch"):
        fetch([url], dest, md5=md5, verbose=False)
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # no temp left


def test_corrupted_download_falls_back_without_caching(tmp_path, monkeypatch):
    payloads = mirror_payloads(monkeypatch, corrupt="train_images")
    monkeypatch.setattr(_fetch, "urlopen", serve(payloads))
    cache = tmp_path / "cache"
    data = load_mnist(cache_dir=cache, verbose=False)
    assert "FALLBACK" in data.source
    assert not any(cache.glob("train-images*"))


def test_digits_fallback_when_offline(capsys):
    data = load_mnist()  # autouse fixture: empty $EMBER_DATA, no network
    out = capsys.readouterr().out
    assert "download failed" in out and "FALLBACK" in out and "digits" in out
    assert "digits" in data.source and "NOT MNIST" in data.source
    assert data.x_train.shape[1:] == (1, 28, 28) and data.x_train.dtype == np.float32
    assert len(data.y_train) + len(data.y_test) == 1797
    assert data.y_train.dtype == np.int32 and set(np.unique(data.y_train)) == set(range(10))
    raw = np.concatenate([data.x_train, data.x_test]) * MNIST_STD + MNIST_MEAN
    assert raw.min() == pytest.approx(0.0, abs=1e-5) and raw.max() <= 1.0 + 1e-5
    assert np.abs(raw[:, :, :2]).max() < 1e-5  # 2 px padding, like MNIST
    again = load_mnist(verbose=False, download=False)
    np.testing.assert_array_equal(again.x_test, data.x_test)


def test_fallback_without_sklearn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(RuntimeError, match="scikit-learn.*data-dir"):
        load_mnist(download=False, verbose=False)


# --- text --------------------------------------------------------------------


def test_char_vocabulary_round_trip():
    text = "to be, or not to be\né"
    vocab = CharVocabulary.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert len(vocab) == len(set(text)) and vocab.decode(ids) == text
    assert vocab.decode(ids.tolist()) == text
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("zoo")
    with pytest.raises(ValueError):
        vocab.decode([len(vocab)])


def test_tinyshakespeare_from_dir_and_download(tmp_path, monkeypatch):
    (tmp_path / "tinyshakespeare.txt").write_text("First Citizen:\n")
    assert load_tinyshakespeare(tmp_path, verbose=False) == "First Citizen:\n"
    with pytest.raises(FileNotFoundError):
        load_tinyshakespeare(tmp_path / "nope", verbose=False)

    from ember.datasets import text as text_module

    url = text_module.TINYSHAKESPEARE_URL
    cache = tmp_path / "cache"
    monkeypatch.setattr(_fetch, "urlopen", serve({url: b"too short"}))
    with pytest.raises(FileNotFoundError, match="at least"):
        load_tinyshakespeare(cache_dir=cache, verbose=False)
    assert not (cache / "tinyshakespeare.txt").exists()

    body = b"ROMEO:\n" * 150_000  # > 1 MB
    monkeypatch.setattr(_fetch, "urlopen", serve({url: body}))
    assert load_tinyshakespeare(cache_dir=cache, verbose=False) == body.decode()
    assert (cache / "tinyshakespeare.txt").stat().st_size == len(body)


def test_cache_with_test_files_only_is_split_when_offline(tmp_path):
    cache = tmp_path / "ember_data" / "mnist"  # $EMBER_DATA/mnist from the fixture
    cache.mkdir(parents=True)
    write_mnist(cache, 50, "t10k")
    data = load_mnist(verbose=False)
    assert "test set only" in data.source
    assert (len(data.y_train), len(data.y_test)) == (40, 10)
