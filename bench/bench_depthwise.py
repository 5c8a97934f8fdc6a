"""Depthwise convolutions on CPU: a MobileNetV2 train step, ember with and without its CPU
rule `conv_depthwise_taps`, against PyTorch eager.

XLA:CPU runs a depthwise conv as a generic grouped conv, 10-40x slower than PyTorch's;
`conv_depthwise_taps` (ember/compiler/lowering/conv_depthwise_cpu.py) sums the kernel's
windows times per-channel weights instead. The model is torchvision's MobileNetV2 layout
(inverted residuals, ReLU6, BatchNorm), written once for both frameworks; same initial
weights and batch, SGD with momentum, median seconds per step after two warm-up steps.
Also times one depthwise conv's forward and forward+backward on its own.

    python bench/bench_depthwise.py --batch 32 --size 96 --steps 6
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import ember as em
from ember.compiler.lowering import backend_rules
from ember.compiler.lowering.backend_rules import ALTERNATIVE_LOWERING
from ember.compiler.lowering.conv import RULES as CONV_RULES

# (expansion, output channels, repeats, first stride): torchvision's MobileNetV2 table
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1)]
SETTINGS += [(6, 160, 3, 2), (6, 320, 1, 1)]


def define_mobilenet_v2(torch, nn):
    def conv_bn(cin, cout, kernel, stride, groups=1, act=True):
        layers = [
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        return nn.Sequential(*layers, *([nn.ReLU6()] if act else []))

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            layers = [conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden)]
            layers += [conv_bn(hidden, cout, 1, 1, act=False)]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.conv(x) if self.residual else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            layers, cin = [conv_bn(3, 32, 3, 2)], 32
            for expand, cout, repeats, stride in SETTINGS:
                for i in range(repeats):
                    layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                    cin = cout
            layers.append(conv_bn(cin, 1280, 1, 1))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Linear(1280, num_classes)

        def forward(self, x):
            x = self.features(x).mean((2, 3))
            return self.classifier(x)

    return MobileNetV2


def _median_step(step, steps: int) -> float:
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ember_step(x, y, state, with_rule: bool, steps: int) -> tuple[float, float]:
    saved = list(backend_rules.BACKEND_RULES["cpu"]["conv"])
    if not with_rule:
        backend_rules.BACKEND_RULES["cpu"]["conv"] = [
            r for r in saved if r[0] != "conv_depthwise_taps"
        ]
    try:
        net = define_mobilenet_v2(em, em.nn)()
        net.load_state_dict(state)
        model = em.compile(
            net, loss=em.nn.CrossEntropyLoss(), optimizer=em.optim.SGD(lr=0.01, momentum=0.9)
        )
        t0 = time.perf_counter()
        float(model.train_step(x, y)["loss"])
        first = time.perf_counter() - t0
    finally:
        backend_rules.BACKEND_RULES["cpu"]["conv"] = saved
    return first, _median_step(lambda: float(model.train_step(x, y)["loss"]), steps)


def torch_step(x, y, state, steps: int) -> float:
    import torch

    net = define_mobilenet_v2(torch, torch.nn)()
    net.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.tensor(x), torch.tensor(y).long()

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()

    return _median_step(step, steps)


def one_conv(batch: int, channels: int, size: int, kernel: int, stride: int) -> dict:
    """ms for one depthwise conv's forward and forward+backward, per formulation."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, channels, size, size)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((channels, 1, kernel, kernel)), jnp.float32)
    pad = kernel // 2
    attrs = dict(stride=[stride] * 2, padding=[pad] * 4, dilation=[1, 1], groups=channels)

    class Ctx:
        precision = jax.lax.Precision.DEFAULT

    out = {}
    for name, rule in [
        ("xla", CONV_RULES["conv"]),
        ("taps", ALTERNATIVE_LOWERING["conv_depthwise_taps"]),
    ]:
        fwd = jax.jit(lambda x, w, r=rule: r(Ctx(), x, w, **attrs))
        grad = jax.jit(jax.grad(lambda x, w, r=rule: jnp.sum(r(Ctx(), x, w, **attrs) ** 2), (0, 1)))
        for label, f in (("forward", fwd), ("forward+backward", grad)):
            out[f"{name} {label}"] = 1e3 * _median_step(
                lambda f=f: jax.block_until_ready(f(x, w)), 10
            )
    import torch

    tx = torch.tensor(np.asarray(x), requires_grad=True)
    tw = torch.tensor(np.asarray(w), requires_grad=True)

    def conv():
        return torch.nn.functional.conv2d(tx, tw, None, stride, pad, 1, channels)

    with torch.no_grad():
        out["PyTorch forward"] = 1e3 * _median_step(conv, 10)
    out["PyTorch forward+backward"] = 1e3 * _median_step(lambda: (conv() ** 2).sum().backward(), 10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    y = rng.integers(0, 10, args.batch).astype(np.int64)
    em.manual_seed(0)
    state = {k: np.asarray(v) for k, v in define_mobilenet_v2(em, em.nn)().state_dict().items()}
    print(f"MobileNetV2, batch {args.batch}, {args.size}x{args.size}, {jax.default_backend()}")
    for with_rule in (True, False):
        first, step = ember_step(x, y.astype(np.int32), state, with_rule, args.steps)
        label = "ember, conv_depthwise_taps" if with_rule else "ember, XLA's grouped conv"
        print(f"  {label:30s} {step:.3f} s/step   (first step with compile {first:.1f} s)")
    print(f"  {'PyTorch eager':30s} {torch_step(x, y, state, args.steps):.3f} s/step")
    for case in [(32, 96, 56, 3, 1), (32, 144, 56, 3, 2), (32, 240, 28, 5, 1)]:
        times = one_conv(*case)
        print(f"  one conv {case}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in times.items()))


if __name__ == "__main__":
    main()
