"""Transposed convolutions on CPU: a DCGAN's training loop with and without ember's CPU
rule, against PyTorch eager.

XLA:CPU runs a transposed conv (a conv over the input dilated by the stride) tens of
times slower than PyTorch. `conv_transpose_im2col`
(ember/compiler/lowering/conv_transpose_cpu.py) lowers it as the transpose of
`conv_im2col`. The model is the DCGAN of PyTorch's examples (generator: a 1x1 latent
up to 64x64 through five 4x4 transposed convs with BatchNorm and ReLU; discriminator:
the mirror image with strided convs and LeakyReLU), trained by its literal loop
(`backward()`, `step()`, BCE on real and fake batches, Adam), written once for both
frameworks. Same initial weights, latents and images; median seconds per iteration
(one discriminator and one generator update) after two warm-up iterations. Also times
single transposed convs' forward and forward+backward.

    python bench/bench_transposed_convs.py --batch 16 --steps 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import ember as em
from ember.compiler.lowering import backend_rules
from ember.compiler.lowering.backend_rules import ALTERNATIVE_LOWERING
from ember.compiler.lowering.conv import RULES as CONV_RULES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grouped_convs import first_and_median, time_conv_rules  # noqa: E402

NZ, NGF, NDF, NC = 100, 64, 64, 3
# (batch, in channels, out channels, input size, kernel, stride, padding): DCGAN's
# generator layers and UNet's 2x2 up-convolution
SINGLE_CONVS = [(16, 100, 512, 1, 4, 1, 0), (16, 256, 128, 16, 4, 2, 1), (16, 128, 64, 64, 2, 2, 0)]


def define_dcgan(torch, nn):
    def generator():
        layers, cin = [], NZ
        for i, cout in enumerate([NGF * 8, NGF * 4, NGF * 2, NGF]):
            stride, pad = (1, 0) if i == 0 else (2, 1)
            layers += [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False)]
            layers += [nn.BatchNorm2d(cout), nn.ReLU(True)]
            cin = cout
        return nn.Sequential(*layers, nn.ConvTranspose2d(cin, NC, 4, 2, 1, bias=False), nn.Tanh())

    def discriminator():
        layers, cin = [], NC
        for i, cout in enumerate([NDF, NDF * 2, NDF * 4, NDF * 8]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
            layers += [nn.BatchNorm2d(cout)] if i else []
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        return nn.Sequential(*layers, nn.Conv2d(cin, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    return generator, discriminator


def dcgan_iteration(torch, nets, optimizers, criterion, real, noise):
    """One iteration of PyTorch's examples/dcgan loop, as written there."""
    net_g, net_d = nets
    opt_g, opt_d = optimizers
    batch = real.size(0)
    net_d.zero_grad()
    label = torch.full((batch,), 1.0)
    err_real = criterion(net_d(real).view(-1), label)
    err_real.backward()
    fake = net_g(noise)
    label.fill_(0.0)
    err_fake = criterion(net_d(fake.detach()).view(-1), label)
    err_fake.backward()
    opt_d.step()
    net_g.zero_grad()
    label.fill_(1.0)
    err_g = criterion(net_d(fake).view(-1), label)
    err_g.backward()
    opt_g.step()
    return (err_real + err_fake).item(), err_g.item()


def dcgan_loop(torch, states, real, noise, steps: int) -> tuple[float, float, tuple]:
    """(first iteration's seconds, median seconds, the first iteration's losses)."""
    nets = [make() for make in define_dcgan(torch, torch.nn)]
    for net, state in zip(nets, states, strict=True):
        net.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    optimizers = [torch.optim.Adam(n.parameters(), lr=2e-4, betas=(0.5, 0.999)) for n in nets]
    real, noise = torch.tensor(real), torch.tensor(noise)
    criterion, losses = torch.nn.BCELoss(), []
    first, step = first_and_median(
        lambda: losses.append(dcgan_iteration(torch, nets, optimizers, criterion, real, noise)),
        steps,
    )
    return first, step, losses[0]


def one_transposed_conv(batch, cin, cout, size, kernel, stride, pad) -> dict:
    """ms for one transposed conv's forward and forward+backward, per formulation."""
    import torch

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, cin, size, size)), jnp.float32)
    w = jnp.asarray(0.05 * rng.standard_normal((cin, cout, kernel, kernel)), jnp.float32)
    attrs = dict(
        stride=[stride] * 2, padding=[pad] * 2, output_padding=[0, 0], dilation=[1, 1], groups=1
    )
    rules = [
        ("xla", CONV_RULES["conv_transpose"]),
        ("im2col", ALTERNATIVE_LOWERING["conv_transpose_im2col"]),
    ]
    return time_conv_rules(
        rules,
        x,
        w,
        attrs,
        lambda tx, tw: torch.nn.functional.conv_transpose2d(tx, tw, None, stride, pad),
        steps=5,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--skip-xla", action="store_true", help="skip ember without the rule")
    args = parser.parse_args()
    import torch

    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (args.batch, NC, 64, 64)).astype(np.float32)
    noise = rng.standard_normal((args.batch, NZ, 1, 1)).astype(np.float32)
    em.manual_seed(0)
    states = [
        {k: np.asarray(v) for k, v in make().state_dict().items()}
        for make in define_dcgan(em, em.nn)
    ]
    print(
        f"DCGAN 64x64, batch {args.batch}, {jax.default_backend()}, torch threads "
        f"{torch.get_num_threads()}"
    )
    saved = backend_rules.BACKEND_RULES["cpu"].get("conv_transpose", [])
    for with_rule in (True, False)[: 1 if args.skip_xla else 2]:
        backend_rules.BACKEND_RULES["cpu"]["conv_transpose"] = saved if with_rule else []
        try:
            first, step, losses = dcgan_loop(em, states, real, noise, args.steps)
        finally:
            backend_rules.BACKEND_RULES["cpu"]["conv_transpose"] = saved
        label = "ember, conv_transpose_im2col" if with_rule else "ember, XLA's transposed conv"
        print(
            f"  {label:32s} {step:.3f} s/iteration (first with compile {first:.1f} s; "
            f"first losses D {losses[0]:.6f}, G {losses[1]:.6f})"
        )
    _, step, losses = dcgan_loop(torch, states, real, noise, args.steps)
    print(
        f"  {'PyTorch eager':32s} {step:.3f} s/iteration "
        f"(first losses D {losses[0]:.6f}, G {losses[1]:.6f})"
    )
    for case in SINGLE_CONVS:
        times = one_transposed_conv(*case)
        print(
            f"  one transposed conv {case}: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in times.items())
        )


if __name__ == "__main__":
    main()
