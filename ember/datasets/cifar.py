"""CIFAR-10 from its binary version, parsed with numpy (no pickle).

The python version (`cifar-10-batches-py`) is a set of pickles, and ember never
unpickles anything a user loads, so this loader reads the *binary* version: each
record is 1 label byte followed by 3,072 image bytes (1,024 red, then green, then
blue, each 32x32 row-major), 10,000 records per file.

>>> from ember.datasets import load_cifar10
>>> data = load_cifar10("data/cifar10")  # doctest: +SKIP
>>> data.x_train.shape, data.x_train.dtype  # doctest: +SKIP
((50000, 3, 32, 32), dtype('uint8'))
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ember.datasets._fetch import DownloadError, data_root, fetch, say

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # of the .tar.gz, as published
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-bin"  # what the archive extracts to
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch.bin"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Per-channel mean and std of the 50,000 training images, pixels scaled to [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

RECORD_BYTES = 1 + 3 * 32 * 32
_ARCHIVE_MIN_BYTES = 160_000_000  # the real archive is 162,452,... bytes


class Cifar10Unavailable(FileNotFoundError):
    """CIFAR-10 is not on disk and could not be downloaded; the message says what to get."""


class Cifar10Data(NamedTuple):
    """CIFAR-10 as uint8 (N, 3, 32, 32) images and int32 labels, and where it came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def parse_cifar_binary(buffer: bytes, name: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """One binary batch file's bytes as (uint8 images (N, 3, 32, 32), int32 labels (N,)).

    >>> record = bytes([7]) + bytes(3072)
    >>> images, labels = parse_cifar_binary(record * 2)
    >>> images.shape, labels.tolist()
    ((2, 3, 32, 32), [7, 7])
    """
    if len(buffer) == 0 or len(buffer) % RECORD_BYTES:
        raise ValueError(
            f"{name}: {len(buffer)} bytes is not a whole number of CIFAR-10 records "
            f"({RECORD_BYTES} bytes each: 1 label byte + 3072 pixel bytes)"
        )
    records = np.frombuffer(buffer, np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int32)
    if labels.max() > 9:
        raise ValueError(f"{name}: label {labels.max()} outside 0..9 (not a CIFAR-10 file?)")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def normalize_cifar(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) images -> float32, scaled to [0, 1] and standardized per channel.

    >>> normalize_cifar(np.zeros((1, 3, 32, 32), np.uint8)).dtype
    dtype('float32')
    """
    mean = np.asarray(CIFAR10_MEAN, np.float32)[:, None, None]
    std = np.asarray(CIFAR10_STD, np.float32)[:, None, None]
    return (images.astype(np.float32) / np.float32(255) - mean) / std


def load_cifar10(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verbose: bool = True,
) -> Cifar10Data:
    """Load CIFAR-10 (binary version): 50,000 train / 10,000 test uint8 images.

    Looks in `data_dir` if given (no download then), else in the cache
    (`cache_dir` or `$EMBER_DATA/cifar10`), for the six `.bin` files (directly or in
    `cifar-10-batches-bin/`) or for `cifar-10-binary.tar.gz` (read in place). When the
    cache has neither and `download` is set, the archive is fetched there and
    MD5-checked. Raises `Cifar10Unavailable` (a FileNotFoundError) naming the URL and
    the files it needs when nothing works; there is no stand-in dataset.

    >>> data = load_cifar10(download=False)  # doctest: +SKIP
    >>> x = normalize_cifar(data.x_train[:128])  # float32, per-channel standardized
    """
    if data_dir is not None:
        directory = Path(data_dir).expanduser()
        data = _from_dir(directory)
        if data is None:
            raise Cifar10Unavailable(_missing_message(directory, downloaded=None))
        say(verbose, data.source)
        return data

    cache = Path(cache_dir) if cache_dir is not None else data_root() / "cifar10"
    data = _from_dir(cache)
    failure = None
    if data is None and download:
        try:
            fetch(
                [CIFAR10_URL],
                cache / CIFAR10_ARCHIVE,
                md5=CIFAR10_MD5,
                min_bytes=_ARCHIVE_MIN_BYTES,
                timeout=30.0,
                verbose=verbose,
            )
        except DownloadError as exc:
            failure = str(exc)
        data = _from_dir(cache)
    if data is None:
        raise Cifar10Unavailable(_missing_message(cache, downloaded=failure if download else None))
    say(verbose, data.source)
    return data


def _from_dir(directory: Path) -> Cifar10Data | None:
    """The dataset from loose .bin files or the archive in `directory`; None if absent."""
    names = (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
    for folder in (directory, directory / CIFAR10_FOLDER):
        if all((folder / n).is_file() for n in names):
            parts = {
                n: parse_cifar_binary((folder / n).read_bytes(), str(folder / n)) for n in names
            }
            return _assemble(parts, f"CIFAR-10 (binary) from {folder}")
    archive = directory / CIFAR10_ARCHIVE
    if archive.is_file():
        return _from_archive(archive)
    return None


def _from_archive(archive: Path) -> Cifar10Data:
    """Reads the batch members straight out of the .tar.gz (nothing is extracted)."""
    wanted = {*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE}
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            base = member.name.rsplit("/", 1)[-1]
            if member.isfile() and base in wanted:
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file member
                parts[base] = parse_cifar_binary(handle.read(), f"{archive}:{member.name}")
    missing = sorted(wanted - parts.keys())
    if missing:
        raise ValueError(f"{archive} lacks {', '.join(missing)}: not the CIFAR-10 binary archive")
    return _assemble(parts, f"CIFAR-10 (binary) from {archive}")


def _assemble(parts: dict[str, tuple[np.ndarray, np.ndarray]], where: str) -> Cifar10Data:
    x_train = np.concatenate([parts[n][0] for n in CIFAR10_TRAIN_FILES])
    y_train = np.concatenate([parts[n][1] for n in CIFAR10_TRAIN_FILES])
    x_test, y_test = parts[CIFAR10_TEST_FILE]
    source = f"{where}: {len(y_train)} train / {len(y_test)} test"
    return Cifar10Data(x_train, y_train, x_test, y_test, source)


def _missing_message(directory: Path, downloaded: str | None) -> str:
    files = ", ".join((*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE))
    lines = [
        f"CIFAR-10 is needed and was not found in {directory}.",
        f"Download the binary version: {CIFAR10_URL} (md5 {CIFAR10_MD5}) and either put "
        f"{CIFAR10_ARCHIVE} in that folder or extract it there; the folder must then "
        f"hold {files} (directly or in {CIFAR10_FOLDER}/).",
    ]
    if (directory / "cifar-10-batches-py").is_dir() or (directory / "data_batch_1").is_file():
        lines.append(
            "Found the python version (cifar-10-batches-py): its batches are pickles, "
            "which ember does not load; use the binary version above."
        )
    if downloaded is not None:
        lines.append(f"The download failed: {downloaded}")
    return "\n".join(lines)
