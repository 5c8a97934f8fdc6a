"""einops on ember tensors, as ViT-style models written with it call it (lucidrains'
vit-pytorch, Mamba and diffusion UNets do): the functions and the Rearrange/Reduce
layers against PyTorch + einops, eager, in the literal loop and in a compiled step."""

import numpy as np
import pytest
import torch

import ember as em

einops = pytest.importorskip("einops")
from einops import einsum, pack, parse_shape, rearrange, reduce, repeat, unpack  # noqa: E402

LIBS = {"torch": torch, "ember": em}
X = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)


def _functions(lib) -> list:
    t = lib.tensor(X)
    packed, shapes = pack([t.reshape(2, 3, 64), lib.tensor(X[:, 0].reshape(2, 64))], "b * n")
    return [
        rearrange(t, "b c (h p) (w q) -> b (h w) (p q c)", p=4, q=4),
        reduce(t, "b c h w -> b c", "max"),
        reduce(t, "b c (h 2) (w 2) -> b c h w", "mean"),
        reduce(t > 0, "b c h w -> b c", "any"),
        repeat(lib.tensor(X[0, 0, 0]), "d -> n d", n=3),
        einsum(t, t, "b c h w, b c h w -> b c"),
        packed,
        *unpack(packed, shapes, "b * n"),
    ]


def test_einops_functions_match_torch():
    want, got = _functions(torch), _functions(em)
    for w, g in zip(want, got, strict=True):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(np.asarray(g), w.numpy(), rtol=1e-5, atol=1e-5)
    assert parse_shape(em.tensor(X), "b c _ _") == {"b": 2, "c": 3}


def _vit(lib):
    """A tiny ViT as lucidrains' vit-pytorch writes it: patches by a Rearrange layer,
    a class token by `repeat`, heads split and merged by `rearrange`, mean pooling."""
    nn = lib.nn
    if lib is torch:
        from einops.layers.torch import Rearrange, Reduce
    else:
        Rearrange, Reduce = nn.Rearrange, nn.Reduce

    class Attention(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, dim * 3, bias=False)
            self.out = nn.Linear(dim, dim)

        def forward(self, x):
            q, k, v = (
                rearrange(t, "b n (h d) -> b h n d", h=self.heads)
                for t in self.qkv(x).chunk(3, dim=-1)
            )
            dots = einsum(q, k, "b h i d, b h j d -> b h i j") * q.shape[-1] ** -0.5
            out = dots.softmax(dim=-1) @ v
            return self.out(rearrange(out, "b h n d -> b n (h d)"))

    class ViT(nn.Module):
        def __init__(self, dim=16, heads=2, classes=5):
            super().__init__()
            self.to_patches = nn.Sequential(
                Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=4, p2=4),
                nn.LayerNorm(48),
                nn.Linear(48, dim),
            )
            self.cls_token = nn.Parameter(lib.zeros(1, 1, dim))
            self.pos = nn.Parameter(lib.zeros(1, 5, dim))
            self.attn = Attention(dim, heads)
            self.norm = nn.LayerNorm(dim)
            self.pool = Reduce("b n d -> b d", "mean")
            self.head = nn.Linear(dim, classes)

        def forward(self, img):
            x = self.to_patches(img)
            cls = repeat(self.cls_token, "1 1 d -> b 1 d", b=x.shape[0])
            x = lib.cat((cls, x), dim=1) + self.pos
            x = x + self.attn(self.norm(x))
            return self.head(self.pool(x))

    lib.manual_seed(0)
    net = ViT()
    rng = np.random.default_rng(1)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    state = {k: 0.3 * rng.standard_normal(shapes[k]).astype(np.float32) for k in sorted(shapes)}
    net.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    return net


def test_a_vit_written_with_einops_trains_like_torch_in_the_loop_and_compiled():
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((4, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 4))]
    batches *= 3
    losses = {}
    for name, lib in LIBS.items():
        net = _vit(lib)
        opt = lib.optim.SGD(net.parameters(), lr=0.1)
        out = []
        for x, y in batches:
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(net(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            out.append(loss.item())
        losses[name] = out
    np.testing.assert_allclose(losses["ember"], losses["torch"], rtol=1e-5)

    net = _vit(em)
    model = em.compile(net, loss=em.nn.CrossEntropyLoss(), optimizer=em.optim.SGD(lr=0.1))
    compiled = [float(model.train_step(x, y.astype(np.int32))["loss"]) for x, y in batches]
    np.testing.assert_allclose(compiled, losses["torch"], rtol=1e-5)
    assert "transpose(" in str(model.graph("train", *batches[0]))  # einops ran ember ops


def test_einops_layers_print_their_pattern():
    assert repr(em.nn.Rearrange("b c h w -> b (c h w)")) == "Rearrange('b c h w -> b (c h w)')"
    assert (
        repr(em.nn.Reduce("b (h 2) -> b h", "max", h=3)) == "Reduce('b (h 2) -> b h', 'max', h=3)"
    )
