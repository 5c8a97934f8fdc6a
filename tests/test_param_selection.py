"""optim.param_groups / optim.select_params on torch modules and a fake module tree."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ember import optim


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.norm1 = nn.LayerNorm(4)
        self.emb = nn.Embedding(3, 4)


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("block", Block())
    model.add_module("head", nn.Linear(4, 2, bias=False))
    model.add_module("ln_f", nn.LayerNorm(2))
    return model


def _names(model, params) -> list[str]:
    by_id = {id(p): n for n, p in model.named_parameters()}
    return [by_id[id(p)] for p in params]


def test_bias_and_norm_types_get_no_weight_decay():
    model = _model()
    groups = optim.param_groups(model, no_weight_decay=("bias", nn.LayerNorm), weight_decay=0.05)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    assert _names(model, groups[0]["params"]) == [
        "block.proj.weight",
        "block.emb.weight",
        "head.weight",
    ]
    assert _names(model, groups[1]["params"]) == [
        "block.proj.bias",
        "block.norm1.weight",
        "block.norm1.bias",
        "ln_f.weight",
        "ln_f.bias",
    ]


def test_glob_patterns_match_names_leaves_and_module_paths():
    model = _model()
    pick = lambda sel: [n for n, _ in optim.select_params(model, sel)]  # noqa: E731
    assert pick("*.norm*") == ["block.norm1.weight", "block.norm1.bias"]
    assert pick("bias") == ["block.proj.bias", "block.norm1.bias", "ln_f.bias"]
    assert pick("block") == [n for n, _ in model.named_parameters() if n.startswith("block.")]
    assert pick("block.emb.weight") == ["block.emb.weight"]
    assert pick(("head", nn.Embedding)) == ["block.emb.weight", "head.weight"]
    assert pick(()) == []
    with pytest.raises(TypeError):
        optim.select_params(model, [3])


def test_options_are_shared_and_empty_groups_dropped():
    model = _model()
    groups = optim.param_groups(model, no_weight_decay="nothing-matches", lr=3e-4)
    assert len(groups) == 1 and groups[0]["lr"] == 3e-4
    assert len(groups[0]["params"]) == len(list(model.parameters()))


def test_frozen_parameters_are_left_out():
    model = _model()
    model.head.weight.requires_grad_(False)
    groups = optim.param_groups(model, no_weight_decay=("bias",))
    chosen = {id(p) for g in groups for p in g["params"]}
    assert id(model.head.weight) not in chosen
    named = list(model.named_parameters())
    labels = optim.AdamW(groups).group_labels(named)
    assert labels[[n for n, _ in named].index("head.weight")] == -1


class FakeParam:
    pass


class FakeNorm:
    def __init__(self):
        self.weight = FakeParam()

    def named_modules(self):
        yield "", self

    def named_parameters(self):
        yield "weight", self.weight


class FakeModel:
    """Only the two methods param_groups relies on, as ember's Module offers them."""

    def __init__(self):
        self.w, self.b, self.norm = FakeParam(), FakeParam(), FakeNorm()

    def named_modules(self):
        yield "", self
        yield "norm", self.norm

    def named_parameters(self):
        yield "dense.weight", self.w
        yield "dense.bias", self.b
        yield "norm.weight", self.norm.weight


def test_fake_module_tree_and_optimizer_groups():
    model = FakeModel()
    groups = optim.param_groups(model, no_weight_decay=("bias", FakeNorm), weight_decay=0.1)
    assert groups[0]["params"] == [model.w]
    assert groups[1]["params"] == [model.b, model.norm.weight]
    opt = optim.AdamW(groups, lr=1e-3)
    hp = opt.hyperparams()
    assert [h["weight_decay"] for h in hp] == [0.1, 0.0]
    assert opt.group_labels(list(model.named_parameters())) == [0, 1, 1]
