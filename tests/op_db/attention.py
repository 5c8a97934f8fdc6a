"""OpInfo entries: dot_product_attention (made by the fuse_attention pass; reference:
torch's scaled_dot_product_attention and its explicit formula)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op
from opinfo_inputs import randn, reseed, t

from ember.errors import DTypeError, ShapeError

reseed(31)
q, k, v = randn(2, 3, 4, 5), randn(2, 3, 6, 5), randn(2, 3, 6, 2)
allowed = np.tril(np.ones((4, 6), bool))
bias = randn(1, 3, 4, 6)
v5 = randn(2, 3, 6, 5)  # v's head size equal to q's: the form JAX's fused kernel takes


def _sdpa(q, k, v, mask=None, scale=None):
    return torch.nn.functional.scaled_dot_product_attention(
        t(q), t(k), t(v), attn_mask=None if mask is None else t(mask), scale=scale
    )


def _fused(kind: str, scale: float, scale_query: bool = False):
    def fn(*xs):
        return raw_op(
            xs[0],
            "dot_product_attention",
            list(xs),
            scale=scale,
            mask_kind=kind,
            scale_query=scale_query,
        )

    return fn


DOT_PRODUCT_ATTENTION = OpInfo(
    "dot_product_attention",
    [
        Sample(_fused("none", 0.4), (q, k, v), lambda q, k, v: _sdpa(q, k, v, scale=0.4), "none"),
        Sample(
            _fused("none", 0.4, True),
            (q, k, v),
            lambda q, k, v: _sdpa(q, k, v, scale=0.4),
            "scale-query",
        ),
        Sample(
            _fused("allowed", 1.0),
            (q, k, v, allowed),
            lambda q, k, v, m: _sdpa(q, k, v, m, scale=1.0),
            "allowed",
        ),
        Sample(
            _fused("disallowed", 0.5),
            (q, k, v, ~allowed),
            lambda q, k, v, m: _sdpa(q, k, v, ~m, scale=0.5),
            "disallowed",
        ),
        Sample(
            _fused("additive", 0.5),
            (q, k, v, bias),
            lambda q, k, v, m: _sdpa(q, k, v, m, scale=0.5),
            "additive",
        ),
        Sample(_fused("none", 0.4), (q, k, v5), lambda q, k, v: _sdpa(q, k, v, scale=0.4), "v-E"),
        Sample(
            _fused("allowed", 1.0),
            (q, k, v5, allowed),
            lambda q, k, v, m: _sdpa(q, k, v, m, scale=1.0),
            "allowed-v-E",
        ),
    ],
    errors=[
        ErrorSample(_fused("sometimes", 1.0), (q, k, v), ShapeError, r"mask_kind must be one of"),
        ErrorSample(_fused("allowed", 1.0), (q, k, v), ShapeError, r"takes 4 operands, got 3"),
        ErrorSample(
            _fused("none", 1.0), (q, randn(2, 3, 6, 4), v), ShapeError, r"do not fit \(L,E\)"
        ),
        ErrorSample(
            _fused("additive", 1.0), (q, k, v, allowed), DTypeError, r"'additive' mask cannot be"
        ),
        ErrorSample(
            _fused("allowed", 1.0),
            (q, k, v, np.ones((5, 6), bool)),
            ShapeError,
            r"cannot be broadcast together",
        ),
    ],
)

OP_DB = [DOT_PRODUCT_ATTENTION]
