"""`tensor.grad_fn`: the autograd node that made a tensor, walkable as in PyTorch.

The 60-minute blitz prints `loss.grad_fn` and follows `loss.grad_fn.next_functions`.
ember's autograd graph is the lazy IR itself, so a `GradFn` is a view of the IR node
that produced the tensor: its name follows PyTorch's pattern (`MulBackward0`, `<op of
a module call>` for `net(x)`), `next_functions` the nodes (or `AccumulateGrad` for
leaves) of its inputs that require grad.
"""

from __future__ import annotations

from typing import Any


def _camel(op: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in op.split("_"))


class GradFn:
    """The node that computed a tensor (`t.grad_fn`)."""

    __slots__ = ("node",)

    def __init__(self, node: Any):
        self.node = node

    def name(self) -> str:
        label = self.node.attrs.get("name") if self.node.op == "call" else None
        return f"{_camel(label or self.node.op)}Backward0"

    @property
    def next_functions(self) -> tuple:
        out = []
        for v in self.node.inputs:
            if not getattr(v, "requires_grad", False):
                out.append((None, 0))
            elif v.node is None:
                out.append((AccumulateGrad(v), 0))
            else:
                out.append((GradFn(v.node), v.index))
        return tuple(out)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):  # `t.grad_fn == "mul"`: the IR op's name
            return self.node.op == other
        return isinstance(other, GradFn) and other.node is self.node

    def __hash__(self) -> int:
        return id(self.node)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self.node))}>"


class AccumulateGrad:
    """A leaf's gradient sink; `variable` is the leaf tensor (when it is alive)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    @property
    def variable(self) -> Any:
        return self.value.owner() if self.value.owner is not None else None

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    next_functions: tuple = ()

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self.value))}>"
