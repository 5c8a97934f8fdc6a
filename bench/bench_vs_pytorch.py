"""Training-step time of ember vs a hand-written jax.jit + optax step and PyTorch eager.

The methodology of issue 12's table: same initial weights (PyTorch's initialisation,
copied by state_dict) and the same batches for every framework, SGD (lr 0.01, momentum
0.9), cross-entropy, the median of `--steps` (>= 30) blocked steps after warm-up, and a
fresh process per cell, so no framework warms another's caches or threads. With
`--rounds R` the whole table is measured R times, interleaved, and each ratio is the
median of the per-round ratios (range in brackets): this VM's speed drifts by 10-30 %
over minutes.

- MLP: 784-128-ReLU-10 at batch 64 and 1024;
- CNN: PyTorch's examples/mnist net (2 convs, max-pool, 2 linears), batch 64, 28x28;
- GPT: nanoGPT, 2 layers, d=128, 4 heads, T=64, batch 32 (loss inside `forward`);
- ResNet-18: torchvision's layout (7x7 stride-2 stem, max-pool, 4 stages), batch 32,
  64x64, 1000 classes, train mode (BatchNorm); PyTorch and ember only.

The hand-written JAX steps are written in plain JAX (`lax.conv_general_dilated`,
`jnp.dot`), not through ember, so they are an independent baseline.

    python bench/bench_vs_pytorch.py --steps 30 --rounds 3
    python bench/bench_vs_pytorch.py --cells cnn64 --frameworks ember torch
"""

from __future__ import annotations

import os

# compile times are measured: no programs from an earlier run (runtime/compilation_cache.py)
os.environ.setdefault("EMBER_COMPILATION_CACHE", "0")

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

SGD = {"lr": 0.01, "momentum": 0.9}


def define_mlp(torch, nn, F):
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))

    return MLP


def define_cnn(torch, nn, F):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
            return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))

    return Net


def define_resnet18(torch, nn, F):
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return F.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            cin = 64
            for i, planes in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                layer = nn.Sequential(BasicBlock(cin, planes, stride), BasicBlock(planes, planes))
                setattr(self, f"layer{i + 1}", layer)
                cin = planes
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet18


def define_gpt(torch, nn, F):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    import port_models

    config = port_models.GPTConfig(block_size=64, vocab_size=65, n_layer=2, n_head=4, n_embd=128)
    gpt = port_models.define_gpt(torch, nn, F)
    return lambda: gpt(config)


def batches(cell: str, n: int = 4, index=np.int32) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` batches (inputs, targets); class indices as `index` (torch wants int64)."""
    rng = np.random.default_rng(0)
    spec = CELLS[cell]
    out = []
    for _ in range(n):
        if spec["model"] == "gpt":
            idx = rng.integers(0, 65, (spec["batch"], 65)).astype(index)
            out.append((idx[:, :-1].copy(), idx[:, 1:].copy()))
        else:
            x = rng.standard_normal((spec["batch"], *spec["input"])).astype(np.float32)
            out.append((x, rng.integers(0, spec["classes"], spec["batch"]).astype(index)))
    return out


# "steps": the least number of timed steps (sub-millisecond steps need many for a stable median)
CELLS = {
    "mlp64": {"model": "mlp", "batch": 64, "input": (1, 28, 28), "classes": 10, "steps": 300},
    "mlp1024": {"model": "mlp", "batch": 1024, "input": (1, 28, 28), "classes": 10, "steps": 100},
    "cnn64": {"model": "cnn", "batch": 64, "input": (1, 28, 28), "classes": 10},
    "gpt32": {"model": "gpt", "batch": 32},
    "resnet18_32": {"model": "resnet18", "batch": 32, "input": (3, 64, 64), "classes": 1000},
}
DEFINE = {"mlp": define_mlp, "cnn": define_cnn, "gpt": define_gpt, "resnet18": define_resnet18}


def torch_model(model: str):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    return DEFINE[model](torch, nn, F)()


def initial_state(model: str) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in torch_model(model).state_dict().items()}


def run_torch(cell: str):
    import torch

    spec = CELLS[cell]
    net = torch_model(spec["model"])
    net.train()
    opt = torch.optim.SGD(net.parameters(), **SGD)
    data = [tuple(torch.from_numpy(a) for a in b) for b in batches(cell, index=np.int64)]

    def step(batch):
        x, y = batch
        opt.zero_grad()
        if spec["model"] == "gpt":
            _, loss = net(x, y)
        else:
            loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step, data


def run_ember(cell: str):
    import ember as em
    from ember import nn, optim

    spec = CELLS[cell]
    em.manual_seed(0)
    net = DEFINE[spec["model"]](em, em.nn, em.nn.functional)()
    net.load_state_dict(initial_state(spec["model"]))
    opt = optim.SGD(net.parameters(), **SGD)
    if spec["model"] == "gpt":
        model = em.compile(net, loss=None, output=1, optimizer=opt)
        return (lambda b: model.train_step(b)["loss"]), batches(cell)
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=opt)
    return (lambda b: model.train_step(*b)["loss"]), batches(cell)


def run_jax(cell: str):
    import jax
    import optax

    spec = CELLS[cell]
    forward = HANDWRITTEN[spec["model"]]
    params = {k: jax.numpy.asarray(v) for k, v in initial_state(spec["model"]).items()}
    params = {k: v for k, v in params.items() if not k.endswith((".attn.bias", "lm_head.weight"))}
    tx = optax.sgd(SGD["lr"], momentum=SGD["momentum"])

    def loss_fn(p, x, y):
        logits = forward(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        ).mean()

    def update(p, s, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    update = jax.jit(update, donate_argnums=(0, 1))
    state = [params, tx.init(params)]

    def step(batch):
        state[0], state[1], loss = update(state[0], state[1], *batch)
        return loss

    return step, batches(cell)


def linear(p, name, x):
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def mlp_forward(p, x):
    import jax

    return linear(p, "fc2", jax.nn.relu(linear(p, "fc1", x.reshape(x.shape[0], -1))))


def cnn_forward(p, x):
    import jax
    from jax import lax

    def conv(name, x):
        y = lax.conv_general_dilated(x, p[f"{name}.weight"], (1, 1), "VALID")
        return jax.nn.relu(y + p[f"{name}.bias"][None, :, None, None])

    x = conv("conv2", conv("conv1", x))
    x = lax.reduce_window(x, -np.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    return linear(p, "fc2", jax.nn.relu(linear(p, "fc1", x.reshape(x.shape[0], -1))))


def gpt_forward(p, idx):
    import jax
    import jax.numpy as jnp

    def layer_norm(name, x):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p[f"{name}.weight"] + p[f"{name}.bias"]

    b, t = idx.shape
    x = p["transformer.wte.weight"][idx] + p["transformer.wpe.weight"][:t]
    heads, d = 4, x.shape[-1]
    mask = jnp.tril(jnp.ones((t, t), bool))
    for i in range(2):
        h = f"transformer.h.{i}"
        q, k, v = jnp.split(linear(p, f"{h}.attn.c_attn", layer_norm(f"{h}.ln_1", x)), 3, -1)
        q, k, v = (a.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3) for a in (q, k, v))
        att = jnp.where(mask, q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads), -jnp.inf)
        y = (jax.nn.softmax(att, -1) @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        x = x + linear(p, f"{h}.attn.c_proj", y)
        m = jax.nn.gelu(linear(p, f"{h}.mlp.c_fc", layer_norm(f"{h}.ln_2", x)), approximate=False)
        x = x + linear(p, f"{h}.mlp.c_proj", m)
    return layer_norm("transformer.ln_f", x) @ p["transformer.wte.weight"].T


HANDWRITTEN = {"mlp": mlp_forward, "cnn": cnn_forward, "gpt": gpt_forward}
RUNNERS = {"jax": run_jax, "torch": run_torch, "ember": run_ember}


def measure(cell: str, framework: str, steps: int, warmup: int) -> dict:
    """Median blocked step (ms) and first-step (compile) time of one cell, in this process."""
    import jax

    step, data = RUNNERS[framework](cell)
    t0 = time.perf_counter()
    jax.block_until_ready(step(data[0]))
    first = time.perf_counter() - t0
    for i in range(warmup):
        jax.block_until_ready(step(data[i % len(data)]))
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(steps):
        t0 = time.perf_counter()
        loss = step(data[i % len(data)])
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - t0)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    return {
        "ms": statistics.median(times) * 1e3,
        "first_s": first,
        "loss": float(loss),
        "faults_per_step": faults,
    }


def fresh_process_ms(cell: str, framework: str, args: argparse.Namespace) -> float:
    """The median step time of one cell, measured in a new Python process."""
    steps = max(args.steps, CELLS[cell].get("steps", 0))
    cmd = [sys.executable, __file__, "--one", cell, framework, "--steps", str(steps)]
    cmd += ["--warmup", str(max(args.warmup, steps // 10))]
    env = {**os.environ, **dict(kv.split("=", 1) for kv in args.env)}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["ms"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", nargs="+", default=list(CELLS))
    parser.add_argument("--frameworks", nargs="+", default=["jax", "torch", "ember"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repeats")
    parser.add_argument(
        "--env",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="environment of every cell's process, e.g. GLIBC_TUNABLES=glibc.malloc.hugetlb=1",
    )
    parser.add_argument("--one", nargs=2, metavar=("CELL", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.steps, args.warmup)))
        return
    rounds: dict[str, list[dict]] = {cell: [] for cell in args.cells}
    for _ in range(args.rounds):  # interleaved: a slow minute on the VM hits every framework
        for cell in args.cells:
            frameworks = [
                fw for fw in args.frameworks if fw != "jax" or CELLS[cell]["model"] in HANDWRITTEN
            ]
            rounds[cell].append({fw: fresh_process_ms(cell, fw, args) for fw in frameworks})
    print("| cell | " + " | ".join(args.frameworks) + " | ember / jax | ember / torch |")
    print("|---" * (len(args.frameworks) + 3) + "|")
    for cell, rows in rounds.items():
        cols = [
            f"{statistics.median(r[f] for r in rows):.2f} ms" if f in rows[0] else "-"
            for f in args.frameworks
        ]
        ratios = []
        for f in ("jax", "torch"):
            if f not in rows[0] or "ember" not in rows[0]:
                ratios.append("-")
                continue
            per_round = sorted(r["ember"] / r[f] for r in rows)
            spread = f" ({per_round[0]:.2f}–{per_round[-1]:.2f})" if len(rows) > 1 else ""
            ratios.append(f"{statistics.median(per_round):.2f}x{spread}")
        print(f"| {cell} | " + " | ".join(cols + ratios) + " |", flush=True)


if __name__ == "__main__":
    main()
