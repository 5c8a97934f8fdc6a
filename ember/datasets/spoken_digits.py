"""Spoken digits from raw audio: the Free Spoken Digit Dataset, or an espeak-ng set.

Real data is FSDD (Jakobovski/free-spoken-digit-dataset, v1.0.10: 3,000 8 kHz mono
recordings, 6 speakers x 10 digits x 50, named `{digit}_{speaker}_{index}.wav`), read
from a folder, the cache, or a download whose recordings are checked against a pinned
digest. Offline, `load_espeak_digits` synthesizes a labelled stand-in with the
`espeak-ng` program (several accents, voice variants, speeds and pitches per digit);
its `source` says it is synthesized. Audio comes back as float32 in [-1, 1], cut or
zero-padded to a fixed length, at 8 kHz.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ember.datasets._fetch import DownloadError, data_root, fetch, say

SAMPLE_RATE = 8000
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.zip"
FSDD_FILES = 3000
# MD5 of the lines "<file name> <md5 of the file>\n" over recordings/*.wav of v1.0.10, sorted
# by name. GitHub builds its zip archives on the fly, so the archive itself has no stable
# checksum; the recordings inside it do.
FSDD_DIGEST = "3d037c9004f3f2b00c63486fc9366da0"
FSDD_TEST_INDICES = 5  # the dataset's split: indices 0-4 of each speaker/digit are the test set

ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "croak", "klatt", "klatt2", "klatt3",
)  # fmt: skip
ESPEAK_TEST_VARIANTS = ("m4", "f3", "klatt2")  # voices never heard in training
_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")


@dataclass
class SpokenDigits:
    """Fixed-length float32 waveforms `(N, samples)`, int32 digits and speaker names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    speakers_train: list[str]
    speakers_test: list[str]
    source: str
    synthesized: bool
    sample_rate: int = SAMPLE_RATE


# -- wav files ----------------------------------------------------------------------------


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """A PCM wav file as (float32 mono samples in [-1, 1], sample rate); 8/16/32-bit."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 1:
        audio = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dtype = np.dtype(f"<i{width}")
        audio = np.frombuffer(raw, dtype).astype(np.float32) / float(2 ** (8 * width - 1))
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported (8, 16 or 32)")
    return audio.reshape(-1, channels).mean(axis=1), rate


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Float samples in [-1, 1] as a 16-bit mono PCM wav file."""
    pcm = np.clip(np.round(np.asarray(audio, np.float64) * 32767.0), -32768, 32767)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by truncating (or zero-extending) the spectrum (numpy FFT)."""
    if rate_in == rate_out or len(audio) == 0:
        return np.asarray(audio, np.float32)
    n_out = max(1, round(len(audio) * rate_out / rate_in))
    spectrum = np.fft.rfft(audio)
    keep = min(len(spectrum), n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n=n_out) * (n_out / len(audio))
    return out.astype(np.float32)


def fix_length(audio: np.ndarray, length: int) -> np.ndarray:
    """The first `length` samples, zero-padded at the end when shorter."""
    out = np.zeros(length, np.float32)
    out[: min(length, len(audio))] = audio[:length]
    return out


def trim_silence(audio: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Cut leading and trailing samples quieter than `threshold` x the peak."""
    loud = np.flatnonzero(np.abs(audio) > threshold * (np.abs(audio).max() + 1e-12))
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def parse_name(name: str) -> tuple[int, str, int]:
    """`'7_jackson_32.wav'` -> `(7, 'jackson', 32)`; ValueError for other names."""
    m = _NAME.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not named {{digit}}_{{speaker}}_{{index}}.wav")
    return int(m.group(1)), m.group(2), int(m.group(3))


def load_wav_folder(
    folder: str | os.PathLike[str], length: int = SAMPLE_RATE, rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Every `{digit}_{speaker}_{index}.wav` in `folder`, sorted by name:
    `(audio (N, length) float32 at rate, digits, speakers, indices)`."""
    paths = sorted(p for p in Path(folder).iterdir() if _NAME.match(p.name))
    if not paths:
        raise FileNotFoundError(f"no {{digit}}_{{speaker}}_{{index}}.wav files in {folder}")
    audio = np.zeros((len(paths), length), np.float32)
    digits, speakers, indices = [], [], []
    for i, path in enumerate(paths):
        samples, sr = read_wav(path)
        audio[i] = fix_length(resample(samples, sr, rate), length)
        digit, speaker, index = parse_name(path.name)
        digits.append(digit)
        speakers.append(speaker)
        indices.append(index)
    return audio, np.asarray(digits, np.int32), speakers, np.asarray(indices, np.int32)


def recordings_digest(folder: str | os.PathLike[str]) -> tuple[int, str]:
    """(number of `*.wav` files, MD5 over their sorted "name md5" lines)."""
    paths = sorted(Path(folder).glob("*.wav"))
    lines = "".join(f"{p.name} {hashlib.md5(p.read_bytes()).hexdigest()}\n" for p in paths)
    return len(paths), hashlib.md5(lines.encode()).hexdigest()


def _split(audio, digits, speakers, test_mask, source, synthesized) -> SpokenDigits:
    def pick(mask):
        return [s for s, m in zip(speakers, mask, strict=True) if m]

    return SpokenDigits(
        x_train=audio[~test_mask],
        y_train=digits[~test_mask],
        x_test=audio[test_mask],
        y_test=digits[test_mask],
        speakers_train=pick(~test_mask),
        speakers_test=pick(test_mask),
        source=source,
        synthesized=synthesized,
    )


# -- FSDD ---------------------------------------------------------------------------------


def _recordings_dir(path: Path) -> Path | None:
    for candidate in (path, path / "recordings"):
        if candidate.is_dir() and any(_NAME.match(p.name) for p in candidate.iterdir()):
            return candidate
    return None


def download_fsdd(cache_dir: Path, *, verbose: bool = True) -> Path:
    """Fetch the v1.0.10 archive, check its recordings' digest, install `recordings/`."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fsdd-") as tmp:
        archive = fetch([FSDD_URL], Path(tmp) / "fsdd.zip", min_bytes=5_000_000, verbose=verbose)
        staged = Path(tmp) / "recordings"
        staged.mkdir()
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                parts = info.filename.split("/")
                if len(parts) >= 2 and parts[-2] == "recordings" and _NAME.match(parts[-1]):
                    (staged / parts[-1]).write_bytes(zf.read(info))
        count, digest = recordings_digest(staged)
        if (count, digest) != (FSDD_FILES, FSDD_DIGEST):
            raise DownloadError(
                f"FSDD archive: {count} recordings with digest {digest}, expected "
                f"{FSDD_FILES} with {FSDD_DIGEST}"
            )
        target = cache_dir / "recordings"
        os.replace(staged, target)
    say(verbose, f"FSDD: {count} recordings verified into {target}")
    return target


def load_fsdd(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    length: int = SAMPLE_RATE,
    verbose: bool = True,
) -> SpokenDigits:
    """FSDD with its own split (indices 0-4 test, 5-49 train).

    `data_dir` (the repository, or its `recordings/` folder) is used as is; otherwise the
    cache (`cache_dir` or `$EMBER_DATA/fsdd`), downloading into it when `download`.
    Raises FileNotFoundError when none of these works.

    >>> data = load_fsdd("free-spoken-digit-dataset")  # doctest: +SKIP
    >>> data.x_train.shape, data.x_test.shape  # doctest: +SKIP
    ((2700, 8000), (300, 8000))
    """
    if data_dir is not None:
        folder = _recordings_dir(Path(data_dir).expanduser())
        if folder is None:
            raise FileNotFoundError(f"no {{digit}}_{{speaker}}_{{index}}.wav files in {data_dir}")
    else:
        cache = Path(cache_dir) if cache_dir is not None else data_root() / "fsdd"
        folder = _recordings_dir(cache)
        if folder is None:
            if not download:
                raise FileNotFoundError(f"FSDD is not cached in {cache} and download=False")
            try:
                folder = download_fsdd(cache, verbose=verbose)
            except DownloadError as exc:
                raise FileNotFoundError(
                    f"FSDD is not cached in {cache} and could not be downloaded ({exc}); "
                    f"unpack {FSDD_URL} and pass its recordings/ folder as data_dir"
                ) from exc
    audio, digits, speakers, indices = load_wav_folder(folder, length)
    source = (
        f"FSDD recordings from {folder}: {len(digits)} utterances, {len(set(speakers))} speakers"
    )
    say(verbose, source)
    return _split(audio, digits, speakers, indices < FSDD_TEST_INDICES, source, False)


# -- espeak-ng synthesis ------------------------------------------------------------------


def espeak_plan(per_digit: int = 100, seed: int = 0) -> list[dict]:
    """The utterances to synthesize: per digit, `per_digit` random (accent, variant, words
    per minute, pitch) settings, drawn from a seeded generator."""
    rng = np.random.default_rng(seed)
    plan = []
    for digit in range(10):
        for index in range(per_digit):
            plan.append(
                {
                    "digit": digit,
                    "index": index,
                    "accent": ESPEAK_ACCENTS[rng.integers(len(ESPEAK_ACCENTS))],
                    "variant": ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))],
                    "speed": int(rng.integers(110, 221)),
                    "pitch": int(rng.integers(15, 86)),
                }
            )
    return plan


def synthesize_digits(
    out_dir: str | os.PathLike[str],
    plan: list[dict],
    *,
    espeak: str = "espeak-ng",
    rate: int = SAMPLE_RATE,
    verbose: bool = True,
) -> Path:
    """Speak each planned digit with espeak-ng, trim silence, resample to `rate`, and write
    `{digit}_{accent}-{variant}_{index}.wav` plus `synthesis.json` (the plan) to `out_dir`,
    atomically (a temporary folder renamed into place)."""
    binary = shutil.which(espeak)
    if binary is None:
        raise FileNotFoundError(
            f"{espeak} is not installed (Debian/Ubuntu: apt-get install espeak-ng)"
        )
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    say(verbose, f"synthesizing {len(plan)} spoken digits with {binary} into {out}")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        staged = Path(tmp) / "data"
        staged.mkdir()
        raw = Path(tmp) / "raw.wav"
        for item in plan:
            voice = f"{item['accent']}+{item['variant']}"
            cmd = [binary, "-v", voice, "-s", str(item["speed"]), "-p", str(item["pitch"])]
            subprocess.run(
                [*cmd, "-w", str(raw), DIGIT_WORDS[item["digit"]]],
                check=True,
                capture_output=True,
            )
            samples, sr = read_wav(raw)
            audio = resample(trim_silence(samples), sr, rate)
            audio = 0.9 * audio / (np.abs(audio).max() + 1e-9)
            speaker = f"{item['accent']}-{item['variant']}"
            write_wav(staged / f"{item['digit']}_{speaker}_{item['index']}.wav", audio, rate)
        (staged / "synthesis.json").write_text(json.dumps({"rate": rate, "plan": plan}))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    return out


def load_espeak_digits(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    per_digit: int = 100,
    seed: int = 0,
    length: int = SAMPLE_RATE,
    espeak: str = "espeak-ng",
    verbose: bool = True,
) -> SpokenDigits:
    """A synthesized spoken-digit set (cached per plan); test = the held-out voice variants
    `ESPEAK_TEST_VARIANTS`, so test voices are never heard in training.

    >>> data = load_espeak_digits(per_digit=100)  # doctest: +SKIP
    >>> data.synthesized, data.x_train.shape[1]  # doctest: +SKIP
    (True, 8000)
    """
    plan = espeak_plan(per_digit, seed)
    key = hashlib.md5(json.dumps(plan).encode()).hexdigest()[:10]
    root = Path(cache_dir) if cache_dir is not None else data_root() / "spoken_digits"
    folder = root / f"espeak-{key}"
    manifest = folder / "synthesis.json"
    if not (manifest.is_file() and json.loads(manifest.read_text())["plan"] == plan):
        synthesize_digits(folder, plan, espeak=espeak, verbose=verbose)
    audio, digits, speakers, _ = load_wav_folder(folder, length)
    test = np.array([s.rsplit("-", 1)[1] in ESPEAK_TEST_VARIANTS for s in speakers])
    source = (
        f"SYNTHESIZED with espeak-ng (not recordings; offline stand-in for FSDD): "
        f"{len(digits)} utterances from {folder}, test voices {', '.join(ESPEAK_TEST_VARIANTS)}"
    )
    say(verbose, source)
    return _split(audio, digits, speakers, test, source, True)


def load_spoken_digits(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    synthesize: bool = True,
    per_digit: int = 100,
    seed: int = 0,
    verbose: bool = True,
) -> SpokenDigits:
    """FSDD (folder, cache or download), else, when `synthesize`, the espeak-ng stand-in.

    A `data_dir` that holds no FSDD recordings is an error (no silent fallback).
    """
    if data_dir is not None:
        return load_fsdd(data_dir, verbose=verbose)
    try:
        return load_fsdd(download=download, verbose=verbose)
    except FileNotFoundError as exc:
        if not synthesize:
            raise
        say(verbose, f"{exc}\n  falling back to a spoken-digit set SYNTHESIZED with espeak-ng")
    return load_espeak_digits(per_digit=per_digit, seed=seed, verbose=verbose)
