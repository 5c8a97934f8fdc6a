"""Rematerialisation: `em.compile(..., remat={pattern: policy})` and
`ember.utils.checkpoint.checkpoint` recompute activations in the backward pass
without changing what a step computes, and save memory by XLA's own analysis.

Referees: the same model without remat (itself checked against PyTorch in the
port tests), and PyTorch with `torch.utils.checkpoint` for the function form."""

from __future__ import annotations

import numpy as np
import port_models as pm
import pytest
import torch
import torch.utils.checkpoint

import ember as em
from ember import nn, optim
from ember.compiler.passes.rematerialize import rematerialize
from ember.frontend.trace import trace_function
from ember.utils.checkpoint import checkpoint

CFG = pm.GPTConfig(block_size=8, vocab_size=32, n_layer=3, n_head=2, n_embd=16, dropout=0.1)


def _gpt(**options):
    gpt_cls = pm.define_gpt(em, em.nn, em.nn.functional)
    em.manual_seed(0)
    net = gpt_cls(CFG)  # dropout 0.1: recomputation must redraw the same masks
    opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    return net, em.compile(net, loss=None, output=1, optimizer=opt, seed=7, **options)


def _batches(n: int):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, CFG.vocab_size, (n, 8, CFG.block_size + 1))
    return [(b[:, :-1].astype(np.int32), b[:, 1:].astype(np.int32)) for b in idx]


def _graph(model) -> str:
    (program,) = [p for k, (s, p) in model.programs.programs.items() if k[0] == "train"]
    return str(program.graph)


class DropoutStack(nn.Module):
    def __init__(self, depth=3, width=8, p=0.3):
        super().__init__()
        self.blocks = nn.ModuleList(
            [nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Dropout(p)) for _ in range(depth)]
        )
        self.head = nn.Linear(width, 3)

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


def test_remat_blocks_with_dropout_train_like_the_plain_model():
    """The recomputed forward must draw the same dropout masks as the first one."""
    rng = np.random.default_rng(4)
    xs, ys = rng.normal(size=(4, 6, 8)).astype(np.float32), rng.integers(0, 3, (4, 6))
    results = []
    for remat in (None, {"blocks.*": "nothing_saveable"}):
        em.manual_seed(0)
        net = DropoutStack()
        opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=opt, seed=5, remat=remat)
        losses = [float(model.train_step(x, y)["loss"]) for x, y in zip(xs, ys, strict=True)]
        results.append((losses, net.state_dict(), _graph(model)))
    (l0, s0, _), (l1, s1, graph) = results
    np.testing.assert_allclose(l1, l0, rtol=1e-6)
    for name in s0:
        np.testing.assert_allclose(s1[name], s0[name], rtol=1e-5, atol=1e-7, err_msg=name)
    assert graph.count(" = remat(") == 3 and 'policy="nothing_saveable"' in graph


def test_remat_inside_a_scan_over_layers_saves_memory():
    """The scan body (one block, with dropout) is the remat region. XLA:CPU's scheduler
    recomputes an unrolled region early (no saving there); inside a scan over layers each
    iteration's recomputation is bounded, so the kept activations shrink (XLA's memory
    analysis of the compiled step)."""
    batches = _batches(3)
    net0, plain = _gpt()
    net1, remat = _gpt(scan_layers=True, remat={"transformer.h.*": "dots_saveable"})
    l0 = [float(plain.train_step(x, y)["loss"]) for x, y in batches]
    l1 = [float(remat.train_step(x, y)["loss"]) for x, y in batches]
    np.testing.assert_allclose(l1, l0, rtol=1e-5)  # against the unrolled plain model
    graph = _graph(remat)
    assert graph.count(" = scan(") == 1 and graph.count(" = remat(") == 1, graph
    _, scanned = _gpt(scan_layers=True)
    memory = [m.memory_analysis(*batches[0])["temp_size_in_bytes"] for m in (scanned, remat)]
    assert memory[1] < 0.8 * memory[0], memory


def test_regions_are_module_instances_and_patterns_that_match_nothing_change_nothing():
    gpt_cls = pm.define_gpt(em, em.nn, em.nn.functional)
    net = gpt_cls(CFG)
    graph, _ = trace_function(
        lambda idx: net(idx)[0], [em.TensorSpec((2, 8), "int32")], modules=[("", net)]
    )
    assert rematerialize({"decoder.*": "nothing_saveable"})(graph) is graph
    regions = rematerialize({"transformer.h.*": "nothing_saveable", "lm_head": "dots_saveable"})
    text = str(regions(graph))
    assert text.count(" = remat(") == CFG.n_layer + 1
    for k in range(CFG.n_layer):
        assert "remat(" in text and f"# transformer.h.{k} @" in text


@pytest.mark.parametrize(
    "remat",
    [{"transformer.h.*": "sometimes"}, {"transformer.h.*": None}, ["transformer.h.*"]],
)
def test_bad_remat_options_name_the_entry_and_the_choices(remat):
    with pytest.raises(ValueError, match="dots_saveable|dict of module-path patterns"):
        _gpt(remat=remat)


def _checkpointed_mlp(lib, nn_, ckpt):
    class Net(nn_.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn_.ModuleList(
                [nn_.Sequential(nn_.Linear(6, 6), nn_.Tanh()) for _ in range(3)]
            )
            self.head = nn_.Linear(6, 2)

        def forward(self, x):
            for block in self.blocks:
                x = x + ckpt(block, x, use_reentrant=False)
            return self.head(x)

    return Net()


def test_checkpoint_function_matches_torch_utils_checkpoint():
    torch.manual_seed(0)
    ref = _checkpointed_mlp(torch, torch.nn, torch.utils.checkpoint.checkpoint)
    net = _checkpointed_mlp(em, nn, checkpoint)
    net.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 6)).astype(np.float32), rng.integers(0, 2, 5)
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(net.parameters(), lr=1))
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    np.testing.assert_allclose(float(model.train_step(x, y)["loss"]), loss.item(), rtol=1e-5)
    after = net.state_dict()
    for name, p in ref.named_parameters():  # SGD lr=1: the step is -grad
        np.testing.assert_allclose(
            before[name] - np.asarray(after[name]), p.grad.numpy(), rtol=1e-4, atol=1e-6
        )
    assert _graph(model).count(" = remat(") == 3


def test_checkpoint_on_lazy_tensors_outside_a_trace_matches_torch_autograd():
    em.manual_seed(0)
    x = em.randn(4, 3, requires_grad=True)
    y = checkpoint(lambda a, k: (a.tanh() * k).sum(), x, 2.0)
    y.backward()
    ref = torch.tensor(np.asarray(x.detach().numpy()), requires_grad=True)
    want = torch.utils.checkpoint.checkpoint(
        lambda a: (a.tanh() * 2.0).sum(), ref, use_reentrant=False
    )
    want.backward()
    np.testing.assert_allclose(float(y), want.item(), rtol=1e-6)
    # 1 - tanh(x)^2 cancels where tanh is near 1: relative error up to ~1e-6 there
    np.testing.assert_allclose(x.grad.numpy(), ref.grad.numpy(), rtol=1e-6, atol=1e-6)
