"""`F.scaled_dot_product_attention` and `F.multi_head_attention_forward`, composed of
matmul, softmax, where and dropout.

Masks are carried in one of two forms: a bool "allowed" mask (True = may attend,
SDPA's convention) or a float mask added to the scores. Both broadcast against
scores of shape (..., L, S).
"""

from __future__ import annotations

import math

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn.functional._core import active_builder, as_tensor, cast, constant
from ember.nn.functional.activation import softmax
from ember.nn.functional.dropout import dropout
from ember.nn.functional.elementwise import where
from ember.nn.functional.linalg import linear, matmul
from ember.nn.functional.reduction import amax
from ember.nn.functional.shape import cat

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_NEG_INF = float("-inf")


def causal_allowed(builder, tgt_len: int, src_len: int) -> Tensor:
    """Bool (L, S) mask, True on and below the diagonal (`ones(L, S).tril()`), built from iota
    so that long sequences need no large literal in the IR."""
    (rows,) = builder.emit(
        "iota", [], {"start": 0.0, "step": 1.0, "size": tgt_len, "dtype": "int32"}
    )
    (cols,) = builder.emit(
        "iota", [], {"start": 0.0, "step": 1.0, "size": src_len, "dtype": "int32"}
    )
    return rows.reshape(tgt_len, 1) >= cols.reshape(1, src_len)


def _as_mask(mask, builder, dtype: str, what: str) -> Tensor:
    """A user mask as a bool or `dtype` float tensor (float masks take the query's dtype)."""
    m = as_tensor(mask, builder)
    if m.dtype == "bool":
        return m
    if not dtypes.is_floating(m.dtype):
        raise builder.error(
            DTypeError(
                f"{what} must be bool or floating point, got {m.dtype} with shape {m.shape}; fix: "
                f"mask.bool() (or a float mask of 0 / -inf added to the scores)"
            )
        )
    return cast(m, dtype)


def _to_float(mask: Tensor, dtype: str) -> Tensor:
    return where(mask, 0.0, _NEG_INF).to(dtype) if mask.dtype == "bool" else mask


def combine_masks(a: Tensor | None, b: Tensor | None, dtype: str) -> Tensor | None:
    """Both masks at once: bool masks are and-ed; otherwise bools become 0/-inf and add."""
    if a is None or b is None:
        return a if b is None else b
    if a.dtype == "bool" and b.dtype == "bool":
        return a & b
    return _to_float(a, dtype) + _to_float(b, dtype)


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float, scale: float, safe: bool
) -> tuple[Tensor, Tensor]:
    """softmax(q k^T * scale + mask) [dropout] v; returns (output, attention weights).

    With `safe`, a row whose scores are all -inf gets zero weights (PyTorch's SDPA);
    otherwise it is NaN (PyTorch's need_weights path of MultiheadAttention).
    """
    scores = matmul(q * scale, k.transpose(-2, -1))
    if mask is not None:
        try:
            broadcast_shapes(mask.shape, scores.shape)
        except ShapeError:
            raise q.builder.error(
                ShapeError(
                    f"attention: the mask of shape {mask.shape} does not broadcast to the "
                    f"attention scores of shape {scores.shape} (..., L={scores.shape[-2]}, "
                    f"S={scores.shape[-1]}); "
                    "fix: give a mask of shape (L, S) or (N, num_heads, L, S)"
                )
            ) from None
        scores = where(mask, scores, _NEG_INF) if mask.dtype == "bool" else scores + mask
    if safe and mask is not None:
        # zero the fully masked rows before and after softmax so neither the output nor the
        # gradient sees the NaN of softmax over a row of -inf
        dead = amax(scores, -1, keepdim=True) == _NEG_INF
        weights = where(dead, 0.0, softmax(where(dead, 0.0, scores), -1))
    else:
        weights = softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return matmul(weights, v), weights


def _repeat_heads(x: Tensor, groups: int) -> Tensor:
    """`x.repeat_interleave(groups, dim=-3)` as unsqueeze + expand + reshape."""
    if groups == 1:
        return x
    shape = x.shape
    x = x.unsqueeze(-3).expand(*shape[:-2], groups, *shape[-2:])
    return x.reshape(*shape[:-3], shape[-3] * groups, *shape[-2:])


def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """PyTorch's SDPA on (..., L, E) queries and (..., S, E) / (..., S, Ev) keys and values.

    A bool `attn_mask` marks the positions that take part (True); a float mask is added
    to the scores. Dropout is applied whenever `dropout_p > 0` (pass
    `dropout_p=p if self.training else 0.0`, as in PyTorch).

    >>> out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (N, H, L, Ev)
    """
    builder = active_builder(query, key, value)
    q, k, v = (as_tensor(t, builder) for t in (query, key, value))
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t.ndim < 2:
            raise builder.error(
                ShapeError(
                    f"scaled_dot_product_attention: {name} must have at least 2 dims (..., seq, "
                    f"features), got shape {t.shape}"
                )
            )
    if q.shape[-1] != k.shape[-1]:
        raise builder.error(
            ShapeError(
                f"scaled_dot_product_attention: query {q.shape} and key {k.shape} must have the "
                f"same last dim (E={q.shape[-1]} vs {k.shape[-1]})"
            )
        )
    if k.shape[-2] != v.shape[-2]:
        raise builder.error(
            ShapeError(
                f"scaled_dot_product_attention: key {k.shape} and value {v.shape} must have the "
                f"same sequence length S (dim -2: {k.shape[-2]} vs {v.shape[-2]})"
            )
        )
    if is_causal and attn_mask is not None:
        raise ValueError(
            "scaled_dot_product_attention: explicit attn_mask should not be set when is_causal=True"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    dt = dtypes.promote(dtypes.promote(q.dtype, k.dtype), v.dtype)
    q, k, v = cast(q, dt), cast(k, dt), cast(v, dt)
    if enable_gqa and q.ndim >= 3 and q.shape[-3] != k.shape[-3]:
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hq % hk or hq % hv:
            raise builder.error(
                ShapeError(
                    f"scaled_dot_product_attention: with enable_gqa the number of query heads "
                    f"({hq}) must be a multiple of the key ({hk}) and value ({hv}) heads"
                )
            )
        k, v = _repeat_heads(k, hq // hk), _repeat_heads(v, hq // hv)
    mask = None
    if is_causal:
        mask = causal_allowed(builder, q.shape[-2], k.shape[-2])
    elif attn_mask is not None:
        mask = _as_mask(attn_mask, builder, dt, "scaled_dot_product_attention: attn_mask")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    # a causal mask leaves every row its first key, so no row needs the fully-masked guard
    out, _ = attention(q, k, v, mask, float(dropout_p), scale, safe=not is_causal)
    return out


# -- multi-head attention -----------------------------------------------------------------


def _pad_allowed(mask: Tensor | None) -> Tensor | None:
    """Append one always-allowed key position (for bias_k/bias_v and add_zero_attn)."""
    if mask is None:
        return None
    value = True if mask.dtype == "bool" else 0.0
    return cat([mask, constant(mask.builder, value, mask.dtype, mask.shape[:-1] + (1,))], -1)


def _check(builder, ok: bool, message: str) -> None:
    if not ok:
        raise builder.error(ShapeError(f"multi_head_attention_forward: {message}"))


def _in_projection(query, key, value, in_proj_weight, in_proj_bias, separate: tuple | None):
    if separate is not None:
        ws = separate
    elif query is key and key is value:  # self-attention: one (3E, E) matmul, then split
        return linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
    else:
        ws = in_proj_weight.chunk(3)
    bs = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    return tuple(linear(x, w, b) for x, w, b in zip((query, key, value), ws, bs, strict=True))


def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight,
    out_proj_bias,
    training: bool = True,
    key_padding_mask=None,
    need_weights: bool = True,
    attn_mask=None,
    use_separate_proj_weight: bool = False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """PyTorch's functional multi-head attention on sequence-first inputs (L, N, E) or
    unbatched (L, E). Bool masks mark positions that may NOT attend (True = masked);
    float masks are added. Returns (output, weights or None)."""
    builder = active_builder(query, key, value)
    q_in, k_in, v_in = (as_tensor(t, builder) for t in (query, key, value))
    batched = q_in.ndim == 3
    _check(
        builder,
        q_in.ndim in (2, 3) and k_in.ndim == q_in.ndim == v_in.ndim,
        f"query, key and value must all be 3-D (L, N, E) or all 2-D (unbatched), got "
        f"{q_in.shape}, {k_in.shape} and {v_in.shape}",
    )
    if not batched:
        same_kv, same_qk = k_in is v_in, q_in is k_in
        q_in = q_in.unsqueeze(1)
        k_in = q_in if same_qk else k_in.unsqueeze(1)
        v_in = k_in if same_kv else v_in.unsqueeze(1)
    tgt_len, bsz, embed_dim = q_in.shape
    # the number of keys attended (before bias_k / add_zero_attn), which the masks must match
    src_len = k_in.shape[0] if static_k is None else as_tensor(static_k, builder).shape[1]
    _check(
        builder,
        embed_dim == embed_dim_to_check,
        f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}",
    )
    _check(
        builder,
        embed_dim % num_heads == 0,
        f"embed_dim {embed_dim} not divisible by num_heads {num_heads}",
    )
    head_dim = embed_dim // num_heads
    if use_separate_proj_weight:
        _check(
            builder,
            k_in.shape[:2] == v_in.shape[:2],
            f"key's sequence and batch dims {k_in.shape[:2]} do not match value's {v_in.shape[:2]}",
        )
    else:
        _check(
            builder,
            k_in.shape == v_in.shape,
            f"key shape {k_in.shape} does not match value shape {v_in.shape}",
        )
    _check(
        builder,
        k_in.shape[1] == bsz,
        f"query has batch size {bsz} but key has {k_in.shape[1]} (inputs are (L, N, E))",
    )
    if is_causal and attn_mask is None:
        raise ValueError(
            "Need attn_mask if specifying the is_causal hint. You may use the "
            "Transformer module method `generate_square_subsequent_mask` to "
            "create this mask."
        )

    separate = (q_proj_weight, k_proj_weight, v_proj_weight) if use_separate_proj_weight else None
    q, k, v = _in_projection(q_in, k_in, v_in, in_proj_weight, in_proj_bias, separate)
    dt = q.dtype

    # masks, converted to ember's form: bool True = may attend, or float added to scores
    mask = None
    if attn_mask is not None:
        mask = _as_mask(attn_mask, builder, dt, "multi_head_attention_forward: attn_mask")
        want = [(tgt_len, src_len)] if mask.ndim == 2 else [(bsz * num_heads, tgt_len, src_len)]
        _check(
            builder,
            mask.ndim in (2, 3) and mask.shape in want,
            f"the shape of the {mask.ndim}-D attn_mask is {mask.shape}, but should be "
            f"{want[0] if mask.ndim in (2, 3) else '(L, S) or (N * num_heads, L, S)'}",
        )
        mask = ~mask if mask.dtype == "bool" else mask
    kpm = None
    if key_padding_mask is not None:
        kpm = _as_mask(
            key_padding_mask, builder, dt, "multi_head_attention_forward: key_padding_mask"
        )
        want_kpm = (bsz, src_len) if batched else (src_len,)
        _check(
            builder,
            kpm.shape == want_kpm,
            f"expected key_padding_mask of shape {want_kpm} (batch, source length), "
            f"got {kpm.shape}",
        )
        kpm = (~kpm if kpm.dtype == "bool" else kpm).reshape(bsz, src_len)

    if bias_k is not None and bias_v is not None:
        _check(
            builder,
            static_k is None and static_v is None,
            "bias cannot be added to static key/value",
        )
        k = cat([k, as_tensor(bias_k, builder).expand(1, bsz, embed_dim)], 0)
        v = cat([v, as_tensor(bias_v, builder).expand(1, bsz, embed_dim)], 0)
        mask, kpm = _pad_allowed(mask), _pad_allowed(kpm)
    else:
        _check(builder, bias_k is None and bias_v is None, "bias_k and bias_v must both be given")

    # (L, N, E) -> (N, H, L, head_dim)
    q = q.reshape(tgt_len, bsz, num_heads, head_dim).permute(1, 2, 0, 3)
    k = _heads(builder, k, static_k, bsz, num_heads, head_dim, "static_k")
    v = _heads(builder, v, static_v, bsz, num_heads, head_dim, "static_v")
    if add_zero_attn:
        zeros = constant(builder, 0.0, dt, (bsz, num_heads, 1, head_dim))
        k, v = cat([k, zeros], 2), cat([v, zeros], 2)
        mask, kpm = _pad_allowed(mask), _pad_allowed(kpm)
    src_len = k.shape[2]
    if mask is not None and mask.ndim == 3:
        mask = mask.reshape(bsz, num_heads, tgt_len, src_len)
    if kpm is not None:
        kpm = kpm.reshape(bsz, 1, 1, src_len)
    mask = combine_masks(mask, kpm, dt)

    p = dropout_p if training else 0.0
    out, weights = attention(q, k, v, mask, p, 1.0 / math.sqrt(head_dim), safe=not need_weights)
    out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias)
    if not need_weights:
        return (out if batched else out.squeeze(1)), None
    if average_attn_weights:
        weights = weights.mean(1)
    return (out, weights) if batched else (out.squeeze(1), weights.squeeze(0))


def _heads(
    builder, x: Tensor, static: object, bsz: int, num_heads: int, head_dim: int, name: str
) -> Tensor:
    """(S, N, E) -> (N, H, S, head_dim); a static_k/static_v (N * H, S, head_dim) replaces x."""
    if static is None:
        return x.reshape(x.shape[0], bsz, num_heads, head_dim).permute(1, 2, 0, 3)
    s = as_tensor(static, builder)
    _check(
        builder,
        s.ndim == 3 and s.shape[0] == bsz * num_heads and s.shape[2] == head_dim,
        f"expected {name} of shape ({bsz * num_heads}, S, {head_dim}), got {s.shape}",
    )
    return s.reshape(bsz, num_heads, s.shape[1], head_dim)
