"""Idioms of karpathy/llama2.c's train.py, model.py and export.py, PyTorch as referee:
`model = torch.compile(model)` then `model(X, Y)`, float64 gradient clipping,
`torch.equal` for tied weights, the `fused` check on AdamW's signature, and the
`torch.distributed` names a script imports whether or not it runs DDP."""

import inspect

import jax
import numpy as np
import pytest
import torch

import ember as em
from ember.errors import TraceError

LIBS = {"torch": torch, "ember": em}


def _tiny_lm(lib):
    """A model whose forward takes the targets and returns the loss (llama2.c's Transformer)."""

    class LM(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = lib.nn.Embedding(11, 8)
            self.out = lib.nn.Linear(8, 11, bias=False)
            self.out.weight = self.emb.weight  # tied, as in llama2.c

        def forward(self, idx, targets):
            logits = self.out(lib.tanh(self.emb(idx)))
            return lib.nn.functional.cross_entropy(logits.view(-1, 11), targets.view(-1))

        def count(self):
            return sum(p.numel() for p in self.parameters())

    lib.manual_seed(0)
    net = LM()
    net.emb.weight.data = lib.tensor(np.cos(np.arange(88.0)).reshape(11, 8).astype("f"))
    net.out.weight = net.emb.weight
    return net


def test_a_compiled_model_is_called_like_torch_compile_and_trains_in_the_loop():
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 11, (4, 6)), rng.integers(0, 11, (4, 6))) for _ in range(3)]
    losses = {}
    for name, lib in LIBS.items():
        raw = _tiny_lm(lib)
        # torch's eager backend: the referee needs no C++ compiler on the CI machine
        model = torch.compile(raw, backend="eager") if lib is torch else em.compile(raw)
        assert model.count() == 88  # the module's own methods, through the wrapper
        opt = lib.optim.AdamW(model.parameters(), lr=0.1)
        model.train()
        out = []
        for x, y in batches:
            loss = model(lib.tensor(x), lib.tensor(y))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            out.append(loss.item())
        losses[name] = out
        assert lib.equal(raw.out.weight, raw.emb.weight)  # export.py's tied-weights check
    np.testing.assert_allclose(losses["ember"], losses["torch"], rtol=1e-5)


def test_private_names_are_not_taken_from_the_module():
    model = em.compile(em.nn.Linear(2, 2))
    with pytest.raises(AttributeError, match="_parameters"):
        model._parameters  # noqa: B018


def test_clip_grad_norm_keeps_float64_gradients_in_float64():
    rng = np.random.default_rng(0)
    g = rng.standard_normal(1000) * 1e-3 + 1.0
    tp = torch.nn.Parameter(torch.zeros(1000, dtype=torch.float64))
    tp.grad = torch.tensor(g)
    want = torch.nn.utils.clip_grad_norm_([tp], 1.0)
    with jax.enable_x64(True):
        ep = em.nn.Parameter(em.zeros(1000, dtype=em.float64))
        ep.grad = em.tensor(g)
        got = em.nn.utils.clip_grad_norm_([ep], 1.0)
        assert got.dtype == em.float64
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-15)
        np.testing.assert_allclose(np.asarray(ep.grad), tp.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1.0, 2.0], [1.0, 2.0]),
        ([1.0, 2.0], [1.0, 3.0]),
        ([1.0, 2.0], [[1.0, 2.0]]),  # same elements, another shape
        ([1, 2], [1.0, 2.0]),  # int against float: compared by value
        ([float("nan")], [float("nan")]),  # NaN is not equal to itself
    ],
)
def test_equal_matches_torch(a, b):
    want = torch.equal(torch.tensor(a), torch.tensor(b))
    assert em.equal(em.tensor(a), em.tensor(b)) is want
    assert em.tensor(a).equal(em.tensor(b)) is want


def test_equal_inside_a_trace_says_what_to_use():
    class Net(em.nn.Module):
        def forward(self, x):
            return x * float(em.equal(x, x))

    model = em.compile(Net())
    with pytest.raises(TraceError, match=r"equal: returns a Python bool.*\(a == b\).all\(\)"):
        model.predict(np.ones((2, 3), np.float32))


@pytest.mark.parametrize("name", ["AdamW", "Adam", "SGD"])
def test_optimizers_list_torchs_implementation_switches(name):
    """llama2.c: `fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters`."""
    params = inspect.signature(getattr(em.optim, name)).parameters
    assert {"fused", "foreach"} <= set(params)
    getattr(em.optim, name)([em.nn.Parameter(em.zeros(2))], lr=0.1, fused=True)


def test_torch_distributed_names_on_one_process():
    import ember.distributed as dist
    from ember.nn.parallel import DistributedDataParallel

    assert dist.is_available() and not dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    dist.barrier()
    dist.destroy_process_group()
    with pytest.raises(RuntimeError, match=r"em\.distributed\.initialize\(\)"):
        dist.init_process_group(backend="gloo")
    with pytest.raises(RuntimeError, match="mesh"):
        DistributedDataParallel(em.nn.Linear(2, 2))


def test_export_modules_import_and_name_the_way_out():
    """llama2.c's export.py calls torch.jit.save; fast_neural_style imports torch.onnx at
    the top. The modules import; exporting says what to do instead."""
    import ember.onnx

    assert ember.onnx.is_in_onnx_export() is False
    with pytest.raises(NotImplementedError, match="safetensors"):
        em.onnx.export(em.nn.Linear(2, 2), em.ones(1, 2), "model.onnx")
    with pytest.raises(NotImplementedError, match="safetensors"):
        em.jit.save(em.jit.script(em.nn.Linear(2, 2)), "model.pt")
    with pytest.raises(NotImplementedError, match="pickled"):
        em.jit.load("model.pt")
