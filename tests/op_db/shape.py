"""OpInfo entries: reshape, transpose, broadcast_to, slice, concatenate, stack, flip, roll,
tril/triu.

Each op is reached through the PyTorch-named functions built on it (view,
flatten, unflatten, squeeze with several dims, movedim, expand with -1,
repeat, tile, narrow, split with sizes, chunk, stack, basic indexing, ...).
"""

import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op
from opinfo_inputs import randint, randn, reseed, t

import ember as em
from ember.errors import ShapeError

reseed(6)
x234 = randn(2, 3, 4)

RESHAPE = OpInfo(
    "reshape",
    [
        Sample(lambda a: a.reshape(4, -1), (x234,), lambda a: t(a).reshape(4, -1), "infer-dim"),
        Sample(lambda a: a.view(24), (x234,), lambda a: t(a).view(24), "view"),
        Sample(lambda a: a.flatten(1), (x234,), lambda a: t(a).flatten(1), "flatten"),
        Sample(lambda a: em.flatten(a), (randn(),), lambda a: torch.flatten(t(a)), "flatten-0-d"),
        Sample(
            lambda a: a.unflatten(1, (2, -1)),
            (randn(3, 8),),
            lambda a: t(a).unflatten(1, (2, -1)),
            "unflatten",
        ),
        Sample(
            lambda a: a.squeeze((0, 2)),
            (randn(1, 3, 1, 1),),
            lambda a: t(a).squeeze((0, 2)),
            "squeeze-dims",
        ),
        Sample(lambda a: a.squeeze(), (randn(1, 3, 1),), lambda a: t(a).squeeze(), "squeeze-all"),
        Sample(
            lambda a: a.squeeze(1).flatten(),
            (randn(2, 3),),
            lambda a: t(a).squeeze(1).flatten(),
            "squeeze-non-1-ignored",
        ),
        Sample(
            lambda a: a.unsqueeze(-1), (randn(2, 3),), lambda a: t(a).unsqueeze(-1), "unsqueeze"
        ),
        Sample(lambda a: a.T.reshape(-1), (randn(3, 4),), lambda a: t(a).T.reshape(-1), "permuted"),
        Sample(
            lambda a: a.reshape(0, 5, 2), (randn(0, 10),), lambda a: t(a).reshape(0, 5, 2), "size-0"
        ),
        Sample(
            lambda a, b: a.view_as(b),
            (randn(6), randn(2, 3)),
            lambda a, b: t(a).view_as(t(b)),
            "view-as",
        ),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda a: raw_op(a, "reshape", shape=(-1, -3)),
            (randn(3),),
            ShapeError,
            r"reshape: target shape \(-1, -3\) has a negative size",
        ),
        ErrorSample(
            lambda a: a.reshape(5, -1),
            (x234,),
            ShapeError,
            r"shape \(5, -1\) is invalid for input of shape \(2, 3, 4\)",
        ),
        ErrorSample(
            lambda a: a.view(-1, -1), (x234,), ShapeError, r"only one dimension can be inferred"
        ),
        # as in PyTorch: -1 is ambiguous for 0 elements
        ErrorSample(
            lambda a: a.view(0, -1), (randn(0, 10),), ShapeError, r"shape \(0, -1\) is invalid"
        ),
        ErrorSample(
            lambda a: a.unflatten(1, (2, 2)), (randn(3, 8),), ShapeError, r"unflatten: dim 1"
        ),
    ],
)

TRANSPOSE = OpInfo(
    "transpose",
    [
        Sample(lambda a: a.permute(2, 0, 1), (x234,), lambda a: t(a).permute(2, 0, 1), "permute"),
        Sample(lambda a: a.transpose(0, -1), (x234,), lambda a: t(a).transpose(0, -1), "transpose"),
        Sample(lambda a: a.T, (randn(3, 4),), lambda a: t(a).T, "T"),
        Sample(lambda a: a.mT, (x234,), lambda a: t(a).mT, "mT"),
        Sample(lambda a: a.movedim(0, -1), (x234,), lambda a: t(a).movedim(0, -1), "movedim"),
        Sample(
            lambda a: em.movedim(a, (0, 1), (2, 0)),
            (x234,),
            lambda a: torch.movedim(t(a), (0, 1), (2, 0)),
            "movedim-several",
        ),
        Sample(
            lambda a: a.swapaxes(1, 2), (randn(0, 2, 3),), lambda a: t(a).swapaxes(1, 2), "size-0"
        ),
    ],
    errors=[
        ErrorSample(lambda a: a.permute(0, 0, 1), (x234,), ShapeError, r"not a permutation"),
        ErrorSample(lambda a: a.movedim((0, 1), (1, 1)), (x234,), ShapeError, r"movedim: source"),
        ErrorSample(lambda a: a.transpose(0, 3), (x234,), ShapeError, r"dim=3 is out of range"),
    ],
)

BROADCAST_TO = OpInfo(
    "broadcast_to",
    [
        Sample(
            lambda a: a.expand(2, 3, -1),
            (randn(3, 1),),
            lambda a: t(a).expand(2, 3, -1),
            "expand-minus-1",
        ),
        Sample(
            lambda a: a.expand(4, -1), (randn(1, 3),), lambda a: t(a).expand(4, -1), "expand-size-1"
        ),
        Sample(
            lambda a: em.broadcast_to(a, (2, 3)),
            (randn(),),
            lambda a: torch.broadcast_to(t(a), (2, 3)),
            "from-0-d",
        ),
        Sample(
            lambda a, b: a.expand_as(b),
            (randn(3, 1), randn(2, 3, 5)),
            lambda a, b: t(a).expand_as(t(b)),
            "expand-as",
        ),
        Sample(
            lambda a: a.T.expand(2, 4, 3),
            (randn(3, 4),),
            lambda a: t(a).T.expand(2, 4, 3),
            "permuted",
        ),
        Sample(lambda a: a.expand(0, 3), (randn(1, 3),), lambda a: t(a).expand(0, 3), "to-size-0"),
        Sample(
            lambda a: a.repeat(2, 1, 3), (randn(2, 3),), lambda a: t(a).repeat(2, 1, 3), "repeat"
        ),
        Sample(lambda a: a.tile((2,)), (randn(2, 3),), lambda a: t(a).tile((2,)), "tile"),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda a: raw_op(a, "broadcast_to", shape=(-1, 3)),
            (randn(3),),
            ShapeError,
            r"broadcast_to: target shape \(-1, 3\) has a negative size",
        ),
        ErrorSample(
            lambda a: a.expand(2, 4),
            (randn(3, 1),),
            ShapeError,
            r"shapes \(3, 1\) and \(2, 4\) cannot be broadcast",
        ),
        ErrorSample(
            lambda a: a.expand(-1, 3), (randn(3),), ShapeError, r"-1 only for existing dims"
        ),
        ErrorSample(
            lambda a: a.repeat(2), (randn(2, 3),), ShapeError, r"repeat: got 1 repeat sizes"
        ),
    ],
)

SLICE = OpInfo(
    "slice",
    [
        Sample(lambda a: a[1:, ::2], (randn(3, 5),), lambda a: t(a)[1:, ::2], "getitem-steps"),
        Sample(lambda a: a[..., 1], (x234,), lambda a: t(a)[..., 1], "ellipsis-int"),
        Sample(
            lambda a: a[None, -1, :, 1:3], (x234,), lambda a: t(a)[None, -1, :, 1:3], "none-neg-int"
        ),
        Sample(lambda a: a[5:], (randn(3, 2),), lambda a: t(a)[5:], "empty-slice"),
        Sample(lambda a: a.narrow(1, 1, 2), (x234,), lambda a: t(a).narrow(1, 1, 2), "narrow"),
        Sample(
            lambda a: em.narrow(a, -1, -3, 2),
            (x234,),
            lambda a: torch.narrow(t(a), -1, -3, 2),
            "narrow-negative",
        ),
        Sample(lambda a: a.T[1:], (randn(3, 4),), lambda a: t(a).T[1:], "permuted"),
    ],
    errors=[
        ErrorSample(
            lambda a: a[3],
            (randn(3, 2),),
            ShapeError,
            r"index 3 is out of bounds for dim 0 with size 3",
        ),
        ErrorSample(
            lambda a: a[::-1], (randn(3),), ShapeError, r"negative slice steps are not supported"
        ),
        ErrorSample(lambda a: a[0, 0, 0], (randn(3, 2),), ShapeError, r"too many indices"),
        ErrorSample(
            lambda a: a.narrow(0, 2, 2), (randn(3, 2),), ShapeError, r"narrow: start 2 \+ length 2"
        ),
    ],
)

SPLIT = OpInfo(
    "split",
    [
        Sample(
            lambda a: a.split([1, 3], dim=1),
            (randn(2, 4),),
            lambda a: t(a).split([1, 3], dim=1),
            "split-sizes",
        ),
        Sample(lambda a: a.split(2), (randn(5, 2),), lambda a: t(a).split(2), "split-size"),
        Sample(lambda a: a.chunk(3, 1), (randn(2, 7),), lambda a: t(a).chunk(3, 1), "chunk"),
        Sample(lambda a: a.chunk(4), (randn(5),), lambda a: t(a).chunk(4), "chunk-fewer"),
        Sample(lambda a: a.unbind(1), (randn(2, 3),), lambda a: t(a).unbind(1), "unbind"),
        Sample(
            lambda a: a.split([2, 0, 1], dim=-1),
            (randn(2, 3),),
            lambda a: t(a).split([2, 0, 1], dim=-1),
            "empty-piece",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a: a.split([1, 1]),
            (randn(3, 2),),
            ShapeError,
            r"split sizes \[1, 1\] do not sum",
        ),
    ],
)

CONCATENATE = OpInfo(
    "concatenate",
    [
        Sample(
            lambda a, b: em.cat([a, b], 1),
            (randn(2, 3), randn(2, 1)),
            lambda a, b: torch.cat([t(a), t(b)], 1),
            "cat",
        ),
        Sample(
            lambda a, b: em.cat((a, b), dim=-1),
            (randn(2, 3), randint(0, 5, 2, 2)),
            lambda a, b: torch.cat((t(a), t(b)), dim=-1),
            "promotes-int-float",
        ),
        Sample(
            lambda a, b: em.cat([a, b]),
            (randn(0, 3), randn(2, 3)),
            lambda a, b: torch.cat([t(a), t(b)]),
            "size-0-part",
        ),
        Sample(
            lambda a, b: em.concat([a.T, b], 0),
            (randn(3, 2), randn(1, 3)),
            lambda a, b: torch.cat([t(a).T, t(b)], 0),
            "permuted",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, b: em.cat([a, b]),
            (randn(), randn()),
            ShapeError,
            r"zero-dimensional tensor \(at position 0\) cannot be concatenated",
        ),
        ErrorSample(
            lambda a, b: em.cat([a, b], 1),
            (randn(2, 3), randn(3, 1)),
            ShapeError,
            r"cat: shapes \[\(2, 3\), \(3, 1\)\] differ outside dim 1",
        ),
    ],
)

STACK = OpInfo(
    "stack",
    [
        Sample(
            lambda a, b: em.stack([a, b], 1),
            (randn(2, 3), randn(2, 3)),
            lambda a, b: torch.stack([t(a), t(b)], 1),
            "stack",
        ),
        Sample(
            lambda a, b: em.stack((a, b), -1),
            (randn(3), randn(3)),
            lambda a, b: torch.stack((t(a), t(b)), -1),
            "stack-last",
        ),
        Sample(
            lambda a, b, c: em.stack([a, b, c]),
            (randn(), randn(), randint(0, 5)),
            lambda a, b, c: torch.stack([t(a), t(b), t(c)]),
            "0-d-promotes-int-float",
        ),
        Sample(
            lambda a, b: em.stack([a.T, b]),
            (randn(3, 2), randn(2, 3)),
            lambda a, b: torch.stack([t(a).T, t(b)]),
            "permuted",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, b: em.stack([a, b]),
            (randn(2, 3), randn(3, 2)),
            ShapeError,
            r"stack expects each tensor to be equal size",
        ),
        ErrorSample(
            lambda a, b: raw_op(a, "stack", [a, b], dim=0),
            (randn(2, 3), randint(0, 5, 2, 3)),
            ShapeError,
            r"stack expects each tensor to be equal size and dtype",
        ),
        ErrorSample(
            lambda a, b: raw_op(a, "stack", [a, b], dim=3),
            (randn(2, 3), randn(2, 3)),
            ShapeError,
            r"out of range",
        ),
    ],
)


def _roll_ref_flat(a, s):
    return torch.roll(t(a), s)


FLIP = OpInfo(
    "flip",
    [
        Sample(lambda a: a.flip(0), (x234,), lambda a: t(a).flip(0), "one-dim"),
        Sample(
            lambda a: em.flip(a, (0, -1)), (x234,), lambda a: torch.flip(t(a), (0, -1)), "two-dims"
        ),
        Sample(lambda a: a.T.flip(1), (randn(3, 4),), lambda a: t(a).T.flip(1), "permuted"),
        Sample(lambda a: a.flip(0), (randn(0, 2),), lambda a: t(a).flip(0), "size-0"),
    ],
    errors=[
        ErrorSample(lambda a: a.flip((0, 0)), (x234,), ShapeError, r"flip: dims \(0, 0\) repeat"),
    ],
)

ROLL = OpInfo(
    "roll",
    [
        Sample(lambda a: a.roll(1, 1), (x234,), lambda a: t(a).roll(1, 1), "one-dim"),
        Sample(
            lambda a: em.roll(a, (-1, 5), (0, 2)),
            (x234,),
            lambda a: torch.roll(t(a), (-1, 5), (0, 2)),
            "two-dims-wrap",
        ),
        Sample(lambda a: a.roll(3), (randn(2, 3),), lambda a: _roll_ref_flat(a, 3), "flattened"),
        Sample(lambda a: a.T.roll(-1, 0), (randn(3, 4),), lambda a: t(a).T.roll(-1, 0), "permuted"),
        Sample(lambda a: a.roll(2, 0), (randn(0, 3),), lambda a: t(a).roll(2, 0), "size-0"),
    ],
    errors=[
        ErrorSample(
            lambda a: a.roll((1, 2), 0),
            (x234,),
            ShapeError,
            r"roll: shifts \(1, 2\) and dims \(0,\)",
        ),
    ],
)


def _tri(name):
    efn, tfn = getattr(em, name), getattr(torch, name)
    return OpInfo(
        name,
        [
            Sample(efn, (randn(4, 4),), lambda a: tfn(t(a)), "square"),
            Sample(
                lambda a: getattr(a, name)(1), (randn(3, 5),), lambda a: tfn(t(a), 1), "wide-diag-1"
            ),
            Sample(
                lambda a: efn(a, -2), (randn(2, 5, 3),), lambda a: tfn(t(a), -2), "batched-neg-diag"
            ),
            Sample(lambda a: efn(a.T), (randn(3, 4),), lambda a: tfn(t(a).T), "permuted"),
            Sample(efn, (randint(-5, 5, 3, 3),), lambda a: tfn(t(a)), "int"),
            Sample(efn, (randn(0, 3),), lambda a: tfn(t(a)), "size-0"),
        ],
        errors=[ErrorSample(efn, (randn(3),), ShapeError, r"tril/triu: need at least 2 dims")],
    )


OP_DB = [
    RESHAPE,
    TRANSPOSE,
    BROADCAST_TO,
    SLICE,
    SPLIT,
    CONCATENATE,
    STACK,
    FLIP,
    ROLL,
    _tri("tril"),
    _tri("triu"),
]
