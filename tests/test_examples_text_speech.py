"""Smoke tests of examples/char_gpt.py, text_classifier.py and speech_digits.py.

Each example's own `run`/`main` path trains for a few steps on tiny generated data (no
network, no ../shared, no espeak-ng) and must really learn, print its final metric line
and write its PNG.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import char_gpt  # noqa: E402
import speech_digits  # noqa: E402
import text_classifier  # noqa: E402

import ember as em  # noqa: E402

pytest.importorskip("matplotlib")


def _png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- char_gpt ------------------------------------------------------------------------------


def test_char_gpt_learns_and_samples(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = ["to be", "or not", "that is", "the question"]
    text = "\n".join(" ".join(rng.choice(words, 4)) for _ in range(300))
    plot = tmp_path / "gpt.png"
    args = char_gpt.parser().parse_args(
        [
            "--epochs=2", "--steps=25", "--batch-size=8", "--block-size=16", "--n-layer=1",
            "--n-head=2", "--n-embd=32", "--lr=1e-2", "--val-batches=2", "--sample-len=40",
            "--no-progress", f"--plot={plot}",
        ]
    )  # fmt: skip
    out = char_gpt.run(args, text)  # the sample's window is 16 < 40: it slides
    vocab_size = len(set(text))
    val = out["history"]["val_loss"]
    assert val[-1] < val[0] < math.log(vocab_size)  # better than uniform, and improving
    assert len(out["sample"]) == 40 and set(out["sample"]) <= set(text)
    assert _png(plot)
    printed = capsys.readouterr().out
    assert "epoch 2: train loss" in printed and f"val loss {val[-1]:.4f} after 50 steps" in printed


def test_char_gpt_windows_and_split():
    ids = np.arange(100, dtype=np.int32)
    train, val = char_gpt.split_ids(ids)
    assert len(train) == 90 and val[0] == 90
    x, y = char_gpt.windows(ids, np.array([3, 50]), 8)
    np.testing.assert_array_equal(x[1], np.arange(50, 58))
    np.testing.assert_array_equal(y, x + 1)
    batches = char_gpt.RandomWindows(train, 8, 4, steps=3, seed=0)
    first, second = list(batches), list(batches)
    assert len(first) == 3 and first[0][0].shape == (4, 8)
    assert not np.array_equal(first[0][0], second[0][0])  # fresh windows every epoch


# -- text_classifier -----------------------------------------------------------------------


def _newsgroups(root: Path, per_class: int, seed: int) -> None:
    """A 20-newsgroups-shaped folder tree: headers, quoted lines and topic words."""
    rng = np.random.default_rng(seed)
    topics = {
        "rec.autos": ["engine", "car", "wheel", "brake", "dealer"],
        "sci.space": ["orbit", "nasa", "launch", "moon", "shuttle"],
        "talk.politics": ["vote", "senate", "law", "policy", "election"],
    }
    common = ["the", "a", "is", "and", "of", "i", "think", "that"]
    for split, n in (("20news-bydate-train", per_class), ("20news-bydate-test", per_class // 2)):
        for topic, vocab in topics.items():
            folder = root / split / topic
            folder.mkdir(parents=True)
            for i in range(n):
                body = " ".join(rng.choice(vocab + common * 2, 30))
                quote = "> " + " ".join(rng.choice(sum(topics.values(), []), 10))
                header = f"From: user{i}@example.org\nSubject: {topic} question"
                (folder / str(1000 + i)).write_text(f"{header}\n\n{quote}\n{body}\n")


def test_text_classifier_on_a_newsgroups_tree(tmp_path, capsys):
    _newsgroups(tmp_path / "data", per_class=32, seed=0)  # 96 / 48 posts: 16-post batches
    plot = tmp_path / "text.png"
    out = text_classifier.main(
        [
            f"--data-dir={tmp_path / 'data'}", "--epochs=3", "--batch-size=16", "--lr=0.05",
            "--buckets=4096", "--dim=16", "--max-features=64", "--no-progress",
            f"--plot={plot}", "--steps-per-execution=2",
        ]
    )  # fmt: skip
    loss = out["history"]["loss"]
    assert loss[-1] < loss[0] and out["accuracy"] > 0.8  # chance is 1/3
    assert _png(plot)
    printed = capsys.readouterr().out
    assert "20 newsgroups" in printed and "test accuracy" in printed.splitlines()[-1]


def test_newsgroups_from_an_archive(tmp_path):
    import tarfile

    _newsgroups(tmp_path / "tree", per_class=4, seed=1)
    (tmp_path / "data").mkdir()
    with tarfile.open(tmp_path / "data" / "20news-bydate.tar.gz", "w:gz") as tar:
        for split in ("20news-bydate-train", "20news-bydate-test"):
            tar.add(tmp_path / "tree" / split, arcname=split)
    corpus = text_classifier.load_20newsgroups(str(tmp_path / "data"))
    assert corpus.classes == ["rec.autos", "sci.space", "talk.politics"]
    assert len(corpus.train_texts) == 12 and len(corpus.test_texts) == 6
    assert not any("Subject:" in t or ">" in t for t in corpus.train_texts)


def test_text_classifier_headers_and_quotes_are_dropped():
    post = "From: a@b\nSubject: secret\n\n> quoted words\nbody words\n"
    assert text_classifier._strip_post(post) == "body words"


def test_embedding_bag_packing_matches_per_document_means():
    docs = [np.array([3, 4], np.int32), np.array([5], np.int32), np.array([1, 2, 6], np.int32)]
    flat, offsets = text_classifier.pack(docs, capacity=12)
    np.testing.assert_array_equal(offsets, [0, 2, 3])
    assert flat.shape == (12,) and (flat[6:] == 0).all()
    em.manual_seed(0)
    net = text_classifier.BagClassifier(buckets=8, dim=4, num_classes=2)
    bags = np.asarray(net.embedding(flat, offsets))
    table = np.asarray(net.embedding.weight)
    expected = np.stack([table[d].mean(0) for d in docs])  # padding (0) left out of the mean
    np.testing.assert_allclose(bags, expected, rtol=1e-5, atol=1e-6)
    batches = text_classifier.BagBatches(docs, np.array([0, 1, 0]), 2, 4, drop_last=True)
    ((f, o), y), *rest = list(batches)
    assert not rest and f.shape == (8,) and o.shape == (2,) and y.tolist() == [0, 1]


def test_features_are_hashed_into_range():
    ids = text_classifier.features("Hello hello world", buckets=50, max_features=1000)
    assert ids.min() >= 1 and ids.max() < 50 and len(ids) > 3
    assert len(text_classifier.features("", 50, 10)) == 1  # an empty document is one pad


# -- speech_digits -------------------------------------------------------------------------


def test_speech_digits_learns_synthetic_tones(tmp_path, capsys):
    data = speech_digits.synthetic_digits(per_class=8, length=2000, seed=0)  # 80 / 20 clips
    plot = tmp_path / "speech.png"
    args = speech_digits.parser().parse_args(
        [
            "--epochs=4", "--batch-size=10", "--lr=1e-2", "--width=16", "--n-mels=20",
            "--no-progress", f"--plot={plot}",
        ]
    )  # fmt: skip
    out = speech_digits.run(args, data)
    loss = out["history"]["loss"]
    assert loss[-1] < 0.7 * loss[0]
    assert out["accuracy"] >= 0.5  # chance is 0.1
    assert _png(plot)
    assert "test accuracy" in capsys.readouterr().out.splitlines()[-1]


def test_log_mel_matches_a_numpy_stft():
    x = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    ours = np.asarray(speech_digits.LogMel(n_mels=24)(x))
    # torch.stft(center=True, pad_mode="constant") with a periodic Hann window, in numpy
    padded = np.pad(x.astype(np.float64), ((0, 0), (128, 128)))
    starts = np.arange(0, padded.shape[1] - 256 + 1, 128)
    frames = padded[:, starts[:, None] + np.arange(256)]  # (2, frames, 256)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2  # (2, frames, 129)
    fb = speech_digits.mel_filterbank(129, 24, 8000)
    ref = np.log(np.einsum("bfk,km->bmf", power, fb) + 1e-6)
    assert ours.shape == ref.shape == (2, 24, 8)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_mel_filterbank_covers_every_band():
    fb = speech_digits.mel_filterbank(129, 40, 8000)
    assert fb.shape == (129, 40) and (fb.max(0) > 0.3).all() and fb.min() >= 0
