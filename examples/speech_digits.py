"""Spoken-digit recognition from raw 8 kHz audio: log-mel features in ember + a 1-D CNN.

python examples/speech_digits.py --data-dir free-spoken-digit-dataset/recordings   # FSDD
python examples/speech_digits.py            # FSDD cache/download, else espeak-ng synthesized

The features are part of the model: framing and a windowed DFT as one strided `conv1d`
with fixed cosine and sine kernels, power, a mel filterbank matmul and a log; so the
compiled step runs from waveform to logits. Without FSDD (offline) the example trains
on digits SYNTHESIZED with espeak-ng and says so (`ember.datasets.load_spoken_digits`).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import ember as em
import ember.nn.functional as F
from ember import nn, optim
from ember.callbacks import LRSchedulerCallback
from ember.datasets import SpokenDigits, load_fsdd, load_spoken_digits


def mel_filterbank(
    n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    """Triangular HTK-mel filters, `(n_freqs, n_mels)`, unnormalized (torchaudio's default)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = np.linspace(0, sample_rate / 2, n_freqs)

    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    mels = np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    lower, center, upper = hz[:-2], hz[1:-1], hz[2:]
    up = (freqs[:, None] - lower) / (center - lower)
    down = (upper - freqs[:, None]) / (upper - center)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


class LogMel(nn.Module):
    """`(B, samples)` waveforms -> `(B, n_mels, frames)` log-mel power spectrogram.

    Frames of `n_fft` samples every `hop` (zero-padded by `n_fft // 2` on both sides, as
    `torch.stft(center=True, pad_mode="constant")`), a periodic Hann window, power
    spectrum, mel filterbank, `log(mel + 1e-6)`. The kernels are buffers, not parameters.
    """

    def __init__(self, sample_rate: int = 8000, n_fft: int = 256, hop: int = 128, n_mels: int = 40):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        n = np.arange(n_fft)
        window = 0.5 - 0.5 * np.cos(2 * math.pi * n / n_fft)
        k = np.arange(n_fft // 2 + 1)[:, None]
        angle = 2 * math.pi * k * n[None, :] / n_fft
        basis = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
        self.register_buffer("dft", em.tensor(basis[:, None, :].astype(np.float32)))
        fb = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate)
        self.register_buffer("mel_fb", em.tensor(np.ascontiguousarray(fb.T)))

    def forward(self, wave):
        spec = F.conv1d(wave.unsqueeze(1), self.dft, stride=self.hop, padding=self.n_fft // 2)
        real, imag = spec.chunk(2, dim=1)  # (B, n_freqs, frames) each
        power = real * real + imag * imag
        return em.log(em.matmul(self.mel_fb, power) + 1e-6)


class DigitNet(nn.Module):
    """LogMel -> per-band BatchNorm -> three conv blocks -> max over time -> linear."""

    def __init__(self, n_mels: int = 40, width: int = 64, num_classes: int = 10, dropout=0.2):
        super().__init__()
        self.features = LogMel(n_mels=n_mels)
        self.norm = nn.BatchNorm1d(n_mels)

        def block(c_in: int, c_out: int, k: int) -> nn.Sequential:
            conv = nn.Conv1d(c_in, c_out, k, padding=k // 2, bias=False)
            return nn.Sequential(conv, nn.BatchNorm1d(c_out), nn.ReLU())

        self.body = nn.Sequential(
            block(n_mels, width, 5),
            nn.MaxPool1d(2),
            block(width, 2 * width, 5),
            nn.MaxPool1d(2),
            block(2 * width, 2 * width, 3),
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, wave):
        x = self.body(self.norm(self.features(wave)))
        return self.fc(self.dropout(x.amax(dim=-1)))


def synthetic_digits(per_class: int = 8, length: int = 2000, seed: int = 0) -> SpokenDigits:
    """Tiny stand-in for tests: digit d is a tone at 300 + 250 d Hz with random phase,
    onset and noise. Not speech; only for checking that the pipeline learns."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 8000.0

    def make(n: int):
        x = np.zeros((10 * n, length), np.float32)
        y = np.repeat(np.arange(10, dtype=np.int32), n)
        for i, d in enumerate(y):
            start = rng.integers(0, length // 4)
            tone = np.sin(2 * math.pi * (300 + 250 * d) * t + rng.uniform(0, 2 * math.pi))
            x[i, start:] = 0.5 * tone[: length - start]
            x[i] += 0.05 * rng.standard_normal(length)
        return x, y

    (xa, ya), (xb, yb) = make(per_class), make(max(1, per_class // 4))
    return SpokenDigits(
        xa, ya, xb, yb, ["tone"] * len(ya), ["tone"] * len(yb), "synthetic tones", True
    )


def hold_out_speaker(data: SpokenDigits, speaker: str) -> SpokenDigits:
    """Re-split so that every utterance of `speaker` is in the test set, and only those."""
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    speakers = data.speakers_train + data.speakers_test
    test = np.array([s == speaker for s in speakers])
    if not test.any():
        raise SystemExit(f"no speaker {speaker!r}; speakers: {sorted(set(speakers))}")
    return SpokenDigits(
        x[~test],
        y[~test],
        x[test],
        y[test],
        [s for s in speakers if s != speaker],
        [speaker] * int(test.sum()),
        f"{data.source}; test = every utterance of {speaker!r} (held out)",
        data.synthesized,
    )


def run(args: argparse.Namespace, data: SpokenDigits) -> dict:
    """Train on `data`, print per-epoch figures and the final test accuracy."""
    print(f"train {data.x_train.shape}, test {data.x_test.shape} waveforms: {data.source}")
    em.manual_seed(args.seed)
    net = DigitNet(n_mels=args.n_mels, width=args.width)
    opt = optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-2)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)  # per epoch
    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        optimizer=opt,
        metrics=["accuracy"],
        steps_per_execution=args.steps_per_execution,
        **em.distributed.mesh_from_flag(getattr(args, "mesh", None)),
    )
    start = time.perf_counter()
    history = model.fit(
        data.x_train,
        data.y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(data.x_test, data.y_test),
        drop_last=True,
        seed=args.seed,
        callbacks=[LRSchedulerCallback(schedule, interval="epoch")],
        verbose=1 if args.progress else 0,
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
    result = model.evaluate(data.x_test, data.y_test, batch_size=args.batch_size, verbose=0)
    kind = "SYNTHESIZED (espeak-ng)" if data.synthesized else "recorded (FSDD)"
    print(
        f"test accuracy {100 * result['accuracy']:.2f}% on {len(data.y_test)} {kind} "
        f"utterances ({seconds:.1f} s training)"
    )
    return {"history": history, "accuracy": result["accuracy"], "seconds": seconds}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="FSDD repository or its recordings/ folder")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--mesh", default=None, help="devices: 'data=-1', 'fsdp=-1', 'off'")
    p.add_argument("--n-mels", type=int, default=40)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--per-digit", type=int, default=100, help="espeak-ng utterances per digit")
    p.add_argument("--holdout-speaker", default=None, help="test on this speaker only (FSDD)")
    p.add_argument("--no-download", dest="download", action="store_false")
    p.add_argument(
        "--synthesized", action="store_true", help="use the espeak-ng set even if FSDD is there"
    )
    p.add_argument("--plot", default=None, help="write the loss/accuracy curves to this PNG")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    em.distributed.initialize()  # joins the other hosts of a TPU slice; no-op on one host
    if args.synthesized:
        from ember.datasets import load_espeak_digits

        data = load_espeak_digits(per_digit=args.per_digit, seed=args.seed, verbose=False)
    elif args.data_dir is not None:
        data = load_fsdd(args.data_dir, verbose=False)
    else:
        data = load_spoken_digits(download=args.download, per_digit=args.per_digit, seed=args.seed)
    if args.holdout_speaker:
        data = hold_out_speaker(data, args.holdout_speaker)
    return run(args, data)


if __name__ == "__main__":
    main()
