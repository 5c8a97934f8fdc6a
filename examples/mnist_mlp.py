"""The reference program: an MNIST MLP (784-128-ReLU-10) trained with SGD + momentum.

python examples/mnist_mlp.py                              # cache / download / offline fallback
python examples/mnist_mlp.py --data-dir ../shared/data/mnist
"""

import argparse

import ember as em
import ember.nn.functional as F  # noqa: F401  (the reference program's imports)
from ember import nn, optim
from ember.datasets import load_mnist


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
    parser.add_argument("--show-ir", action="store_true", help="print the module tree and the IR")
    parser.add_argument(
        "--mesh", default=None, help="devices: 'data=-1' (default with several), 'fsdp=-1', 'off'"
    )
    args = parser.parse_args()
    em.distributed.initialize()  # joins the other hosts of a TPU slice; no-op on one host

    data = load_mnist(args.data_dir, seed=args.seed)
    print(f"train {data.x_train.shape}, test {data.x_test.shape}")

    em.manual_seed(args.seed)
    net = Net()
    if args.show_ir:
        print(net)
        print(em.trace(net, em.TensorSpec((args.batch_size, 1, 28, 28))))

    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.SGD(net.parameters(), lr=args.lr, momentum=0.9),
        metrics=["accuracy"],
        **em.distributed.mesh_from_flag(args.mesh),
    )
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(data.x_test, data.y_test),
        verbose=2,
    )
    result = model.evaluate(data.x_test, data.y_test, verbose=0)
    print(f"test loss {result['loss']:.4f}  test accuracy {100 * result['accuracy']:.2f}%")


if __name__ == "__main__":
    main()
