"""Alternative lowering rules per backend, chosen by the `choose_lowering_rules` pass.

The default rule of every op lives in its family file (`RULES`). Some formulations
are much faster on one backend and pointless elsewhere; they live here as data:
`BACKEND_RULES[backend][op]` lists `(rule name, applies(node) -> bool)`, and
`ALTERNATIVE_LOWERING[rule name]` is the JAX rule. The pass records the choice in
the IR (`meta{rule=...}`), so the printed graph shows which lowering a node gets,
and `lower` dispatches on it. Every alternative must equal the default rule in
values and gradients (tests/test_backend_rules.py).

CPU, `conv`: `conv_unswapped` for convs whose kernel window exceeds their maps, else
`conv_matmul_weight_grad` for plain convs (see `conv_cpu.py`): formulations XLA:CPU
runs several times faster than its default conv lowering.

GPU, `fused_attention`: `dot_product_attention` nodes (made by the `fuse_attention`
pass, which runs on GPU only) lower to `jax.nn.dot_product_attention`, cuDNN's fused
kernel where JAX supports the shapes and dtype.
"""

from __future__ import annotations

from collections.abc import Callable

from ember.graphdef import Node

from .attention import fused_attention
from .conv_cpu import conv_matmul_weight_grad, conv_unswapped, plain_conv, swap_prone_conv


def _heads_layout(node: Node) -> bool:
    """(B, N, T, H) operands, one head size for q, k and v: what
    jax.nn.dot_product_attention takes (transposed)."""
    q, k, v = (value.type.shape for value in node.inputs[:3])
    return len(q) == 4 and q[-1] == k[-1] == v[-1]


# backend -> op -> [(rule name, applies to this node?)], first match wins
BACKEND_RULES: dict[str, dict[str, list[tuple[str, Callable[[Node], bool]]]]] = {
    "cpu": {
        "conv": [
            ("conv_unswapped", swap_prone_conv),
            ("conv_matmul_weight_grad", plain_conv),
        ]
    },
    "gpu": {"dot_product_attention": [("fused_attention", _heads_layout)]},
}
ALTERNATIVE_LOWERING: dict[str, Callable] = {
    "conv_unswapped": conv_unswapped,
    "conv_matmul_weight_grad": conv_matmul_weight_grad,
    "fused_attention": fused_attention,
}
