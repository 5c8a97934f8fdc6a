"""Text classification with `nn.EmbeddingBag` + linear (fastText-style hashed n-grams).

python examples/text_classifier.py --data-dir ~/data/20news   # 20 newsgroups, if present
python examples/text_classifier.py                             # offline: CLDR language ID

Corpus, first found:
1. 20 newsgroups in `--data-dir`: the extracted `20news-bydate-train/` and
   `20news-bydate-test/` folders, or `20news-bydate.tar.gz`;
2. 20 newsgroups in scikit-learn's cache (`fetch_20newsgroups(download_if_missing=False)`),
   downloaded there (sklearn checks its SHA-256) when `--download` is given;
3. offline fallback: language identification of the Unicode CLDR display names that
   ship inside the `babel` package (names of languages, countries, currencies, scripts,
   units, time-zone cities), each labelled with the locale it comes from; strings that
   occur in more than one of the languages are dropped, as they carry no label.

Each document becomes hashed word unigrams, word bigrams and character trigrams (ids in
[1, buckets); 0 pads), packed PyTorch-style as a flat id array plus per-document
offsets. Every batch has the same capacity, so one program serves the whole run.
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ember as em
from ember import nn, optim

CLDR_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "pl", "cs", "ro")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Corpus:
    """Documents and integer labels, split into train and test."""

    name: str
    train_texts: list[str]
    train_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    classes: list[str]


class BagClassifier(nn.Module):
    """Mean of the documents' n-gram embeddings, then a linear layer to class logits."""

    def __init__(self, buckets: int, dim: int, num_classes: int):
        super().__init__()
        self.embedding = nn.EmbeddingBag(buckets, dim, mode="mean", padding_idx=0)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, text, offsets):
        return self.fc(self.embedding(text, offsets))


# -- features -----------------------------------------------------------------------------


def features(text: str, buckets: int, max_features: int) -> np.ndarray:
    """Hashed ids (in [1, buckets)) of the words, word bigrams and character 2-4-grams."""
    words = _WORD.findall(text.lower())
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    for w in words:
        padded = f"<{w}>"
        for n in (2, 3, 4):
            grams += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    ids = [1 + zlib.crc32(g.encode()) % (buckets - 1) for g in grams[:max_features]]
    return np.asarray(ids or [0], np.int32)


def featurize(texts: list[str], buckets: int, max_features: int) -> list[np.ndarray]:
    return [features(t, buckets, max_features) for t in texts]


class BagBatches:
    """Re-iterable `((flat_ids, offsets), labels)` batches with a fixed flat capacity.

    The flat array of each batch is padded with 0 (the padding index, left out of every
    bag's mean) to `batch_size * max_features`, so all full batches share one shape.
    Shuffles with a fresh order on every pass when `shuffle`; `drop_last` drops a ragged
    final batch (training), otherwise it is kept (evaluation, one more program).
    """

    def __init__(
        self,
        docs: list[np.ndarray],
        labels: np.ndarray,
        batch_size: int,
        max_features: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
    ):
        self.docs, self.labels = docs, np.asarray(labels, np.int32)
        self.batch_size, self.max_features = batch_size, max_features
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.docs)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.docs)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for k in range(len(self)):
            idx = order[k * self.batch_size : (k + 1) * self.batch_size]
            yield pack([self.docs[i] for i in idx], len(idx) * self.max_features), self.labels[idx]


def pack(docs: list[np.ndarray], capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Documents as `(flat ids padded to capacity, offsets)`: EmbeddingBag's 1-D input form."""
    lengths = np.array([len(d) for d in docs])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    flat = np.zeros(capacity, np.int32)
    joined = np.concatenate(docs)
    flat[: len(joined)] = joined[:capacity]
    return flat, offsets


# -- corpora ------------------------------------------------------------------------------


def _strip_post(text: str) -> str:
    """A newsgroup post without its header block and quoted lines (the usual 'remove')."""
    _, _, body = text.partition("\n\n")
    return "\n".join(ln for ln in body.splitlines() if not ln.lstrip().startswith((">", "|")))


def _from_folders(root: Path) -> Corpus:
    from sklearn.datasets import load_files

    train = load_files(root / "20news-bydate-train", encoding="latin1", random_state=0)
    test = load_files(root / "20news-bydate-test", encoding="latin1", random_state=0)
    return Corpus(
        f"20 newsgroups ({root})",
        [_strip_post(t) for t in train.data],
        np.asarray(train.target, np.int32),
        [_strip_post(t) for t in test.data],
        np.asarray(test.target, np.int32),
        list(train.target_names),
    )


def load_20newsgroups(data_dir: str | None, download: bool = False) -> Corpus | None:
    """20 newsgroups (bydate split, headers and quotes removed) or None when absent."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if (root / "20news-bydate-train").is_dir():
            return _from_folders(root)
        archive = root / "20news-bydate.tar.gz"
        if archive.is_file():
            with tempfile.TemporaryDirectory(prefix="20news-") as tmp:
                with tarfile.open(archive, "r:gz") as tar:
                    tar.extractall(tmp, filter="data")
                return _from_folders(Path(tmp))  # read into memory before the cleanup
    from sklearn.datasets import fetch_20newsgroups

    parts = {}
    for subset in ("train", "test"):
        try:
            parts[subset] = fetch_20newsgroups(
                data_home=data_dir,
                subset=subset,
                remove=("headers", "footers", "quotes"),
                download_if_missing=download,
            )
        except OSError as exc:  # not cached (or the download failed)
            print(f"20 newsgroups not available: {exc}")
            return None
    return Corpus(
        "20 newsgroups (scikit-learn cache)",
        list(parts["train"].data),
        np.asarray(parts["train"].target, np.int32),
        list(parts["test"].data),
        np.asarray(parts["test"].target, np.int32),
        list(parts["train"].target_names),
    )


def cldr_strings(language: str) -> list[str]:
    """Display names of one CLDR locale, as shipped in the babel package."""
    from babel import Locale

    loc = Locale.parse(language)
    out = []
    for table in (loc.languages, loc.territories, loc.currencies, loc.scripts):
        out += list(table.values())
    out += [u["long"] for u in loc._data["unit_display_names"].values() if "long" in u]
    out += [z["city"] for z in loc.time_zones.values() if "city" in z]
    return [s for s in out if isinstance(s, str) and sum(c.isalpha() for c in s) >= 3]


def load_cldr_language_id(
    languages: tuple[str, ...] = CLDR_LANGUAGES, test_fraction: float = 0.2, seed: int = 0
) -> Corpus:
    """Language identification of CLDR display names (offline; needs `babel`)."""
    per_lang = {lang: set(cldr_strings(lang)) for lang in languages}
    seen: dict[str, int] = {}
    for strings in per_lang.values():
        for s in strings:
            seen[s] = seen.get(s, 0) + 1
    texts, labels = [], []
    for k, lang in enumerate(languages):
        unique = sorted(s for s in per_lang[lang] if seen[s] == 1)
        texts += unique
        labels += [k] * len(unique)
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test = int(test_fraction * len(texts))
    texts = [texts[i] for i in order]
    labels = np.asarray(labels, np.int32)[order]
    return Corpus(
        f"CLDR language ID ({len(languages)} languages, from babel; offline fallback)",
        texts[n_test:],
        labels[n_test:],
        texts[:n_test],
        labels[:n_test],
        list(languages),
    )


def load_corpus(data_dir: str | None, download: bool = False, seed: int = 0) -> Corpus:
    corpus = load_20newsgroups(data_dir, download)
    if corpus is not None:
        return corpus
    try:
        return load_cldr_language_id(seed=seed)
    except ImportError:
        sys.exit(
            "text_classifier: neither 20 newsgroups (pass --data-dir, or --download) nor the "
            "offline fallback (pip install babel) is available"
        )


# -- training -----------------------------------------------------------------------------


def run(args: argparse.Namespace, corpus: Corpus) -> dict:
    """Featurize, train, print per-epoch figures and the final test accuracy."""
    if args.max_features is None:
        args.max_features = 1024 if corpus.name.startswith("20 newsgroups") else 128
    print(
        f"{corpus.name}: {len(corpus.classes)} classes, "
        f"train {len(corpus.train_texts):,}, test {len(corpus.test_texts):,} documents"
    )
    train_docs = featurize(corpus.train_texts, args.buckets, args.max_features)
    test_docs = featurize(corpus.test_texts, args.buckets, args.max_features)
    train = BagBatches(
        train_docs,
        corpus.train_labels,
        args.batch_size,
        args.max_features,
        shuffle=True,
        drop_last=True,
        seed=args.seed,
    )
    test = BagBatches(test_docs, corpus.test_labels, args.batch_size, args.max_features)
    em.manual_seed(args.seed)
    net = BagClassifier(args.buckets, args.dim, len(corpus.classes))
    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.Adam(net.parameters(), lr=args.lr),
        metrics=["accuracy"],
        steps_per_execution=args.steps_per_execution,
        **em.distributed.mesh_from_flag(getattr(args, "mesh", None)),
    )
    start = time.perf_counter()
    history = model.fit(
        train, epochs=args.epochs, validation_data=test, verbose=1 if args.progress else 0
    )
    seconds = time.perf_counter() - start
    for epoch in range(len(history["loss"])):
        print(
            f"epoch {epoch + 1}: train loss {history['loss'][epoch]:.4f}  "
            f"test loss {history['val_loss'][epoch]:.4f}  "
            f"test accuracy {100 * history['val_accuracy'][epoch]:.2f}%"
        )
    if args.plot:
        history.plot(args.plot)
        print(f"wrote {args.plot}")
    result = model.evaluate(test, verbose=0)
    print(
        f"test accuracy {100 * result['accuracy']:.2f}% on {len(corpus.test_texts):,} documents "
        f"({corpus.name}; {seconds:.1f} s training)"
    )
    return {"history": history, "accuracy": result["accuracy"], "seconds": seconds}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="20 newsgroups folders/archive or sklearn home")
    p.add_argument(
        "--download", action="store_true", help="let scikit-learn download 20 newsgroups"
    )
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--mesh", default=None, help="devices: 'data=-1', 'fsdp=-1', 'off'")
    p.add_argument("--buckets", type=int, default=1 << 15, help="hash buckets (table rows)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument(
        "--max-features",
        type=int,
        default=None,
        help="n-grams kept per document (128; 1024 for 20NG)",
    )
    p.add_argument("--plot", default=None, help="write the loss/accuracy curves to this PNG")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    em.distributed.initialize()  # joins the other hosts of a TPU slice; no-op on one host
    return run(args, load_corpus(args.data_dir, args.download, args.seed))


if __name__ == "__main__":
    main()
