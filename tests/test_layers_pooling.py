"""MaxPool*, AvgPool*, AdaptiveAvgPool*, AdaptiveMaxPool* vs PyTorch: outputs, indices, grads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conv_parity import check_layer, print_worst

import ember.nn as enn

rng = np.random.default_rng(1)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print_worst("pooling layers")


def _pair(name, *args, **kwargs):
    return getattr(enn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


MAX_CASES = [
    ("MaxPool1d", (3,), {}, (2, 3, 10)),
    (
        "MaxPool1d",
        (3,),
        dict(stride=1, padding=1, dilation=2, ceil_mode=True, return_indices=True),
        (2, 3, 10),
    ),
    ("MaxPool2d", (2,), {}, (2, 3, 8, 6)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 9, 8)),
    (
        "MaxPool2d",
        ((3, 2),),
        dict(stride=(2, 1), padding=1, dilation=(2, 1), return_indices=True),
        (2, 2, 9, 8),
    ),
    ("MaxPool2d", (2,), dict(ceil_mode=True, return_indices=True), (3, 7, 7)),  # unbatched
    (
        "MaxPool3d",
        (2,),
        dict(stride=(1, 2, 2), padding=(1, 0, 1), return_indices=True),
        (2, 2, 5, 6, 5),
    ),
    (
        "MaxPool3d",
        ((2, 3, 2),),
        dict(stride=2, dilation=(2, 1, 2), ceil_mode=True),
        (1, 2, 7, 6, 6),
    ),
]


@pytest.mark.parametrize(
    "name,args,kwargs,shape", MAX_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(MAX_CASES)]
)
def test_max_pool_parity(name, args, kwargs, shape):
    check_layer("max_pool", *_pair(name, *args, **kwargs), r(*shape))


AVG_CASES = [
    ("AvgPool1d", (3,), {}, (2, 3, 10)),
    (
        "AvgPool1d",
        (4,),
        dict(stride=3, padding=2, ceil_mode=True, count_include_pad=False),
        (2, 3, 10),
    ),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 9, 8)),
    (
        "AvgPool2d",
        (3,),
        dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        (2, 3, 9, 8),
    ),
    ("AvgPool2d", ((3, 2),), dict(stride=(2, 3), padding=(1, 0), divisor_override=5), (2, 3, 7, 8)),
    ("AvgPool2d", (2,), {}, (3, 6, 6)),  # unbatched
    (
        "AvgPool3d",
        ((2, 3, 2),),
        dict(stride=2, padding=(1, 1, 0), ceil_mode=True, count_include_pad=False),
        (2, 2, 5, 6, 5),
    ),
    ("AvgPool3d", (2,), dict(divisor_override=3), (1, 2, 4, 4, 4)),
]


@pytest.mark.parametrize(
    "name,args,kwargs,shape", AVG_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(AVG_CASES)]
)
def test_avg_pool_parity(name, args, kwargs, shape):
    check_layer("avg_pool", *_pair(name, *args, **kwargs), r(*shape))


ADAPTIVE_CASES = [
    ("AdaptiveAvgPool1d", (4,), (2, 3, 10)),
    ("AdaptiveAvgPool1d", (7,), (2, 3, 5)),  # more outputs than inputs: overlapping windows
    ("AdaptiveAvgPool2d", ((4, 5),), (2, 3, 9, 8)),
    ("AdaptiveAvgPool2d", ((None, 3),), (2, 3, 9, 8)),
    ("AdaptiveAvgPool2d", (1,), (2, 3, 5, 7)),
    ("AdaptiveAvgPool2d", ((3, 4),), (3, 6, 4)),  # unbatched
    ("AdaptiveAvgPool3d", ((2, 4, 3),), (1, 2, 5, 6, 7)),
    ("AdaptiveMaxPool1d", (4, True), (2, 3, 10)),
    ("AdaptiveMaxPool2d", ((4, 5), True), (2, 3, 9, 8)),
    ("AdaptiveMaxPool2d", ((7, 6),), (2, 3, 5, 4)),
    ("AdaptiveMaxPool2d", ((4, 3),), (2, 3, 8, 6)),  # divisible: a plain max pool
    ("AdaptiveAvgPool2d", ((4, 3),), (2, 3, 8, 6)),
    ("AdaptiveMaxPool2d", ((None, 3), True), (3, 9, 8)),  # unbatched
    ("AdaptiveMaxPool3d", ((2, 4, 3), True), (1, 2, 5, 6, 7)),
]


@pytest.mark.parametrize(
    "name,args,shape", ADAPTIVE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ADAPTIVE_CASES)]
)
def test_adaptive_pool_parity(name, args, shape):
    family = "adaptive_max_pool" if "Max" in name else "adaptive_avg_pool"
    check_layer(family, *_pair(name, *args), r(*shape))


@pytest.mark.parametrize(
    "name,args,kwargs",
    [
        ("MaxPool2d", (3,), dict(stride=2, padding=1, dilation=2, ceil_mode=True)),
        ("AvgPool2d", (3,), dict(stride=2, padding=1)),
        ("AvgPool1d", (2,), {}),
        ("AdaptiveAvgPool2d", ((5, None),), {}),
        ("AdaptiveMaxPool1d", (3,), {}),
    ],
)
def test_repr_matches_torch(name, args, kwargs):
    ours, theirs = _pair(name, *args, **kwargs)
    assert repr(ours) == repr(theirs)
