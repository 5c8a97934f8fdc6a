"""Conv1d/2d/3d and ConvTranspose1d/2d/3d vs PyTorch: outputs, weight/bias/input grads, init."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conv_parity import check_layer, print_worst

import ember.nn as enn
from ember.errors import ShapeError
from ember.frontend.trace import trace_function

rng = np.random.default_rng(0)
# PyTorch warns that 'same' with an even kernel copies the input; the result is what we test
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print_worst("conv layers")


def _pair(name, *args, **kwargs):
    torch.manual_seed(0)
    return getattr(enn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


CONV_CASES = [
    ("Conv1d", (3, 4, 3), {}, (2, 3, 9)),
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=2, dilation=2, groups=2), (2, 4, 11)),
    ("Conv1d", (3, 4, 4), dict(padding="same", bias=False), (2, 3, 8)),
    ("Conv1d", (3, 4, 3), dict(padding="valid"), (3, 9)),  # unbatched
    ("Conv2d", (3, 5, 3), {}, (2, 3, 7, 6)),
    (
        "Conv2d",
        (4, 6, (3, 2)),
        dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
        (2, 4, 9, 8),
    ),
    ("Conv2d", (4, 8, 3), dict(padding=1, groups=4), (2, 4, 6, 6)),  # depthwise, multiplier 2
    ("Conv2d", (2, 3, (4, 3)), dict(padding="same"), (2, 2, 7, 6)),
    ("Conv2d", (2, 3, 3), dict(stride=2, bias=False), (2, 2, 1 + 6, 1 + 4)),
    ("Conv2d", (3, 2, 1), {}, (2, 3, 1, 1)),  # size-1 spatial
    ("Conv3d", (2, 3, (2, 3, 2)), dict(stride=(1, 2, 2), padding=(1, 0, 1)), (2, 2, 5, 4, 6)),
    ("Conv3d", (4, 4, 3), dict(dilation=(1, 1, 2), groups=2, padding="same"), (1, 4, 4, 5, 5)),
]


@pytest.mark.parametrize(
    "name,args,kwargs,shape", CONV_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONV_CASES)]
)
def test_conv_parity(name, args, kwargs, shape):
    ours, theirs = _pair(name, *args, **kwargs)
    check_layer("conv", ours, theirs, r(*shape))


PADDING_MODE_CASES = [
    ("Conv1d", (2, 3, 3), dict(padding=2), (2, 2, 7)),
    ("Conv1d", (2, 3, 4), dict(padding="same", dilation=2), (2, 2, 9)),
    ("Conv2d", (2, 4, 3), dict(padding=(1, 2), stride=(2, 1)), (2, 2, 6, 7)),
    ("Conv2d", (4, 4, (4, 3)), dict(padding="same", groups=2), (2, 4, 6, 5)),
    ("Conv2d", (2, 3, 3), dict(padding=1), (2, 5, 6)),  # unbatched
    ("Conv3d", (2, 3, 3), dict(padding=1), (1, 2, 4, 5, 4)),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "name,args,kwargs,shape",
    PADDING_MODE_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(PADDING_MODE_CASES)],
)
def test_conv_padding_modes(name, args, kwargs, shape, mode):
    ours, theirs = _pair(name, *args, padding_mode=mode, **kwargs)
    check_layer("conv", ours, theirs, r(*shape))


TRANSPOSE_CASES = [
    ("ConvTranspose1d", (3, 4, 3), {}, (2, 3, 6)),
    (
        "ConvTranspose1d",
        (4, 6, 3),
        dict(stride=3, padding=1, output_padding=2, groups=2),
        (2, 4, 5),
    ),
    (
        "ConvTranspose2d",
        (4, 6, (3, 2)),
        dict(stride=(2, 3), padding=(1, 1), output_padding=(1, 2), groups=2, dilation=(2, 1)),
        (2, 4, 5, 6),
    ),
    ("ConvTranspose2d", (2, 3, 5), dict(stride=3, padding=5, bias=False), (1, 2, 4, 4)),
    ("ConvTranspose2d", (3, 2, 2), dict(stride=2), (3, 4, 4)),  # unbatched
    (
        "ConvTranspose3d",
        (2, 2, (2, 3, 2)),
        dict(stride=2, dilation=(1, 2, 1), padding=(0, 1, 1), output_padding=(1, 0, 1)),
        (1, 2, 3, 4, 3),
    ),
]


@pytest.mark.parametrize(
    "name,args,kwargs,shape",
    TRANSPOSE_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(TRANSPOSE_CASES)],
)
def test_conv_transpose_parity(name, args, kwargs, shape):
    ours, theirs = _pair(name, *args, **kwargs)
    check_layer("conv_transpose", ours, theirs, r(*shape))


@pytest.mark.parametrize("output_size", [(9, 10), (1, 4, 10, 10), (10, 9)])
def test_conv_transpose_output_size(output_size):
    ours, theirs = _pair("ConvTranspose2d", 4, 2, 3, stride=2, padding=1)
    check_layer(
        "conv_transpose",
        ours,
        theirs,
        r(1, 4, 5, 5),
        call=lambda m, x: m(x, output_size=output_size),
    )


def test_conv_transpose_output_size_out_of_range():
    layer = enn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    with pytest.raises(ShapeError, match=r"valid sizes range from \(9, 9\) to \(10, 10\)"):
        trace_function(
            lambda x: layer(x, output_size=(12, 12)),
            [r(1, 4, 5, 5)],
            modules=[("", layer)],
            names=["x"],
        )


@pytest.mark.parametrize(
    "name,args,kwargs",
    [
        ("Conv1d", (4, 6, 3), dict(groups=2)),
        ("Conv2d", (3, 8, (3, 5)), {}),
        ("Conv3d", (2, 4, 2), dict(bias=False)),
        ("ConvTranspose2d", (6, 4, 3), dict(groups=2)),
        ("ConvTranspose1d", (3, 5, 4), {}),
    ],
)
def test_default_init_matches_torch(name, args, kwargs):
    ours, theirs = _pair(name, *args, **kwargs)
    want = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    got = ours.state_dict()
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in want.items()}
    w = theirs.weight
    bound = 1 / math.sqrt(w.shape[1] * math.prod(w.shape[2:]))
    for k, v in got.items():
        assert v.dtype == np.float32
        assert np.abs(v).max() <= bound, f"{k} exceeds U(+-{bound})"
        if v.numel() >= 50:  # a uniform draw, not a constant: spread close to bound/sqrt(3)
            assert 0.6 * bound / math.sqrt(3) < v.std() < 1.4 * bound / math.sqrt(3)


@pytest.mark.parametrize(
    "name,args,kwargs",
    [
        ("Conv2d", (16, 33, (3, 5)), dict(stride=(2, 1), padding=(4, 2), dilation=(3, 1))),
        ("Conv1d", (4, 6, 3), dict(padding="same", groups=2, bias=False, padding_mode="circular")),
        ("ConvTranspose2d", (16, 33, 3), dict(stride=2, output_padding=1)),
    ],
)
def test_repr_matches_torch(name, args, kwargs):
    ours, theirs = _pair(name, *args, **kwargs)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(groups=3), "must be divisible by groups"),
        (dict(padding_mode="mirror"), "padding_mode must be one of"),
        (dict(padding="same", stride=2), "padding='same' is not supported for strided"),
        (dict(padding="full"), "invalid padding string"),
    ],
)
def test_conv_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        enn.Conv2d(4, 8, 3, **kwargs)


def test_conv_transpose_rejects_padding_modes():
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        enn.ConvTranspose2d(4, 8, 3, padding_mode="reflect")


def test_reflect_padding_too_large_is_a_shape_error():
    layer = enn.Conv1d(2, 2, 3, padding=4, padding_mode="reflect")
    with pytest.raises(
        ShapeError, match=r"padding \(4, 4\) .* too large for padding_mode='reflect'"
    ):
        layer(r(1, 2, 4))
