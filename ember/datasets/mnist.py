"""MNIST loader: local IDX files, then the cache, then a verified download,
then scikit-learn's bundled 8x8 digits as an offline stand-in.

Images come back as (N, 1, 28, 28) float32, scaled to [0, 1] and normalized
with the usual MNIST mean/std, labels as int32.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ember.datasets._fetch import DEFAULT_TIMEOUT, DownloadError, data_root, fetch, say
from ember.datasets.idx import read_idx

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# torchvision's primary mirror, then the one TensorFlow uses (yann.lecun.com
# now often refuses scripted downloads).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# Official MD5s of the .gz files (the ones torchvision's MNIST.resources lists).
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train_images": ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"),
}

TRAIN_FRACTION = 0.8  # for the test-set-only and digits splits: 8,000 / 2,000 of 10k


class MnistData(NamedTuple):
    """Normalized MNIST-shaped arrays plus a note on where they came from."""

    x_train: np.ndarray  # (N, 1, 28, 28) float32
    y_train: np.ndarray  # (N,) int32
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verbose: bool = True,
    seed: int = 0,
) -> MnistData:
    """Load MNIST as normalized (N, 1, 28, 28) float32 images and int32 labels.

    Resolution order:
      1. `data_dir` if given (no fallback): the four IDX files (`.gz` or not);
         with only the t10k files, the 10k test set is split deterministically
         (by `seed`) into 8,000 train / 2,000 test. Neither: FileNotFoundError.
      2. the cache, `cache_dir` or `$EMBER_DATA/mnist` or `~/.cache/ember/mnist`;
      3. if `download`, missing files are fetched into the cache and MD5-checked;
      4. otherwise scikit-learn's bundled 8x8 digits, upsampled to 28x28.
    `source` (printed when `verbose`) says which one was used.

    >>> data = load_mnist("data/mnist")  # doctest: +SKIP
    >>> data.x_train.shape, data.source  # doctest: +SKIP
    ((60000, 1, 28, 28), 'MNIST from data/mnist: 60000 train / 10000 test')
    """
    if data_dir is not None:
        data_dir = Path(data_dir)
        data = _from_dir(data_dir, _find_files(data_dir), seed)
        if data is None:
            names = ", ".join(f"{stem}[.gz]" for stem, _ in MNIST_FILES.values())
            raise FileNotFoundError(
                f"no usable MNIST files in {data_dir}: looked for {names} "
                "(need at least the two t10k files)"
            )
        say(verbose, data.source)
        return data

    cache = Path(cache_dir) if cache_dir is not None else data_root() / "mnist"
    found = _find_files(cache)
    missing = [key for key, path in found.items() if path is None]
    if missing and download:
        try:
            for key in missing:
                stem, md5 = MNIST_FILES[key]
                urls = [f"{mirror}{stem}.gz" for mirror in MNIST_MIRRORS]
                fetch(
                    urls,
                    cache / f"{stem}.gz",
                    md5=md5,
                    timeout=DEFAULT_TIMEOUT,
                    verbose=verbose,
                )
        except DownloadError as exc:
            say(verbose, f"MNIST download failed ({exc})")
        found = _find_files(cache)

    data = _from_dir(cache, found, seed)
    if data is None:
        data = _digits_fallback(seed)
    say(verbose, data.source)
    return data


def _find_files(directory: Path) -> dict[str, Path | None]:
    found: dict[str, Path | None] = {}
    for key, (stem, _) in MNIST_FILES.items():
        candidates = (directory / stem, directory / f"{stem}.gz")
        found[key] = next((p for p in candidates if p.is_file()), None)
    return found


def _from_dir(directory: Path, found: dict[str, Path | None], seed: int) -> MnistData | None:
    """Full train+test, or the test-set-only split; None without the t10k pair."""
    if found["test_images"] is None or found["test_labels"] is None:
        return None
    x_test, y_test = _read_pair(found["test_images"], found["test_labels"])
    if found["train_images"] is not None and found["train_labels"] is not None:
        x_train, y_train = _read_pair(found["train_images"], found["train_labels"])
        source = f"MNIST from {directory}: {len(y_train)} train / {len(y_test)} test"
        return MnistData(_normalize(x_train, 255), y_train, _normalize(x_test, 255), y_test, source)
    tr, te = _split(len(y_test), seed)
    source = (
        f"MNIST test set only (t10k files in {directory}, no training files): split "
        f"deterministically (seed={seed}) into {len(tr)} train / {len(te)} test"
    )
    x = _normalize(x_test, 255)
    return MnistData(x[tr], y_test[tr], x[te], y_test[te], source)


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{labels_path}: expected {len(images)} labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{labels_path}: labels outside 0..9")
    return images, labels.astype(np.int32)


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_train = round(n * TRAIN_FRACTION)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def _normalize(images: np.ndarray, peak: float = 1.0) -> np.ndarray:
    """(N, H, W) images in [0, peak] -> (N, 1, H, W) float32, MNIST mean/std."""
    # float32 throughout: a float64 copy of the 60k training set would be ~380 MB.
    x = images[:, None].astype(np.float32) / np.float32(peak)
    return (x - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    # Half-pixel-centred sampling (align_corners=False), as PIL/torch resize do,
    # so upsampling keeps the digit centred.
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), lo), 1 - frac)
    np.add.at(weights, (np.arange(n_out), hi), frac)
    return weights


def digits_as_mnist() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 bundled 8x8 digits as (N, 28, 28) [0, 1] float images.

    Bilinear upsampling to 24x24 plus 2 px of padding mimics MNIST's centred
    20x20-in-28x28 layout. Needs scikit-learn (the "examples" extra); no network.

    >>> images, labels = digits_as_mnist()  # doctest: +SKIP
    >>> images.shape  # doctest: +SKIP
    (1797, 28, 28)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise RuntimeError(
            "MNIST is not available (no local files, download failed or disabled) "
            "and the offline fallback needs scikit-learn: `pip install scikit-learn` "
            "(the 'examples' extra), or pass --data-dir / data_dir= a directory "
            "holding the MNIST IDX files "
            f"({', '.join(stem for stem, _ in MNIST_FILES.values())}, optionally .gz)"
        ) from exc
    digits = load_digits()
    weights = _bilinear_matrix(8, 24)
    images = np.einsum("oi,nij,pj->nop", weights, digits.images / 16.0, weights)
    images = np.pad(np.clip(images, 0.0, 1.0), ((0, 0), (2, 2), (2, 2)))
    return images, digits.target.astype(np.int32)


def _digits_fallback(seed: int) -> MnistData:
    images, labels = digits_as_mnist()
    tr, te = _split(len(labels), seed)
    x = _normalize(images)
    source = (
        "FALLBACK: MNIST unavailable, using scikit-learn's 8x8 digits upsampled "
        "to 28x28 "
        f"({len(tr)} train / {len(te)} test, seed={seed}); this is NOT MNIST"
    )
    return MnistData(x[tr], labels[tr], x[te], labels[te], source)
