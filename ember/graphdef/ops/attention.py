"""Fused attention: `softmax(q kᵀ · scale [+ mask]) v` as one op.

The frontend never emits it: `F.scaled_dot_product_attention` and hand-written
attention trace to matmul / softmax / where. The `fuse_attention` pass rewrites that
pattern into this op on backends with a fused kernel (cuDNN on GPU), so the printed IR
shows where it applies. `mask_kind`: "none"; "allowed" (bool, True may attend);
"disallowed" (bool, True is masked: `masked_fill`); "additive" (float, added to the
scores). `scale_query`: the scale multiplies q before the matmul (SDPA's form) rather
than the scores after it (nanoGPT's), so the unfused rule rounds like the source.
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ops.common import broadcast_shapes
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

MASK_KINDS = ("none", "allowed", "disallowed", "additive")


def _attention(types, *, scale, mask_kind, scale_query):
    if mask_kind not in MASK_KINDS:
        raise ShapeError(f"dot_product_attention: mask_kind must be one of {MASK_KINDS}")
    want = 3 if mask_kind == "none" else 4
    if len(types) != want:
        raise ShapeError(
            f"dot_product_attention: mask_kind={mask_kind!r} takes {want} operands, "
            f"got {len(types)}"
        )
    q, k, v = types[:3]
    if min(q.ndim, k.ndim, v.ndim) < 2 or not q.ndim == k.ndim == v.ndim:
        raise ShapeError(f"dot_product_attention: q {q}, k {k}, v {v} need one rank >= 2")
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise ShapeError(f"dot_product_attention: batch dims of q {q}, k {k}, v {v} differ")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"dot_product_attention: q {q}, k {k}, v {v} do not fit (L,E)(S,E)(S,Ev)")
    if not q.dtype == k.dtype == v.dtype:
        raise DTypeError(f"dot_product_attention: dtypes differ: {q}, {k}, {v}")
    if mask_kind != "none":
        mask = types[3]
        scores = q.shape[:-1] + (k.shape[-2],)
        if broadcast_shapes(mask.shape, scores) != scores:
            raise ShapeError(f"dot_product_attention: mask {mask} does not broadcast to {scores}")
        if (mask.dtype == "bool") != (mask_kind != "additive"):
            raise DTypeError(f"dot_product_attention: a {mask_kind!r} mask cannot be {mask}")
    return [TensorType(q.shape[:-1] + (v.shape[-1],), q.dtype)]


register_op(
    "dot_product_attention",
    _attention,
    attrs={"scale": "float", "mask_kind": "str", "scale_query": "bool"},
    num_inputs=(3, 4),
    doc="softmax(q k^T * scale [mask]) v over the last two dims (q, k, v[, mask])",
)
