"""ember.datasets.spoken_digits on tiny wav files written here (no network, no espeak-ng
unless it is installed)."""

from __future__ import annotations

import io
import shutil
import struct
import wave
import zipfile

import numpy as np
import pytest

from ember.datasets import SpokenDigits, load_espeak_digits, load_fsdd, load_spoken_digits
from ember.datasets import spoken_digits as sd


def _wav(path, samples: np.ndarray, rate: int = 8000, width: int = 2) -> None:
    """A wav file written with struct, independently of `write_wav`."""
    scale = 2 ** (8 * width - 1) - 1
    ints = np.round(np.clip(samples, -1, 1) * scale).astype(int)
    fmt = {2: "h", 4: "i"}[width]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(ints)}{fmt}", *ints))


def _recordings(folder, speakers=("ann", "bob"), per=7, rate=8000, length=400):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for digit in range(10):
        for speaker in speakers:
            for index in range(per):
                _wav(
                    folder / f"{digit}_{speaker}_{index}.wav",
                    0.5 * rng.uniform(-1, 1, length),
                    rate,
                )
    (folder / "README.md").write_text("not audio")
    return folder


def test_read_wav_scales_and_averages_channels(tmp_path):
    _wav(tmp_path / "a.wav", np.array([0.0, 0.5, -0.5, 1.0]))
    audio, rate = sd.read_wav(tmp_path / "a.wav")
    assert rate == 8000 and audio.dtype == np.float32
    np.testing.assert_allclose(audio, [0, 0.5, -0.5, 1.0], atol=1e-4)
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:  # stereo: the channels' mean
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(struct.pack("<4h", 16384, 0, -16384, -16384))
    audio, rate = sd.read_wav(tmp_path / "s.wav")
    assert rate == 16000
    np.testing.assert_allclose(audio, [0.25, -0.5], atol=1e-4)


def test_write_wav_round_trip(tmp_path):
    x = np.sin(np.linspace(0, 20, 300)).astype(np.float32) * 0.8
    sd.write_wav(tmp_path / "r.wav", x, 8000)
    y, rate = sd.read_wav(tmp_path / "r.wav")
    assert rate == 8000
    np.testing.assert_allclose(y, x, atol=1e-4)


def test_resample_keeps_a_tone_and_the_duration():
    t = np.arange(22050) / 22050
    tone = np.sin(2 * np.pi * 440 * t)
    out = sd.resample(tone, 22050, 8000)
    assert len(out) == 8000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over one second
    np.testing.assert_allclose(out, np.sin(2 * np.pi * 440 * np.arange(8000) / 8000), atol=0.02)
    assert sd.resample(tone[:10], 8000, 8000).shape == (10,)


def test_fix_length_and_trim_silence():
    np.testing.assert_array_equal(sd.fix_length(np.ones(3), 5), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(sd.fix_length(np.arange(6.0), 4), [0, 1, 2, 3])
    x = np.concatenate([np.zeros(10), [0.5, -1.0, 0.2], np.full(5, 0.001)])
    np.testing.assert_array_equal(sd.trim_silence(x), [0.5, -1.0, 0.2])


def test_parse_name():
    assert sd.parse_name("7_jackson_32.wav") == (7, "jackson", 32)
    assert sd.parse_name("0_en-gb-m3_5.wav") == (0, "en-gb-m3", 5)
    for bad in ("x_a_1.wav", "7_jackson.wav", "12_a_1.wav", "7_a_1.mp3"):
        with pytest.raises(ValueError):
            sd.parse_name(bad)


def test_load_fsdd_from_a_folder_uses_the_official_split(tmp_path):
    root = tmp_path / "free-spoken-digit-dataset"
    _recordings(root / "recordings", length=9000)
    data = load_fsdd(root, verbose=False)  # the repository or its recordings/ folder
    assert isinstance(data, SpokenDigits) and not data.synthesized
    assert data.x_train.shape == (10 * 2 * 2, 8000) and data.x_test.shape == (10 * 2 * 5, 8000)
    assert set(data.speakers_test) == {"ann", "bob"} and len(data.speakers_train) == 40
    assert np.bincount(data.y_test).tolist() == [10] * 10
    assert "FSDD" in data.source and data.x_train.dtype == np.float32
    with pytest.raises(FileNotFoundError):
        load_fsdd(tmp_path / "empty-dir-that-does-not-exist", verbose=False)


def test_load_wav_folder_resamples_to_8k(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    _wav(folder / "3_amy_0.wav", np.full(1600, 0.5), rate=16000)
    audio, digits, speakers, indices = sd.load_wav_folder(folder, length=1000)
    assert audio.shape == (1, 1000) and digits.tolist() == [3] and speakers == ["amy"]
    assert indices.tolist() == [0]
    np.testing.assert_allclose(audio[0, 100:700], 0.5, atol=0.02)  # 800 samples of signal
    assert np.abs(audio[0, 850:]).max() < 1e-6


def _zip_of(folder) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"free-spoken-digit-dataset-1.0.10/recordings/{p.name}")
        zf.writestr("free-spoken-digit-dataset-1.0.10/README.md", "readme")
    return buf.getvalue()


def test_download_checks_the_recordings_digest(tmp_path, monkeypatch):
    src = _recordings(tmp_path / "src", per=1)
    (src / "README.md").unlink()
    payload = _zip_of(src)

    def fake_fetch(urls, dest, **kwargs):
        assert urls == [sd.FSDD_URL]
        dest.write_bytes(payload)
        return dest

    monkeypatch.setattr(sd, "fetch", fake_fetch)
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="could not be downloaded.*digest"):
        load_fsdd(cache_dir=cache, verbose=False)  # the real digest does not match
    assert not (cache / "recordings").exists()
    count, digest = sd.recordings_digest(src)
    monkeypatch.setattr(sd, "FSDD_FILES", count)
    monkeypatch.setattr(sd, "FSDD_DIGEST", digest)
    data = load_fsdd(cache_dir=cache, verbose=False)
    assert (cache / "recordings").is_dir() and len(data.y_test) == 20
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_fsdd(cache_dir=tmp_path / "other", download=False, verbose=False)


def test_fallback_to_synthesis_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_DATA", str(tmp_path))
    monkeypatch.setattr(sd.shutil, "which", lambda name: None)  # no espeak-ng
    with pytest.raises(FileNotFoundError):
        load_spoken_digits(download=False, synthesize=False, verbose=False)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        load_spoken_digits(download=False, per_digit=1, verbose=False)


def test_espeak_plan_is_seeded_and_covers_each_digit():
    plan = sd.espeak_plan(per_digit=3, seed=1)
    assert plan == sd.espeak_plan(per_digit=3, seed=1) != sd.espeak_plan(per_digit=3, seed=2)
    assert [p["digit"] for p in plan] == [d for d in range(10) for _ in range(3)]
    assert all(p["accent"] in sd.ESPEAK_ACCENTS and 110 <= p["speed"] <= 220 for p in plan)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_synthesis_end_to_end(tmp_path, monkeypatch):
    plan = [
        {"digit": d, "index": 0, "accent": "en-us", "variant": v, "speed": 160, "pitch": 50}
        for d in (1, 7)
        for v in ("m1", "f3")
    ]
    monkeypatch.setattr(sd, "espeak_plan", lambda per_digit, seed: plan)
    data = load_espeak_digits(tmp_path, verbose=False)
    assert data.synthesized and "SYNTHESIZED" in data.source
    assert data.speakers_test == ["en-us-f3", "en-us-f3"]  # f3 is a held-out voice
    assert sorted(data.y_train.tolist()) == [1, 7] and data.x_train.shape == (2, 8000)
    assert np.abs(data.x_train).max() > 0.5  # real audio, normalized
    again = load_espeak_digits(tmp_path, verbose=False)  # from the cache
    np.testing.assert_array_equal(again.x_train, data.x_train)
