"""`ember.utils.checkpoint`: activation checkpointing under PyTorch's names.

`checkpoint(function, *args)` runs `function` so that its intermediate
activations are not kept for the backward pass but recomputed there (a `remat`
node in the IR, lowered to `jax.checkpoint`). Random ops inside draw the same
values when recomputed, as with torch's `preserve_rng_state=True`. To
checkpoint whole submodules by name without editing the model, use
`em.compile(..., remat={"blocks.*": "nothing_saveable"})`.

>>> from ember.utils.checkpoint import checkpoint
>>> def forward(self, x):
...     for block in self.blocks:
...         x = checkpoint(block, x, use_reentrant=False)
...     return x
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember.frontend.control_flow import (
    join_captures,
    parent_builder,
    trace_body,
    tree_flatten,
    tree_unflatten,
)
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor

__all__ = ["checkpoint"]


def checkpoint(
    function: Callable,
    *args: Any,
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """`function(*args, **kwargs)` with its activations recomputed in the backward pass.

    Tensor leaves of `args` are the region's inputs; other arguments and `kwargs` are
    passed through as they are. `use_reentrant` is accepted for PyTorch code and has no
    effect (there is one implementation); so is `preserve_rng_state` (always preserved).
    """
    del use_reentrant, preserve_rng_state
    parent = parent_builder()
    leaves, structure = tree_flatten(args)
    is_tensor = [isinstance(x, Tensor) for x in leaves]
    tensors = [as_tensor(x, parent) for x, flag in zip(leaves, is_tensor, strict=True) if flag]

    def call(inner: list) -> Any:
        it = iter(inner)
        rebuilt = [next(it) if flag else x for x, flag in zip(leaves, is_tensor, strict=True)]
        return function(*tree_unflatten(structure, rebuilt), **kwargs)

    specs = [(f"arg{k}", t.value.type) for k, t in enumerate(tensors)]
    body = trace_body(parent, "remat", function, specs, call, loop=False)
    # buffers the region writes (train-mode BatchNorm) are extra results, written back once
    # after the node: recomputation in the backward does not update them again
    writes = list(body.builder.buffer_writes.values())
    body.results.extend(tensor for _, _, tensor in writes)
    captures = join_captures([body])
    outs = parent.emit(
        "remat",
        [*tensors, *captures],
        {"policy": "nothing_saveable"},
        subgraphs=(body.graph(captures),),
    )
    n = len(outs) - len(writes)
    for (module, name, _), value in zip(writes, outs[n:], strict=True):
        setattr(module, name, value)
    return tree_unflatten(body.structure, outs[:n])
