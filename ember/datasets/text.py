"""Plain-text corpora and a character-level vocabulary (tiny Shakespeare)."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ember.datasets._fetch import DEFAULT_TIMEOUT, DownloadError, data_root, fetch, say

TINYSHAKESPEARE_FILE = "tinyshakespeare.txt"
TINYSHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
# There is no official checksum; the real file is 1,115,394 bytes, so anything
# under 1 MB is an error page or a truncated transfer.
TINYSHAKESPEARE_MIN_BYTES = 1_000_000


def load_text(path: str | os.PathLike[str], encoding: str = "utf-8") -> str:
    """Read a whole text file (transparently gunzipping `*.gz`).

    >>> text = load_text("data/text/tinyshakespeare.txt")  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding=encoding) as f:
            return f.read()
    return path.read_text(encoding=encoding)


class CharVocabulary:
    """A bijection between characters and int32 ids (in the given order).

    >>> vocab = CharVocabulary.from_text("hello")
    >>> vocab.chars
    'ehlo'
    >>> ids = vocab.encode("hole")
    >>> ids.tolist(), vocab.decode(ids)
    ([1, 3, 2, 0], 'hole')
    """

    def __init__(self, chars: Iterable[str]):
        chars = "".join(chars)
        if len(set(chars)) != len(chars):
            raise ValueError("CharVocabulary: characters must be unique")
        self.chars = chars
        # Encoding via a sorted code-point table keeps a 1 MB corpus at numpy speed.
        self._codes = _code_points(chars)
        self._order = np.argsort(self._codes, kind="stable")
        self._sorted = self._codes[self._order]

    @classmethod
    def from_text(cls, text: str) -> CharVocabulary:
        """The sorted set of characters in `text`."""
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        more = "..." if len(self) > 40 else ""
        return f"CharVocabulary(size={len(self)}, chars={self.chars[:40]!r}{more})"

    def encode(self, text: str) -> np.ndarray:
        """`text` -> (len(text),) int32 ids; ValueError on unknown characters."""
        codes = _code_points(text)
        pos = np.minimum(np.searchsorted(self._sorted, codes), max(len(self) - 1, 0))
        if len(self) == 0:
            known = np.zeros(codes.shape, bool)
        else:
            known = self._sorted[pos] == codes
        if not known.all():
            unknown = sorted({chr(c) for c in codes[~known]})
            raise ValueError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return self._order[pos].astype(np.int32)

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """int ids -> string; ValueError on ids outside [0, len(self))."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(
                f"ids must be in [0, {len(self)}), got range [{ids.min()}, {ids.max()}]"
            )
        return self._codes[ids].astype("<u4").tobytes().decode("utf-32-le")


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)


def load_tinyshakespeare(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verbose: bool = True,
) -> str:
    """The tiny-Shakespeare corpus (~1.1 MB) as one string.

    `data_dir` (a directory holding `tinyshakespeare.txt`, or the file itself)
    is used as is; otherwise the cache (`cache_dir` or `$EMBER_DATA/text` or
    `~/.cache/ember/text`), downloading into it from karpathy/char-rnn when
    `download`. Raises FileNotFoundError when none of these works.

    >>> text = load_tinyshakespeare("data/text")  # doctest: +SKIP
    >>> vocab = CharVocabulary.from_text(text)  # doctest: +SKIP
    """
    if data_dir is not None:
        path = Path(data_dir)
        if path.is_dir():
            path = path / TINYSHAKESPEARE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (expected {TINYSHAKESPEARE_FILE})")
        say(verbose, f"tiny Shakespeare from {path}")
        return load_text(path)

    path = (
        Path(cache_dir) if cache_dir is not None else data_root() / "text"
    ) / TINYSHAKESPEARE_FILE
    if not path.is_file():
        if not download:
            raise FileNotFoundError(f"{path} not found and download=False; pass data_dir")
        try:
            fetch(
                [TINYSHAKESPEARE_URL],
                path,
                min_bytes=TINYSHAKESPEARE_MIN_BYTES,
                timeout=DEFAULT_TIMEOUT,
                verbose=verbose,
            )
        except DownloadError as exc:
            raise FileNotFoundError(
                f"tiny Shakespeare is not cached at {path} and could not be downloaded "
                f"({exc}); save {TINYSHAKESPEARE_URL} there or pass data_dir"
            ) from exc
        say(
            verbose,
            f"downloaded {path.stat().st_size:,} bytes "
            "(size check only: there is no official checksum)",
        )
    say(verbose, f"tiny Shakespeare from {path}")
    return load_text(path)
