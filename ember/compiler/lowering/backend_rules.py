"""Alternative lowering rules per backend, chosen by the `choose_lowering_rules` pass.

The default rule of every op lives in its family file (`RULES`). Some formulations
are much faster on one backend and pointless elsewhere; they live here as data:
`BACKEND_RULES[backend][op]` lists `(rule name, applies(node) -> bool)`, and
`ALTERNATIVE_LOWERING[rule name]` is the JAX rule. The pass records the choice in
the IR (`meta{rule=...}`), so the printed graph shows which lowering a node gets,
and `lower` dispatches on it. Every alternative must equal the default rule in
values and gradients (tests/test_backend_rules.py).

CPU, `conv_im2col` (see `conv_cpu.py`): convs as im2col and a matmul per batch chunk
(batched over groups for grouped convs), forward and backward; XLA:CPU runs them
several times faster than its own convolutions. `conv_depthwise_taps` (see
`conv_depthwise_cpu.py`): depthwise convs as a sum of per-channel weights times input
windows, 5-10x faster than XLA:CPU's grouped conv. `max_pool_slices` (see
`pooling_cpu.py`): max pooling whose windows tile the input, with a gradient that
avoids XLA:CPU's slow `select_and_scatter`; `max_pool_strided` (see
`pooling_overlap_cpu.py`): overlapping windows (ResNet's stem pool), with a gradient
that avoids JAX's full-size index arrays. `conv_transpose_im2col` (see
`conv_transpose_cpu.py`): transposed convs as the transpose of `conv_im2col`, 30-45x
faster forward+backward than XLA:CPU's input-dilated conv. `linear_transposed_cotangent`
(see `dot_gradients_cpu.py`): linear layers whose weight gradient multiplies a transposed
copy of the output gradient, so XLA:CPU runs it in its fast matmul kernels.

GPU, `fused_attention`: `dot_product_attention` nodes (made by the `fuse_attention`
pass, which runs on GPU only) lower to `jax.nn.dot_product_attention`, cuDNN's fused
kernel where JAX supports the shapes and dtype.
"""

from __future__ import annotations

from collections.abc import Callable

from ember.graphdef import Node

from .attention import fused_attention
from .conv_cpu import conv_im2col, plain_conv
from .conv_depthwise_cpu import conv_depthwise_taps, depthwise_conv
from .conv_transpose_cpu import conv_transpose_im2col, output_padding_below_stride
from .dot_gradients_cpu import cotangent_no_wider_than_input, linear_transposed_cotangent
from .pooling_cpu import max_pool_slices, tiling_windows
from .pooling_overlap_cpu import max_pool_strided, strided_windows


def _heads_layout(node: Node) -> bool:
    """(B, N, T, H) operands, one head size for q, k and v: what
    jax.nn.dot_product_attention takes (transposed)."""
    q, k, v = (value.type.shape for value in node.inputs[:3])
    return len(q) == 4 and q[-1] == k[-1] == v[-1]


# backend -> op -> [(rule name, applies to this node?)], first match wins
BACKEND_RULES: dict[str, dict[str, list[tuple[str, Callable[[Node], bool]]]]] = {
    "cpu": {
        "conv": [("conv_im2col", plain_conv), ("conv_depthwise_taps", depthwise_conv)],
        "conv_transpose": [("conv_transpose_im2col", output_padding_below_stride)],
        "linear": [("linear_transposed_cotangent", cotangent_no_wider_than_input)],
        "max_pool": [
            ("max_pool_slices", tiling_windows),
            ("max_pool_strided", strided_windows),
        ],
    },
    "gpu": {"dot_product_attention": [("fused_attention", _heads_layout)]},
}
ALTERNATIVE_LOWERING: dict[str, Callable] = {
    "conv_im2col": conv_im2col,
    "conv_depthwise_taps": conv_depthwise_taps,
    "conv_transpose_im2col": conv_transpose_im2col,
    "linear_transposed_cotangent": linear_transposed_cotangent,
    "max_pool_slices": max_pool_slices,
    "max_pool_strided": max_pool_strided,
    "fused_attention": fused_attention,
}
