"""A torchvision-style ResNet-18 on CIFAR-10 (binary version; random crop + flip).

python examples/cifar_resnet.py --data-dir ~/data/cifar10          # a small subset, CPU
python examples/cifar_resnet.py --subset 0 --epochs 200 --batch-size 512   # full run (TPU)
python examples/cifar_resnet.py --synthetic                         # smoke test, NOT CIFAR

The model is torchvision's `resnet18` (BasicBlock, [2, 2, 2, 2] blocks, widths 64-512,
the same parameter names) with the CIFAR stem: a 3x3 stride-1 first convolution and no
max-pool, so the 32x32 images reach layer4 at 4x4. Training follows the common CIFAR
recipe: SGD with momentum 0.9 and weight decay 5e-4, cosine-annealed per step from
`--lr`, random 32x32 crops of the 4-pixel zero-padded image and horizontal flips.

Data, first found: `--data-dir` (the six `.bin` files, `cifar-10-batches-bin/` or
`cifar-10-binary.tar.gz`), ember's cache (`$EMBER_DATA/cifar10`), a download of the
archive (MD5-checked). Without any, it says what to get and exits with status 2.
`--synthetic` trains on random labelled images instead; everything it prints says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import jax
import numpy as np

import ember as em
from ember import nn, optim
from ember.callbacks import LRSchedulerCallback
from ember.datasets import Cifar10Unavailable, load_cifar10, normalize_cifar

SYNTHETIC = "SYNTHETIC data (random images, not CIFAR-10)"


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a residual; a 1x1 conv-BN projects it when shapes change."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's ResNet-18 with the CIFAR stem (3x3 stride-1 conv1, no max-pool)."""

    def __init__(self, num_classes: int = 10, width: int = 64):
        super().__init__()
        widths = (width, 2 * width, 4 * width, 8 * width)
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        inplanes = width
        for i, planes in enumerate(widths):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(em.flatten(self.avgpool(x), 1))


class CifarBatches:
    """Re-iterable `(x, y)` batches of normalized float32 images from uint8 arrays.

    With `augment`, each image is a random 32x32 crop of itself zero-padded by 4 pixels,
    flipped left-right with probability 1/2 (torchvision's `RandomCrop(32, padding=4)`
    and `RandomHorizontalFlip()`). `shuffle` draws a new order on each pass.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        *,
        augment: bool = False,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
    ):
        self.images, self.labels = images, np.asarray(labels, np.int32)
        self.batch_size, self.augment = batch_size, augment
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for k in range(len(self)):
            idx = order[k * self.batch_size : (k + 1) * self.batch_size]
            images = self.images[idx]
            if self.augment:
                images = self._augment(images)
            yield normalize_cifar(images), self.labels[idx]

    def _augment(self, images: np.ndarray) -> np.ndarray:
        n, _, h, w = images.shape
        padded = np.pad(images, ((0, 0), (0, 0), (4, 4), (4, 4)))
        dy, dx = self.rng.integers(0, 9, n), self.rng.integers(0, 9, n)
        flip = self.rng.random(n) < 0.5
        out = np.empty_like(images)
        for i in range(n):
            crop = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
            out[i] = crop[:, :, ::-1] if flip[i] else crop
        return out


def synthetic_cifar(n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random uint8 images whose class sets a coloured stripe: learnable, clearly not CIFAR."""
    rng = np.random.default_rng(seed)
    out = []
    for n in (n_train, n_test):
        labels = rng.integers(0, 10, n).astype(np.int32)
        images = rng.integers(0, 128, (n, 3, 32, 32)).astype(np.uint8)
        for c in range(10):
            rows = slice(3 * c, 3 * c + 3)
            images[labels == c, c % 3, rows, :] = 255
        out += [images, labels]
    return tuple(out)


def eval_batch_size(n: int, batch_size: int) -> int:
    """The largest divisor of `n` up to `batch_size` (one eval program, no ragged batch)."""
    best = max(d for d in range(1, min(n, batch_size) + 1) if n % d == 0)
    return best if 4 * best >= min(n, batch_size) else batch_size


def build(
    lr: float, total_steps: int, width: int = 64, seed: int = 0, spe: int = 1, mesh=None
) -> tuple:
    """A fresh ResNet-18, compiled with SGD + cosine per step; returns (model, callback)."""
    em.manual_seed(seed)
    net = ResNet18(width=width)
    optimizer = optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        metrics=["accuracy"],
        steps_per_execution=spe,
        **em.distributed.mesh_from_flag(mesh),
    )
    return model, LRSchedulerCallback(schedule, interval="step")


def time_steps(args: argparse.Namespace, steps: int) -> float:
    """Seconds per train step on one synthetic batch of the right shape (after compiling)."""
    model, _ = build(args.lr, steps, args.width, args.seed)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch_size, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, args.batch_size).astype(np.int32)
    start = time.perf_counter()
    jax.block_until_ready((model.train_step(x, y, None), model.state["params"]))
    print(f"compile + first step: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    for _ in range(steps):
        logs = model.train_step(x, y, None)
    jax.block_until_ready((logs, model.state["params"]))
    per_step = (time.perf_counter() - start) / steps
    print(
        f"train step, batch {args.batch_size} (width {args.width}, synthetic input): "
        f"{per_step * 1000:.0f} ms/step, {args.batch_size / per_step:.0f} images/s "
        f"on {jax.devices()[0].device_kind}"
    )
    return per_step


def load(args: argparse.Namespace) -> tuple[tuple[np.ndarray, ...], str]:
    """(x_train, y_train, x_test, y_test) and a description; exits 2 without the data."""
    if args.synthetic:
        n = args.subset or 50000
        return synthetic_cifar(n, max(n // 5, 10), args.seed), SYNTHETIC
    try:
        data = load_cifar10(args.data_dir, download=args.download)
    except Cifar10Unavailable as exc:
        print(f"cifar_resnet: {exc}", file=sys.stderr)
        print(
            "Then pass --data-dir FOLDER (or leave the archive in the cache). --synthetic "
            "trains on random images for a smoke test only; it is not CIFAR-10.",
            file=sys.stderr,
        )
        sys.exit(2)
    arrays = (data.x_train, data.y_train, data.x_test, data.y_test)
    if args.subset:
        rng = np.random.default_rng(args.seed)
        tr = np.sort(rng.permutation(len(data.y_train))[: args.subset])
        te = np.sort(rng.permutation(len(data.y_test))[: max(args.subset // 5, 10)])
        arrays = (data.x_train[tr], data.y_train[tr], data.x_test[te], data.y_test[te])
        return arrays, f"CIFAR-10 (random subset, seed {args.seed})"
    return arrays, "CIFAR-10"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, train, print per-epoch figures, write the curves, print the test accuracy."""
    (x_train, y_train, x_test, y_test), what = load(args)
    print(f"{what}: train {x_train.shape}, test {x_test.shape}")
    train = CifarBatches(
        x_train,
        y_train,
        args.batch_size,
        augment=True,
        shuffle=True,
        drop_last=True,
        seed=args.seed,
    )
    test = CifarBatches(x_test, y_test, eval_batch_size(len(y_test), args.batch_size))
    if len(train) == 0:
        sys.exit(f"cifar_resnet: {len(y_train)} training images < one batch of {args.batch_size}")
    model, schedule = build(
        args.lr,
        args.epochs * len(train),
        args.width,
        args.seed,
        args.steps_per_execution,
        args.mesh,
    )
    start = time.perf_counter()
    history = model.fit(
        train,
        epochs=args.epochs,
        validation_data=test,
        verbose=1 if args.progress else 0,
        callbacks=[schedule],
    )
    seconds = time.perf_counter() - start
    for epoch in range(len(history["loss"])):
        print(
            f"epoch {epoch + 1}: train loss {history['loss'][epoch]:.4f}  "
            f"train accuracy {100 * history['accuracy'][epoch]:.2f}%  "
            f"test loss {history['val_loss'][epoch]:.4f}  "
            f"test accuracy {100 * history['val_accuracy'][epoch]:.2f}%"
        )
    if args.plot:
        history.plot(args.plot)
        print(f"wrote {args.plot}")
    accuracy = history["val_accuracy"][-1]
    print(
        f"test accuracy {100 * accuracy:.2f}% on {len(y_test)} test images "
        f"({what}; {len(y_train)} train, {seconds:.1f} s training)"
    )
    return {"history": history, "accuracy": accuracy, "seconds": seconds, "model": model}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="CIFAR-10 binary files or archive")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1, help="initial lr (cosine-annealed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-per-execution", type=int, default=1, help="train steps per dispatch")
    p.add_argument("--mesh", default=None, help="devices: 'data=-1', 'fsdp=-1', 'off'")
    p.add_argument(
        "--subset", type=int, default=512, help="N train, N/5 test images (0: all 50k/10k)"
    )
    p.add_argument("--width", type=int, default=64, help="layer1 channels (64: ResNet-18)")
    p.add_argument("--synthetic", action="store_true", help="random images: smoke test only")
    p.add_argument("--no-download", dest="download", action="store_false")
    p.add_argument("--plot", default="cifar_resnet_curves.png", help="PNG of the curves ('' skips)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm bar")
    p.add_argument("--time-steps", type=int, default=0, help="only time N train steps, then exit")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    em.distributed.initialize()  # joins the other hosts of a TPU slice; no-op on one host
    if args.time_steps:
        return {"seconds_per_step": time_steps(args, args.time_steps)}
    return run(args)


if __name__ == "__main__":
    main()
