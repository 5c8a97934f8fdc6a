"""Shared cache/download helpers: atomic, verified fetches with plain urllib.

A download is streamed into a temp file *in the destination directory*,
fsynced, verified (MD5 and/or minimum size), and only then `os.replace`d into
place, so a crash or a bad mirror never leaves a half-written file that a later
run would mistake for data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from http.client import HTTPException
from pathlib import Path
from urllib.request import urlopen

DEFAULT_TIMEOUT = 10.0
_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be fetched from any mirror (network, HTTP or checksum)."""


def data_root() -> Path:
    """The root of ember's dataset cache: `$EMBER_DATA` or `~/.cache/ember`.

    Each dataset lives in a subdirectory (`mnist/`, `text/`), so pointing
    `EMBER_DATA` at a directory laid out that way serves every loader.

    >>> data_root() / "mnist"  # doctest: +SKIP
    PosixPath('/home/me/.cache/ember/mnist')
    """
    env = os.environ.get("EMBER_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ember"


def say(verbose: bool, message: str) -> None:
    if verbose:
        print(f"[ember.datasets] {message}", flush=True)


def fetch(
    urls: Sequence[str],
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    min_bytes: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    verbose: bool = True,
) -> Path:
    """Download the first mirror in `urls` that verifies, atomically, to `dest`.

    Raises `DownloadError` listing every mirror's failure; `dest` is untouched
    on failure.

    >>> fetch(["https://example.org/a.gz"], "/tmp/a.gz", md5="0" * 32)  # doctest: +SKIP
    """
    dest = Path(dest)
    errors: list[str] = []
    for url in urls:
        say(verbose, f"downloading {url} -> {dest}")
        try:
            _fetch_one(url, dest, md5=md5, min_bytes=min_bytes, timeout=timeout)
            return dest
        # URLError, HTTPError, timeouts and disk errors are all OSError;
        # ValueError covers malformed URLs. Anything else is a bug: let it out.
        except (OSError, HTTPException, ValueError) as exc:
            errors.append(f"{url}: {exc}")
            say(verbose, f"  failed: {exc}")
    raise DownloadError(f"could not download {dest.name}:\n  " + "\n  ".join(errors))


def _fetch_one(url: str, dest: Path, *, md5: str | None, min_bytes: int, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5(usedforsecurity=False)  # integrity check, not security
        size = 0
        with os.fdopen(fd, "wb") as out, urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if md5 is not None and digest.hexdigest() != md5:
            raise DownloadError(f"MD5 mismatch: got {digest.hexdigest()}, expected {md5}")
        if size < min_bytes:
            raise DownloadError(f"got {size} bytes, expected at least {min_bytes}")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(dest.parent)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not possible on every OS/filesystem.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
