"""Upsample*, PixelShuffle/Unshuffle, Fold/Unfold vs PyTorch, and a small CNN end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conv_parity import check_layer, print_worst

import ember as em
import ember.nn as enn

rng = np.random.default_rng(2)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print_worst("resampling layers")


def _pair(name, *args, **kwargs):
    return getattr(enn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


UPSAMPLE_CASES = [
    (dict(scale_factor=2), (2, 3, 5, 7)),
    (dict(size=(3, 11)), (2, 3, 5, 7)),
    (dict(scale_factor=1.7, mode="nearest-exact"), (2, 3, 5, 7)),
    (dict(scale_factor=(2, 1.5, 0.5)), (1, 2, 3, 4, 6)),  # nearest 3-D
    (dict(scale_factor=2.5, mode="linear"), (2, 3, 5)),
    (dict(scale_factor=2.5, mode="linear", align_corners=True), (2, 3, 5)),
    (dict(scale_factor=2.3, mode="bilinear"), (2, 3, 5, 7)),
    (dict(size=(9, 4), mode="bilinear", align_corners=True), (2, 3, 5, 7)),
    (dict(scale_factor=0.6, mode="bilinear", recompute_scale_factor=True), (2, 3, 8, 9)),
    (dict(size=(9, 4), mode="bicubic"), (2, 3, 5, 7)),
    (dict(scale_factor=(1.5, 2.5), mode="bicubic", align_corners=True), (2, 3, 5, 7)),
    (dict(size=(5, 3, 7), mode="trilinear"), (2, 3, 3, 4, 5)),
    (dict(scale_factor=2, mode="trilinear", align_corners=True), (1, 2, 3, 2, 3)),
    (dict(size=(2, 3), mode="area"), (2, 3, 5, 7)),
]


@pytest.mark.parametrize(
    "kwargs,shape",
    UPSAMPLE_CASES,
    ids=[f"{c[0].get('mode', 'nearest')}-{i}" for i, c in enumerate(UPSAMPLE_CASES)],
)
def test_upsample_parity(kwargs, shape):
    # bicubic mixes 16 taps with float32 weights: a few ulps of the larger outputs
    atol = 1e-5 if kwargs.get("mode") == "bicubic" else 1e-6
    check_layer("interpolate", *_pair("Upsample", **kwargs), r(*shape), atol=atol)


@pytest.mark.parametrize("name", ["UpsamplingNearest2d", "UpsamplingBilinear2d"])
@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(size=(7, 4))])
def test_upsampling_aliases(name, kwargs):
    check_layer("interpolate", *_pair(name, **kwargs), r(2, 3, 4, 5))


@pytest.mark.parametrize(
    "name,arg,shape",
    [
        ("PixelShuffle", 2, (2, 8, 3, 4)),
        ("PixelShuffle", 3, (2, 1, 18, 2, 3)),
        ("PixelShuffle", 2, (4, 3, 2)),  # unbatched
        ("PixelUnshuffle", 2, (2, 3, 4, 6)),
        ("PixelUnshuffle", 3, (3, 6, 9)),
    ],
)
def test_pixel_shuffle_parity(name, arg, shape):
    check_layer("pixel_shuffle", *_pair(name, arg), r(*shape))


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        (dict(kernel_size=2), (2, 3, 5, 6)),
        (dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2)), (2, 3, 5, 6)),
        (dict(kernel_size=3, padding=1), (3, 4, 4)),  # unbatched
    ],
)
def test_unfold_parity(kwargs, shape):
    check_layer("unfold", *_pair("Unfold", **kwargs), r(*shape))


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        (dict(output_size=(4, 5), kernel_size=2), (2, 12, 12)),
        (
            dict(output_size=(5, 6), kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
            (2, 12, 15),
        ),
        (dict(output_size=4, kernel_size=3, padding=1), (18, 16)),  # unbatched, overlapping
    ],
)
def test_fold_parity(kwargs, shape):
    check_layer("fold", *_pair("Fold", **kwargs), r(*shape))


def test_fold_of_unfold_counts_overlaps():
    """fold(unfold(x)) multiplies each pixel by the number of blocks covering it (PyTorch docs)."""
    x = r(1, 2, 5, 5)
    net = enn.Sequential(enn.Unfold(3, padding=1), enn.Fold((5, 5), 3, padding=1))
    ones = torch.nn.functional.fold(
        torch.nn.functional.unfold(torch.ones(1, 2, 5, 5), 3, padding=1), (5, 5), 3, padding=1
    ).numpy()
    np.testing.assert_allclose(net(x), x * ones, rtol=1e-6)


@pytest.mark.parametrize(
    "name,args,kwargs",
    [
        ("Upsample", (), dict(scale_factor=2, mode="bilinear")),
        ("Upsample", (), dict(size=(3, 4))),
        ("PixelShuffle", (3,), {}),
        ("Fold", (), dict(output_size=(4, 5), kernel_size=2)),
        ("Unfold", (), dict(kernel_size=(2, 3), padding=1)),
    ],
)
def test_repr_matches_torch(name, args, kwargs):
    ours, theirs = _pair(name, *args, **kwargs)
    assert repr(ours) == repr(theirs)


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 8, 3, padding="same", groups=2),
        nn.ReLU(),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
        nn.Upsample(size=(8, 6), mode="bilinear"),
        nn.PixelUnshuffle(2),
        nn.AdaptiveAvgPool2d((3, 2)),
        nn.Flatten(),
        nn.Linear(96, 5),
    )


def test_small_cnn_end_to_end():
    torch.manual_seed(0)
    ours, theirs = _cnn(enn), _cnn(torch.nn)
    check_layer("cnn", ours, theirs, r(2, 3, 11, 10))


def test_small_cnn_trains_with_compile():
    """The fused train step runs through every op of the family and lowers the loss."""
    em.manual_seed(0)
    model = _cnn(enn)
    x, y = r(8, 3, 11, 10), rng.integers(0, 5, 8).astype(np.int32)
    compiled = em.compile(
        model, loss=enn.CrossEntropyLoss(), optimizer=em.optim.Adam(model.parameters(), lr=0.01)
    )
    history = compiled.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
