"""Jitted float32 gradients of conv + train-mode BatchNorm stacks vs a float64 referee.

ember's compiled steps differentiate the lowered, jitted program, and XLA:CPU rewrites
it: algsimp folds the conv's layout transposes into the BatchNorm reductions (another
float32 summation order than op by op) and swaps the operands of plain convs whose
window exceeds their maps (ember's CPU `conv_im2col` rule lowers convs without XLA's
conv). These tests check that the gradient users get is accurate: the
jitted float32 gradient of ember's program against PyTorch in float64, at the same
parameters and inputs, per parameter tensor. See docs/concepts/xla-cpu-gradients.md.

The activations are smooth (SiLU, Tanh) on purpose. With ReLU or max pooling the
gradient is discontinuous: a unit whose pre-activation lies within float32 rounding
noise of the kink (a ResNet step has millions of units; train-mode BatchNorm at batch 4
gives each a large share of its channel's statistics) can land on the other side in
float32 than in float64, and the gradient then jumps by 1e-3..3e-2 without anything
being computed wrongly. A smooth activation makes the gradient a continuous function of
the rounding, so any difference beyond float32 noise is a real error.

The model source runs under torch's imports and under ember's (as in
test_port_resnet.py), so the referee is an independent implementation with the same
state-dict names; the loss (cross-entropy, mean) is inside the traced module, as in
ember's train step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import ember as em

MODEL_SOURCE = """
class Block(nn.Module):
    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, act, cin, stem, blocks, stem_stride=1, num_classes=10):
        super().__init__()
        act = getattr(nn, act)
        self.stem = nn.Sequential(nn.Conv2d(cin, stem, 3, stride=stem_stride, padding=1,
                                            bias=False),
                                  nn.BatchNorm2d(stem), act())
        layers, c = [], stem
        for cout, stride in blocks:
            layers.append(Block(c, cout, stride, act))
            c = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch_or_ember.flatten(self.pool(x), 1))


class Objective(nn.Module):
    def __init__(self, **config):
        super().__init__()
        self.net = Net(**config)
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x, y):
        return self.loss(self.net(x), y)
"""
TORCH_IMPORTS = "import torch as torch_or_ember\nimport torch.nn as nn\n"
EMBER_IMPORTS = "import ember as torch_or_ember\nimport ember.nn as nn\n"

# (model config, input shape, seed)
CASES = {
    # stem, a stride-1 block, a stride-2 downsampling block with a 1x1-conv shortcut
    "silu-16x16": (dict(act="SiLU", cin=3, stem=8, blocks=[(8, 1), (16, 2)]), (4, 3, 16, 16), 0),
    "tanh-32x32": (dict(act="Tanh", cin=3, stem=6, blocks=[(12, 2)]), (4, 3, 32, 32), 1),
    # the conv-operand-swap case: a stride-2 stem to 4x4, then a downsampling block whose
    # 3x3/pad-1 conv2 runs on 2x2 maps (window 9 > map 4). On CPU these lower through the
    # `conv_im2col` rule (im2col + matmul per batch chunk); lowered as plain convs, XLA's
    # algsimp swaps the operands of 3 (conv2 forward, the input gradients of conv2 and
    # of the stride-2 conv1). Both lowerings pass; this checks the one that runs.
    "silu-2x2maps": (
        dict(act="SiLU", cin=4, stem=16, stem_stride=2, blocks=[(32, 2)]),
        (4, 4, 8, 8),
        2,
    ),
}

# Per-tensor normwise relative error ||g32 - g64|| / ||g64||, measured with jax 0.10.2 on
# XLA:CPU over seeds 0..9 of each case: median over tensors 3e-7..5e-7, worst tensor
# 1.8e-6 (silu-16x16), 2.6e-6 (tanh-32x32), 8.4e-7 (silu-2x2maps, either conv lowering);
# the swapped plain conv 2e-7. 1e-4 leaves a margin of almost 40x. A kink crossing or a
# wrongly rewritten op shows up as 1e-3 or more. Sensitivity check: random noise of
# relative norm 1e-4 added to net.stem.0.weight on one side only (or to the swapped
# conv's w) fails every test here, at 1.2e-4..2.7e-4. (Scaling a conv weight that feeds a
# train-mode BatchNorm would not: BN undoes it.)
RTOL = 1e-4


def build(imports: str, config: dict):
    namespace: dict = {}
    exec(compile(imports + MODEL_SOURCE, "jit_gradients_model.py", "exec"), namespace)  # noqa: S102
    return namespace["Objective"](**config)


def make_pair(config: dict, seed: int):
    """Torch and ember objectives with the same float32 weights. BatchNorm's affine
    parameters are randomized so their gradients are not those of the identity."""
    torch.manual_seed(seed)
    tnet = build(TORCH_IMPORTS, config)
    with torch.no_grad():
        for name, p in tnet.named_parameters():
            if ".bn" in name or "shortcut.1" in name or "stem.1" in name:
                p.add_(0.2 * torch.randn_like(p))
    enet = build(EMBER_IMPORTS, config)
    enet.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    return tnet, enet


def data(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, shape[0]).astype(np.int32)
    return x, y


def jitted_grads(enet, x, y):
    """ember's float32 gradient, computed as its compiled step computes it: the lowered
    program as a pure JAX function, differentiated with jax.grad under jax.jit."""
    apply, state = em.functionalize(enet, em.TensorSpec(x.shape), em.TensorSpec(y.shape, "int32"))
    buffers = state["buffers"]

    def loss_fn(params, x, y):
        loss, _ = apply({"params": params, "buffers": buffers}, x, y)
        return loss

    grad_fn = jax.jit(jax.grad(loss_fn))
    grads = grad_fn(state["params"], jnp.asarray(x), jnp.asarray(y))
    return {k: np.asarray(v) for k, v in grads.items()}, grad_fn, state["params"]


def float64_grads(tnet, x, y):
    tnet = tnet.double()
    tnet.zero_grad()
    loss = tnet(torch.from_numpy(x).double(), torch.from_numpy(y).long())
    loss.backward()
    return {k: p.grad.numpy() for k, p in tnet.named_parameters()}


def relative_errors(grads, want):
    assert set(grads) == set(want)
    return {k: float(np.linalg.norm(grads[k] - want[k]) / np.linalg.norm(want[k])) for k in want}


@pytest.mark.parametrize("case", list(CASES))
def test_jitted_gradient_matches_float64_referee(case):
    config, shape, seed = CASES[case]
    tnet, enet = make_pair(config, seed)
    x, y = data(shape, seed)
    grads, _, _ = jitted_grads(enet, x, y)
    errors = relative_errors(grads, float64_grads(tnet, x, y))
    worst = max(errors, key=errors.get)
    print(f"{case}: worst {worst} {errors[worst]:.2e}")
    assert errors[worst] < RTOL, f"{worst}: {errors[worst]:.2e}\n{errors}"


def test_compiled_train_step_gradient_matches_float64_referee():
    """The gradient inside em.compile's fused train step itself (read out by a
    grad_transform), for the 2x2-map case."""
    config, shape, seed = CASES["silu-2x2maps"]
    tnet, enet = make_pair(config, seed)
    x, y = data(shape, seed)
    net = enet.net
    names = [name for name, _ in net.named_parameters()]
    captured: dict = {}

    def capture(grads):  # runs inside the jitted step; copies the gradients to the host
        jax.debug.callback(
            lambda *g: captured.update(zip(names, map(np.asarray, g), strict=True)), *grads
        )
        return grads

    model = em.compile(
        net,
        loss=em.nn.CrossEntropyLoss(),
        optimizer=em.optim.SGD(net.parameters(), lr=0.0),
        grad_transform=capture,
    )
    model.train_step(x, y)
    want = {k.removeprefix("net."): v for k, v in float64_grads(tnet, x, y).items()}
    errors = relative_errors(captured, want)
    worst = max(errors, key=errors.get)
    print(f"compiled step: worst {worst} {errors[worst]:.2e}")
    assert errors[worst] < RTOL, f"{worst}: {errors[worst]:.2e}\n{errors}"


def test_xla_swapped_conv_gradient_matches_float64_referee():
    """Plain JAX, no ember rule in between: a 3x3/pad-1 conv on 2x2 maps, which XLA:CPU's
    algsimp rewrites with its operands swapped (slow, see the docs page, but exact)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 32, 2, 2)).astype(np.float32)
    w = (rng.standard_normal((32, 32, 3, 3)) / np.sqrt(32 * 9)).astype(np.float32)
    r = rng.standard_normal((4, 32, 2, 2)).astype(np.float32)

    def loss(x, w):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)])
        return jnp.sum(jnp.tanh(y) * r)

    gx, gw = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, w)
    tx, tw = (torch.from_numpy(a).double().requires_grad_() for a in (x, w))
    tloss = (torch.tanh(torch.nn.functional.conv2d(tx, tw, padding=1)) * torch.from_numpy(r)).sum()
    tloss.backward()
    errors = relative_errors(
        {"x": np.asarray(gx), "w": np.asarray(gw)}, {"x": tx.grad.numpy(), "w": tw.grad.numpy()}
    )
    print(f"swapped conv: {errors}")
    assert max(errors.values()) < RTOL, errors
