"""Scan over layers (`em.compile(..., scan_layers=True)`): identical sibling blocks
lowered as one `scan` train like the unrolled model, keep per-layer torch names in
the state_dict and checkpoints, and show their body once in the printed IR.

Referees: the same model compiled unrolled (itself checked against PyTorch in the
port tests) step by step, and PyTorch for the first loss and gradients."""

from __future__ import annotations

import numpy as np
import port_models as pm
import pytest
import torch

import ember as em
from ember import nn, optim
from ember.compiler import scan_repeated_blocks
from ember.compiler.passes.scan_repeated_blocks import find_runs, layer_of
from ember.frontend.trace import trace_function

GPT_CFG = pm.GPTConfig(block_size=8, vocab_size=32, n_layer=3, n_head=2, n_embd=16)


def _gpt(scan: bool, seed: int = 0, optimizer=optim.AdamW, **kw):
    gpt_cls = pm.define_gpt(em, em.nn, em.nn.functional)
    em.manual_seed(seed)
    net = gpt_cls(GPT_CFG)
    model = em.compile(
        net,
        loss=None,
        output=1,
        optimizer=optimizer(net.parameters(), lr=1e-2),
        scan_layers=scan,
        **kw,
    )
    return net, model


def _tokens(steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, GPT_CFG.vocab_size, (steps, 3, GPT_CFG.block_size + 1))
    return [(b[:, :-1].astype(np.int32), b[:, 1:].astype(np.int32)) for b in idx]


def _train_graph(model) -> str:
    (entry,) = [p for k, (s, p) in model.programs.programs.items() if k[0] == "train"]
    return str(entry.graph)


def test_layer_of_reads_the_first_numbered_part():
    assert layer_of("transformer.h.3.attn.c_attn") == ("transformer.h", 3)
    assert layer_of("layers.0") == ("layers", 0)
    assert layer_of("0.weight") == ("", 0)
    assert layer_of("encoder.norm") is None


def _sgd_momentum(params, lr):
    return optim.SGD(params, lr=lr, momentum=0.9)


def test_gpt_losses_and_parameters_match_the_unrolled_model_over_10_steps():
    # SGD: Adam would amplify float noise in gradients that are exactly 0 in exact
    # arithmetic (the attention key bias) to +-lr updates, in either form.
    batches = _tokens(10)
    runs = {}
    for scan in (False, True):
        net, model = _gpt(scan, optimizer=_sgd_momentum)
        losses = [float(model.train_step(x, y)["loss"]) for x, y in batches]
        runs[scan] = (losses, net.state_dict(), _train_graph(model))
    (l0, s0, g0), (l1, s1, g1) = runs[False], runs[True]
    np.testing.assert_allclose(l1, l0, rtol=2e-6)
    assert list(s1) == list(s0)  # the same per-layer torch names, in the same order
    for name in s0:
        np.testing.assert_allclose(np.asarray(s1[name]), np.asarray(s0[name]), rtol=1e-5, atol=1e-6)
    # the body is printed once: 4 linears per block + the head, not 4 per layer
    assert g1.count(" = scan(") == 1 and g0.count(" = scan(") == 0
    assert g1.count(" = linear(") == 5 and g0.count(" = linear(") == 13
    assert 'meta{scan_layers="transformer.h.0-2"}' in g1
    assert "param  %transformer.h.0-2.attn.c_attn.weight: f32[48,16]" in g1


def test_gpt_first_loss_and_gradients_match_pytorch():
    t_cls = pm.define_gpt(torch, torch.nn, torch.nn.functional)
    torch.manual_seed(0)
    ref = t_cls(GPT_CFG)
    net, model = _gpt(True, optimizer=optim.SGD)
    net.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    (x, y), *_ = _tokens(1)
    logits, loss = ref(torch.from_numpy(x).long(), torch.from_numpy(y).long())
    loss.backward()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    got = float(model.train_step(x, y)["loss"])
    np.testing.assert_allclose(got, loss.item(), rtol=1e-5)
    after = net.state_dict()
    for name, p in ref.named_parameters():  # SGD lr=1e-2: the step is -lr * grad
        grad = (before[name] - np.asarray(after[name])) / 1e-2
        np.testing.assert_allclose(grad, p.grad.numpy(), rtol=2e-3, atol=2e-5, err_msg=name)


def test_checkpoint_round_trip_between_scanned_and_unrolled_models(tmp_path):
    batches = _tokens(6)
    net, model = _gpt(True)
    for x, y in batches[:3]:
        model.train_step(x, y)
    model.save_checkpoint(tmp_path)
    want = [float(model.train_step(x, y)["loss"]) for x, y in batches[3:]]
    other, unrolled = _gpt(False, seed=1)
    unrolled.restore_checkpoint(tmp_path)
    got = [float(unrolled.train_step(x, y)["loss"]) for x, y in batches[3:]]
    np.testing.assert_allclose(got, want, rtol=2e-6)


class ResidualBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return x + nn.functional.relu(self.bn(self.conv(x)))


class Tower(nn.Module):
    """A stem, identical BatchNorm blocks (buffers updated: per-layer scan results),
    every block's output collected (used after the run), and a head."""

    def __init__(self, depth=3, c=4, collect=False):
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBN(c) for _ in range(depth)])
        self.head = nn.Linear(c, 3)
        self.collect = collect

    def forward(self, x):
        x = self.stem(x)
        if not self.collect:
            x = self.blocks(x)
            return self.head(x.mean((2, 3)))
        hidden = []
        for block in self.blocks:
            x = block(x)
            hidden.append(x)
        return self.head(sum(hidden).mean((2, 3)))


@pytest.mark.parametrize("collect", [False, True], ids=["sequential", "collects-hidden"])
def test_batchnorm_blocks_update_each_layers_running_stats(collect):
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(4, 6, 1, 6, 6)).astype(np.float32)
    ys = rng.integers(0, 3, (4, 6))
    results = {}
    for scan in (False, True):
        em.manual_seed(3)
        net = Tower(collect=collect)
        model = em.compile(
            net,
            loss=nn.CrossEntropyLoss(),
            optimizer=optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
            scan_layers=scan,
        )
        losses = [float(model.train_step(x, y)["loss"]) for x, y in zip(xs, ys, strict=True)]
        net.eval()
        evals = np.asarray(model.predict(xs[0]))
        results[scan] = (losses, net.state_dict(), evals, _train_graph(model))
    (l0, s0, e0, _), (l1, s1, e1, g1) = results[False], results[True]
    assert g1.count(" = scan(") == 1, g1
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    for name in s0:  # running_mean / running_var / num_batches_tracked of every layer
        np.testing.assert_allclose(np.asarray(s1[name]), np.asarray(s0[name]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e1, e0, rtol=1e-5, atol=1e-6)
    assert int(s1["blocks.2.bn.num_batches_tracked"]) == 4


def _graph(net, *shapes):
    specs = [em.TensorSpec(s, "float32") for s in shapes]
    graph, _ = trace_function(net, specs, modules=[("", net)])
    return graph


def test_blocks_that_differ_stay_unrolled():
    class Uneven(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [(4, 4), (4, 4), (4, 8)]
            self.layers = nn.ModuleList([nn.Sequential(nn.Linear(*w), nn.ReLU()) for w in widths])
            self.more = nn.ModuleList([nn.Linear(8, 8, bias=i != 1) for i in range(3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            x = x.relu()  # work between the two lists keeps them apart
            for layer in self.more:
                x = layer(x)
            return x

    graph = _graph(Uneven(), (2, 4))
    runs = find_runs(graph)
    # layers.0-1 are equal (the third changes width); more.* differ in their bias
    assert [(r.prefix, r.layers) for r in runs] == [("layers", "0-1")]
    assert str(scan_repeated_blocks(graph)).count(" = scan(") == 1


class DropoutResidual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.drop = nn.Linear(6, 6), nn.Dropout(0.5)

    def forward(self, x):
        return x + self.drop(self.fc(x)).tanh()


class DropoutBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[DropoutResidual() for _ in range(4)])
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.layers(x))


def test_dropout_blocks_draw_the_unrolled_masks_inside_the_scan():
    """Each layer's dropout keeps its own RNG salt: the scan folds the step key per layer
    outside the loop, so every layer draws exactly the mask the unrolled program draws."""
    rng = np.random.default_rng(5)
    xs, ys = rng.normal(size=(5, 8, 6)).astype(np.float32), rng.integers(0, 3, (5, 8))
    results = {}
    for scan in (False, True):
        em.manual_seed(2)
        net = DropoutBlocks()
        opt = optim.SGD(net.parameters(), lr=0.1)
        model = em.compile(
            net, loss=nn.CrossEntropyLoss(), optimizer=opt, seed=11, scan_layers=scan
        )
        losses = [float(model.train_step(x, y)["loss"]) for x, y in zip(xs, ys, strict=True)]
        results[scan] = (losses, net.state_dict(), _train_graph(model))
    (l0, s0, _), (l1, s1, graph) = results[False], results[True]
    assert graph.count(" = scan(") == 1 and graph.count(" = random_fold_in(") == 4, graph
    assert graph.count(" = dropout(") == 1 and "salt=null" in graph
    np.testing.assert_allclose(l1, l0, rtol=1e-6)
    for name in s0:
        np.testing.assert_allclose(np.asarray(s1[name]), np.asarray(s0[name]), rtol=1e-5)
