"""ember.runtime.summary: output shapes, parameter counts and FLOPs, checked against torch."""

import numpy as np
import pytest
import torch

import ember as em
from ember import nn
from ember.runtime.summary import summarize, summary


def cnn(lib):
    n = lib.nn if lib is torch else nn
    return n.Sequential(
        n.Conv2d(1, 4, 3, padding=1),
        n.BatchNorm2d(4),
        n.ReLU(),
        n.MaxPool2d(2),
        n.Conv2d(4, 8, 3),
        n.ReLU(),
        n.Flatten(),
        n.Linear(8 * 2 * 2, 10),
    )


def torch_shapes(tnet, x):
    """Output shape of every submodule call, by module name (forward hooks)."""
    shapes = {}

    def hook(name):
        def record(module, args, out):
            shapes[name] = tuple(out.shape)

        return record

    for name, m in tnet.named_modules():
        m.register_forward_hook(hook(name))
    tnet(x)
    return shapes


def test_cnn_rows_match_torch_shapes_and_param_counts():
    em.manual_seed(0)
    net, tnet = cnn(em), cnn(torch)
    s = summarize(net, em.TensorSpec((2, 1, 8, 8)))
    want_shapes = torch_shapes(tnet, torch.zeros(2, 1, 8, 8))
    assert [r.path for r in s.rows] == [name for name, _ in tnet.named_modules()]
    tmods = dict(tnet.named_modules())
    for row in s.rows:
        assert row.output_shapes == [want_shapes[row.path]], row.path
        own = sum(p.numel() for p in tmods[row.path].parameters(recurse=False))
        assert row.params == own, row.path
        assert row.type == type(tmods[row.path]).__name__
    assert s.total_params == sum(p.numel() for p in tnet.parameters()) == 40 + 8 + 296 + 330
    assert s.trainable_params == s.total_params
    assert s.param_bytes == 4 * s.total_params
    assert s.buffer_count == 4 + 4 + 1  # running mean, var, num_batches_tracked
    assert s.total_flops > 0 and s.rows[0].flops == s.total_flops


def test_linear_flops_match_the_analytic_count():
    batch, fan_in, fan_out = 32, 64, 16
    s = summarize(nn.Linear(fan_in, fan_out), np.zeros((batch, fan_in), np.float32))
    matmul = 2 * batch * fan_in * fan_out
    assert matmul <= s.total_flops <= matmul + batch * fan_out  # plus the bias add
    assert s.total_flops == pytest.approx(matmul, rel=0.05)


def test_per_module_flops_and_depth():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)

        def forward(self, x):
            return self.b(self.a(x).relu())

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(4, 8)
            self.block = Block()
            self.unused = nn.Linear(3, 3)
            self.head = nn.Linear(8, 2)
            self.scale = nn.Parameter(np.ones(2, np.float32))

        def forward(self, x):
            h = self.block(self.block(self.inp(x)))  # the block is called twice
            return self.head(h) * self.scale

    em.manual_seed(0)
    net = Net()
    s = summarize(net, (5, 4))
    rows = [(r.path, r.depth, r.output, r.repeated, r.called) for r in s.rows]
    assert rows == [
        ("", 0, "(5, 2)", False, True),
        ("inp", 1, "(5, 8)", False, True),
        ("block", 1, "(5, 8)", False, True),
        ("block.a", 2, "(5, 8)", False, True),
        ("block.b", 2, "(5, 8)", False, True),
        ("block", 1, "(5, 8)", True, True),
        ("block.a", 2, "(5, 8)", True, True),
        ("block.b", 2, "(5, 8)", True, True),
        ("head", 1, "(5, 2)", False, True),
        ("unused", 1, "(not called)", False, False),
    ]
    total = sum(int(np.prod(p.shape)) for p in net.parameters())
    assert s.total_params == total == sum(r.params for r in s.rows)
    assert s.rows[0].params == 2  # the root's own `scale`
    by = {(r.path, r.repeated): r for r in s.rows}
    assert by["block.a", False].flops == pytest.approx(2 * 5 * 8 * 8 + 5 * 8)
    assert by["block", False].flops >= by["block.a", False].flops + by["block.b", False].flops
    assert by["unused", False].flops is None

    shallow = summarize(net, (5, 4), depth=1, flops="total")
    assert [r.path for r in shallow.rows] == ["", "inp", "block", "block", "head", "unused"]
    assert shallow.rows[2].params == 2 * (8 * 8 + 8)  # the hidden children roll up
    assert sum(r.params for r in shallow.rows) == total
    assert shallow.total_flops == s.total_flops and shallow.rows[1].flops is None
    assert [r.path for r in summarize(net, (5, 4), depth=0, flops="none").rows] == [""]


def test_shared_weights_are_counted_once_and_frozen_ones_are_not_trainable():
    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 6))
    net[2].weight = net[0].weight  # tied
    net[2].bias.requires_grad = False
    s = summarize(net, (3, 6), flops="none")
    assert s.total_params == 6 * 6 + 6 + 6
    assert s.trainable_params == 6 * 6 + 6 and s.non_trainable_params == 6
    assert [r.params for r in s.rows] == [0, 42, 0, 6]


def test_summary_prints_and_returns_the_table(capsys):
    em.manual_seed(0)
    text = summary(cnn(em), em.TensorSpec((2, 1, 8, 8)))
    assert capsys.readouterr().out.strip() == text.strip()
    for piece in ("Conv2d", "(2, 4, 8, 8)", "(2, 10)", "Total params: 674", "FLOPs"):
        assert piece in text
    assert summary(cnn(em), (2, 1, 8, 8), print_fn=None, flops="none").count("\n") > 10
    assert capsys.readouterr().out == ""
