"""`annotate_sharding(...)`: write a sharding plan's layouts into the IR.

The pass decides nothing about placement itself; it records, as `meta{sharding=...}`
(one entry per dimension: an axis name, a list of axis names, or null), what XLA is
asked for, so the printed IR shows it:

- every parameter input: its partition spec (replicated, FSDP, or a rule's);
- every data input whose first axis divides over the data axes: split on that axis;
- tensor-parallel boundaries: the output of an op that consumes a rule-sharded weight
  (`BOUNDARIES`: which dimension of the weight becomes the output's last dimension), so
  a column-parallel `linear` stays split on its features and a row-parallel one is
  all-reduced to replicated features. Batch dimensions keep the data axes.

The lowering turns each annotation into `jax.lax.with_sharding_constraint` on a mesh.

>>> graph = annotate_sharding({"fc.weight": ("model", None)}, {"fc.weight": ("model", None)},
...                           ("data",), 8)(graph)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ember.graphdef import Graph

# op -> the weight's position among the op's inputs and the weight dimension that the
# output's last dimension follows
BOUNDARIES: dict[str, tuple[int, int]] = {
    "linear": (1, 0),  # weight [out, in]: y[..., out]
    "embedding": (1, 1),  # weight [num, dim]: y[..., dim]
}


def annotate_sharding(
    param_specs: Mapping[str, tuple],
    tensor_parallel: Mapping[str, tuple],
    batch_axes: tuple[str, ...],
    batch_ways: int,
) -> Callable[[Graph], Graph]:
    """The pass for one plan (specs by parameter name; see the module docstring)."""
    batch_entry = batch_axes[0] if len(batch_axes) == 1 else (tuple(batch_axes) or None)

    def split_batch(shape: tuple) -> tuple | None:
        if not shape or batch_entry is None or shape[0] % batch_ways:
            return None
        return (batch_entry,) + (None,) * (len(shape) - 1)

    def run(graph: Graph) -> Graph:
        inputs, sharded_params = [], {}
        for gi in graph.inputs:
            spec = None
            if gi.kind == "param" and gi.name in param_specs:
                spec = tuple(param_specs[gi.name])
                if gi.name in tensor_parallel:
                    sharded_params[gi.value] = tuple(tensor_parallel[gi.name])
            elif gi.kind == "data":
                spec = split_batch(gi.value.type.shape)
            inputs.append(gi if spec is None else gi.replace(meta={**gi.meta, "sharding": spec}))
        nodes = []
        for node in graph.nodes:
            spec = _boundary(node, sharded_params, split_batch)
            nodes.append(
                node if spec is None else node.replace(meta={**node.meta, "sharding": spec})
            )
        return graph.replace(inputs=tuple(inputs), nodes=tuple(nodes))

    run.__name__ = "annotate_sharding"
    return run


def _boundary(node, sharded_params: dict, split_batch) -> tuple | None:
    where = BOUNDARIES.get(node.op)
    if where is None or len(node.inputs) <= where[0] or len(node.outputs) != 1:
        return None
    weight_spec = sharded_params.get(node.inputs[where[0]])
    if weight_spec is None:
        return None
    shape = node.outputs[0].type.shape
    if not shape:
        return None
    spec = list(split_batch(shape) or (None,) * len(shape))
    spec[-1] = weight_spec[where[1]]
    if len(shape) == 1:
        spec = [weight_spec[where[1]]]
    return tuple(spec)


__all__ = ["annotate_sharding", "BOUNDARIES"]
