"""Grouped and depthwise convolutions on CPU: train steps with and without ember's CPU
rules, against PyTorch eager.

XLA:CPU runs grouped convs slowly, depthwise ones (groups = channels) 10-40x slower
than PyTorch and grouped ones with several channels per group (ResNeXt) up to ~100x
in the backward. `conv_depthwise_taps` (ember/compiler/lowering/conv_depthwise_cpu.py)
sums a depthwise conv's windows times per-channel weights; `conv_im2col`
(conv_cpu.py) multiplies each group's block of patch rows by its weights. Models,
written once for both frameworks: torchvision's MobileNetV2 layout (inverted
residuals, ReLU6, BatchNorm) and a small ResNeXt (bottlenecks with 32 groups of 4
channels). Same initial weights and batch, SGD with momentum, median seconds per step
after two warm-up steps. Also times single convs' forward and forward+backward.

    python bench/bench_grouped_convs.py --model mobilenet_v2 --batch 32 --size 96 --steps 6
    python bench/bench_grouped_convs.py --model resnext --batch 16 --size 64 --steps 3
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


def define_resnext(torch, nn):
    class Bottleneck(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            width = planes // 64 * 4 * 32  # torchvision: planes * (width_per_group / 64) * groups
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=32, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.down = None
            if stride != 1 or cin != planes * 4:
                self.down = nn.Sequential(
                    nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
                )

        def forward(self, x):
            out = self.bn1(self.conv1(x)).relu()
            out = self.bn2(self.conv2(out)).relu()
            out = self.bn3(self.conv3(out))
            return (out + (x if self.down is None else self.down(x))).relu()

    class ResNeXt(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
            )
            blocks, cin = [], 64
            for planes, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1)]:
                blocks.append(Bottleneck(cin, planes, stride))
                cin = planes * 4
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            return self.fc(self.blocks(self.stem(x)).mean((2, 3)))

    return ResNeXt


MODELS = {"mobilenet_v2": define_mobilenet_v2, "resnext": define_resnext}
# (batch, channels, size, kernel, stride, groups) of single convs timed on their own
SINGLE_CONVS = {
    "mobilenet_v2": [(32, 96, 56, 3, 1, 96), (32, 144, 56, 3, 2, 144), (32, 240, 28, 5, 1, 240)],
    "resnext": [(32, 128, 28, 3, 1, 32), (32, 256, 14, 3, 2, 32)],
}
RULE = {"mobilenet_v2": "conv_depthwise_taps", "resnext": "conv_im2col"}


def first_and_median(step, steps: int, warmup: int = 2) -> tuple[float, float]:
    """(the first call's seconds, the median of `steps` calls after `warmup`)."""
    times = []
    for _ in range(steps + warmup):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[warmup:])


def _median_step(step, steps: int) -> float:
    return first_and_median(step, steps)[1]


def ember_step(model_name, x, y, state, with_rule: bool, steps: int) -> tuple[float, float]:
    saved = list(backend_rules.BACKEND_RULES["cpu"]["conv"])
    if not with_rule:  # the grouped convs keep XLA's conv (other convs keep their rule)
        backend_rules.BACKEND_RULES["cpu"]["conv"] = [
            (name, applies if name != RULE[model_name] else _ungrouped(applies))
            for name, applies in saved
        ]
    try:
        net = MODELS[model_name](em, em.nn)()
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


def _ungrouped(applies):
    return lambda node: node.attrs["groups"] == 1 and applies(node)


def torch_step(model_name, x, y, state, steps: int) -> float:
    import torch

    net = MODELS[model_name](torch, torch.nn)()
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


def time_conv_rules(rules: list, x, w, attrs: dict, torch_conv, steps: int = 10) -> dict:
    """ms for the forward and forward+backward of each (name, lowering rule) of a conv on
    (x, w), and of `torch_conv(tx, tw)` in PyTorch."""

    class Ctx:
        precision = jax.lax.Precision.DEFAULT

    out = {}
    for name, rule in rules:
        fwd = jax.jit(lambda x, w, r=rule: r(Ctx(), x, w, **attrs))
        grad = jax.jit(jax.grad(lambda x, w, r=rule: jnp.sum(r(Ctx(), x, w, **attrs) ** 2), (0, 1)))
        for label, f in (("forward", fwd), ("forward+backward", grad)):
            out[f"{name} {label}"] = 1e3 * _median_step(
                lambda f=f: jax.block_until_ready(f(x, w)), steps
            )
    import torch

    tx = torch.tensor(np.asarray(x), requires_grad=True)
    tw = torch.tensor(np.asarray(w), requires_grad=True)
    with torch.no_grad():
        out["PyTorch forward"] = 1e3 * _median_step(lambda: torch_conv(tx, tw), steps)
    out["PyTorch forward+backward"] = 1e3 * _median_step(
        lambda: (torch_conv(tx, tw) ** 2).sum().backward(), steps
    )
    return out


def one_conv(rule_name, batch, channels, size, kernel, stride, groups) -> dict:
    """ms for one grouped conv's forward and forward+backward, per formulation."""
    import torch

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, channels, size, size)), jnp.float32)
    w = 0.1 * rng.standard_normal((channels, channels // groups, kernel, kernel))
    w = jnp.asarray(w, jnp.float32)
    pad = kernel // 2
    attrs = dict(stride=[stride] * 2, padding=[pad] * 4, dilation=[1, 1], groups=groups)
    rules = [("xla", CONV_RULES["conv"]), (rule_name, ALTERNATIVE_LOWERING[rule_name])]
    return time_conv_rules(
        rules,
        x,
        w,
        attrs,
        lambda tx, tw: torch.nn.functional.conv2d(tx, tw, None, stride, pad, 1, groups),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS), default="mobilenet_v2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    y = rng.integers(0, 10, args.batch).astype(np.int64)
    em.manual_seed(0)
    net = MODELS[args.model](em, em.nn)()
    state = {k: np.asarray(v) for k, v in net.state_dict().items()}
    rule = RULE[args.model]
    print(f"{args.model}, batch {args.batch}, {args.size}x{args.size}, {jax.default_backend()}")
    for with_rule in (True, False):
        first, step = ember_step(args.model, x, y.astype(np.int32), state, with_rule, args.steps)
        label = f"ember, {rule}" if with_rule else "ember, XLA's grouped conv"
        print(f"  {label:30s} {step:.3f} s/step   (first step with compile {first:.1f} s)")
    step = torch_step(args.model, x, y, state, args.steps)
    print(f"  {'PyTorch eager':30s} {step:.3f} s/step")
    for case in SINGLE_CONVS[args.model]:
        times = one_conv(rule, *case)
        print(f"  one conv {case}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in times.items()))


if __name__ == "__main__":
    main()
