"""Dataset loaders for the examples: MNIST (IDX), CIFAR-10 (binary), spoken digits, text.

Everything returns plain numpy arrays / strings; nothing is pickled. Cached
downloads live under `$EMBER_DATA` (default `~/.cache/ember`), one
subdirectory per dataset (`mnist/`, `cifar10/`, `fsdd/`, `text/`, ...).

>>> from ember.datasets import load_mnist
>>> data = load_mnist(verbose=False)  # doctest: +SKIP
"""

from ember.datasets._fetch import DownloadError, data_root, fetch
from ember.datasets.cifar import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    Cifar10Data,
    Cifar10Unavailable,
    load_cifar10,
    normalize_cifar,
    parse_cifar_binary,
)
from ember.datasets.idx import parse_idx, read_idx
from ember.datasets.mnist import MNIST_MEAN, MNIST_STD, MnistData, digits_as_mnist, load_mnist
from ember.datasets.spoken_digits import (
    SpokenDigits,
    load_espeak_digits,
    load_fsdd,
    load_spoken_digits,
)
from ember.datasets.text import CharVocabulary, load_text, load_tinyshakespeare

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "CharVocabulary",
    "Cifar10Data",
    "Cifar10Unavailable",
    "DownloadError",
    "MnistData",
    "SpokenDigits",
    "data_root",
    "digits_as_mnist",
    "fetch",
    "load_cifar10",
    "load_espeak_digits",
    "load_fsdd",
    "load_mnist",
    "load_spoken_digits",
    "load_text",
    "load_tinyshakespeare",
    "normalize_cifar",
    "parse_cifar_binary",
    "parse_idx",
    "read_idx",
]
