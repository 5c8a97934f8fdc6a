"""Padding layers and ChannelShuffle vs PyTorch (outputs and input gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conv_parity import check_layer

import ember.nn as enn

rng = np.random.default_rng(3)

SHAPES = {1: (2, 3, 7), 2: (2, 3, 6, 5), 3: (1, 2, 4, 5, 6)}
PADDINGS = {1: (2, 1), 2: (1, 2, 3, 0), 3: (1, 0, 2, 1, 0, 3)}


def _pair(name, *args):
    return getattr(enn, name)(*args), getattr(torch.nn, name)(*args)


CASES = []
for _d in (1, 2, 3):
    for _kind in ("Zero", "Constant", "Reflection", "Replication", "Circular"):
        _extra = (0.5,) if _kind == "Constant" else ()
        CASES.append((f"{_kind}Pad{_d}d", (PADDINGS[_d], *_extra), SHAPES[_d]))
        CASES.append((f"{_kind}Pad{_d}d", (1, *_extra), SHAPES[_d][1:]))  # unbatched, int


@pytest.mark.parametrize(("name", "args", "shape"), CASES, ids=lambda v: str(v))
def test_padding_layers_match_torch(name, args, shape):
    ours, ref = _pair(name, *args)
    assert repr(ours) == repr(ref)
    check_layer("padding", ours, ref, rng.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize(
    ("name", "args", "shape"),
    [
        ("ChannelShuffle", (3,), (2, 6, 4, 5)),
        ("ChannelShuffle", (2,), (3, 4, 5)),
    ],
)
def test_channel_layers_match_torch(name, args, shape):
    ours, ref = _pair(name, *args)
    check_layer("channels", ours, ref, rng.standard_normal(shape).astype(np.float32))


def test_bad_padding_and_groups_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be an int or 4 ints"):
        enn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match="do not split into 4 groups"):
        enn.ChannelShuffle(4)(enn.functional.pad(np.zeros((1, 6, 2), np.float32), (0, 0)))
