"""PyTorch reference for examples/mnist_mlp.py: the same MLP, split, optimizer and epochs.

python bench/mnist_torch_reference.py --data-dir ../shared/data/mnist
"""

import argparse

import numpy as np
import torch

from ember.datasets import load_mnist


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_mnist(args.data_dir, seed=args.seed)
    torch.manual_seed(args.seed)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train).long()
    xt, yt = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test).long()
    for epoch in range(args.epochs):
        order = torch.from_numpy(np.random.default_rng(args.seed + epoch).permutation(len(x)))
        for i in range(0, len(x), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            acc = (net(xt).argmax(1) == yt).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {100 * acc:.2f}%")


if __name__ == "__main__":
    main()
