"""MultiheadAttention with PyTorch's parameter names, layouts and initialization."""

from __future__ import annotations

import numpy as np

from ember.nn import init
from ember.nn.functional import multi_head_attention_forward
from ember.nn.module import Module
from ember.nn.modules._checks import check_probability, check_size
from ember.nn.modules.linear import Linear
from ember.nn.parameter import Parameter

__all__ = ["MultiheadAttention"]


def _zeros(rng, shape, dtype):
    return np.zeros(shape, dtype)


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's name for MultiheadAttention's `out_proj` (a plain Linear)."""


class MultiheadAttention(Module):
    """Multi-head attention; state_dicts load from `torch.nn.MultiheadAttention`.

    Inputs are (L, N, E) (or (N, L, E) with `batch_first=True`, or unbatched (L, E)).
    Bool masks mark positions that may not attend (True = masked); float masks are added.

    >>> attn = MultiheadAttention(embed_dim=16, num_heads=4, batch_first=True)
    >>> out, weights = attn(x, x, x, key_padding_mask=pad)   # in a forward; weights (N, L, S)
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                f"embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                f"({num_heads})"
            )
        check_probability("MultiheadAttention", "dropout", dropout)
        for name, dim in (("kdim", kdim), ("vdim", vdim)):
            if dim is not None:
                check_size("MultiheadAttention", name, dim)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads

        def param(*shape):
            return Parameter(shape=shape, dtype=dtype, init=_zeros)

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = param(embed_dim, embed_dim)
            self.k_proj_weight = param(embed_dim, self.kdim)
            self.v_proj_weight = param(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = param(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(
            embed_dim, embed_dim, bias=bias, dtype=dtype
        )
        if add_bias_kv:
            self.bias_k = param(1, 1, embed_dim)
            self.bias_v = param(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            if self._parameters.get(name) is not None:
                init.xavier_uniform_(self._parameters[name])
        if self._parameters.get("in_proj_bias") is not None:
            init.constant_(self._parameters["in_proj_bias"], 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        for name in ("bias_k", "bias_v"):
            if self._parameters.get(name) is not None:
                init.xavier_normal_(self._parameters[name])

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        """Returns (output, attention weights averaged over heads, or per head, or None)."""
        batched = query.ndim == 3
        if self.batch_first and batched:
            # keep q/k/v identity: self-attention then projects with one matmul
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = (t.transpose(1, 0) for t in (query, key))
                    value = key
            else:
                query, key, value = (t.transpose(1, 0) for t in (query, key, value))
        separate = not self._qkv_same_embed_dim
        out, weights = multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=separate,
            q_proj_weight=self.q_proj_weight if separate else None,
            k_proj_weight=self.k_proj_weight if separate else None,
            v_proj_weight=self.v_proj_weight if separate else None,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights
