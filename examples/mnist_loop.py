"""The reference program in PyTorch's own loop form: `loss.backward(); optimizer.step()`.

The loop below is PyTorch's tutorial loop with the imports changed. Tensors outside
the model are lazy; `optimizer.step()` runs forward, backward and the SGD update of
each iteration as ONE compiled XLA program (compiled once per batch shape).

python examples/mnist_loop.py --data-dir ../shared/data/mnist
"""

import argparse
import time

import ember as em
import ember.nn.functional as F  # noqa: F401  (the reference program's imports)
from ember import nn, optim
from ember.datasets import load_mnist
from ember.runtime.stats import compile_count
from ember.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = em.flatten(x, 1)
        x = self.fc1(x)
        x = em.relu(x)
        x = self.fc2(x)
        return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (gz or not)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = load_mnist(args.data_dir, seed=args.seed)
    print(f"train {data.x_train.shape}, test {data.x_test.shape}")
    em.manual_seed(args.seed)
    trainloader = DataLoader(
        TensorDataset(em.tensor(data.x_train), em.tensor(data.y_train)),
        batch_size=args.batch_size,
        shuffle=True,
    )
    testloader = DataLoader(
        TensorDataset(em.tensor(data.x_test), em.tensor(data.y_test)), batch_size=1000
    )

    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    start, compiles = time.perf_counter(), compile_count()

    for epoch in range(args.epochs):  # PyTorch's loop, imports changed
        net.train()
        running_loss = 0.0
        for inputs, labels in trainloader:
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()

        net.eval()
        correct = total = 0
        with em.no_grad():
            for images, labels in testloader:
                outputs = net(images)
                _, predicted = em.max(outputs.data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        print(
            f"epoch {epoch + 1}: loss {running_loss / len(trainloader):.4f}  "
            f"test accuracy {100 * correct / total:.2f}%"
        )

    print(
        f"test accuracy {100 * correct / total:.2f}%  ({time.perf_counter() - start:.1f} s, "
        f"{compile_count() - compiles} programs compiled)"
    )


if __name__ == "__main__":
    main()
