"""examples/mnist_cnn.py in PyTorch: the same model, split, Adam + OneCycleLR, batches.

python bench/mnist_cnn_torch_reference.py --data-dir ../shared/data/mnist

The split comes from ember's `load_mnist` (same seed) and the batches from the
example's own numpy `ShiftedBatches` (same seed: same order, same shifts), so both
programs see the same batches; only the initial weights and dropout masks differ (each
framework's own RNG, same distributions). The wall time covers the training epochs
with their per-epoch test evaluation, as the example's does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from mnist_cnn import ShiftedBatches  # noqa: E402

from ember.datasets import load_mnist  # noqa: E402


class ConvNet(nn.Module):
    def __init__(self, channels: tuple[int, int] = (32, 64), dropout: float = 0.25):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c2 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(self.dropout(torch.flatten(self.features(x), 1)))


def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple:
    net.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = net(x[i : i + batch_size])
            target = y[i : i + batch_size]
            loss += nn.functional.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    return loss / len(x), correct / len(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--shift", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    data = load_mnist(args.data_dir, seed=args.seed)
    torch.manual_seed(args.seed)
    net = ConvNet()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps_per_epoch = -(-len(data.y_train) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch
    )
    batches = ShiftedBatches(data.x_train, data.y_train, args.batch_size, args.shift, args.seed)
    xt, yt = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test).long()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        total = 0.0
        for xb, yb in batches:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(
                net(torch.from_numpy(xb)), torch.from_numpy(yb).long()
            )
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        test_loss, acc = evaluate(net, xt, yt, args.batch_size)
        print(
            f"epoch {epoch + 1}: train loss {total / steps_per_epoch:.4f}  "
            f"test loss {test_loss:.4f}  test accuracy {100 * acc:.2f}%"
        )
    seconds = time.perf_counter() - start
    print(f"test accuracy {100 * acc:.2f}%  ({seconds:.1f} s training, PyTorch CPU)")


if __name__ == "__main__":
    main()
