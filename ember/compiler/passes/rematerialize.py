"""Rematerialisation: module regions whose activations the backward pass recomputes.

`em.compile(..., remat={"transformer.h.*": "dots_saveable"})` maps module-path
patterns (fnmatch, matched against each node's module path and its prefixes; the
shortest matching prefix names the region) to JAX checkpoint policies. Each
contiguous run of nodes of one matching module instance (`transformer.h.0`,
`transformer.h.1`, ...) becomes one `remat` node whose body is that run; it
lowers to `jax.checkpoint(body, policy=...)`, so the backward pass keeps only
what the policy saves (for `dots_saveable`: matmul results) and recomputes the
rest. Runs after scan over layers and enters control-flow bodies, so a scanned run's
body (its first block) becomes the region: the layout large-model trainers use.

>>> graph = rematerialize({"blocks.*": "nothing_saveable"})(graph)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

from ember.graphdef import Graph
from ember.graphdef.ir import Source
from ember.graphdef.ops.control_flow import REMAT_POLICIES
from ember.graphdef.rewriter import Rewriter

from .rewrite import body_input, region_body


def check_policies(policies: Mapping[str, str]) -> dict[str, str]:
    """`policies` as a dict, or ValueError naming the bad entry and the choices."""
    if not isinstance(policies, Mapping):
        raise ValueError(
            f"remat takes a dict of module-path patterns to policies, e.g. "
            f'{{"blocks.*": "dots_saveable"}}, got {type(policies).__name__}'
        )
    for pattern, policy in policies.items():
        if not isinstance(pattern, str) or policy not in REMAT_POLICIES:
            raise ValueError(
                f"remat[{pattern!r}] = {policy!r}: the policy must be one of {REMAT_POLICIES} "
                "(jax.checkpoint_policies)"
            )
    return dict(policies)


def _region(module_path: str, policies: dict[str, str]) -> tuple[str, str] | None:
    parts = module_path.split(".") if module_path else []
    for k in range(1, len(parts) + 1):
        prefix = ".".join(parts[:k])
        for pattern, policy in policies.items():
            if fnmatchcase(prefix, pattern):
                return prefix, policy
    return None


def _regions(graph: Graph, policies: dict[str, str]) -> list[tuple[str, str, list[int]]]:
    out: list[tuple[str, str, list[int]]] = []
    for i, node in enumerate(graph.nodes):
        region = _region(node.source.module_path, policies)
        if region is None:
            continue
        if out and out[-1][:2] == region and out[-1][2][-1] == i - 1:
            out[-1][2].append(i)
        else:
            out.append((*region, [i]))
    return out


def _mentions(graph: Graph, policies: dict[str, str]) -> bool:
    return any(
        _region(n.source.module_path, policies) or any(_mentions(g, policies) for g in n.subgraphs)
        for n in graph.nodes
    )


class _Remat(Rewriter):
    def __init__(self, graph: Graph, policies: dict[str, str]):
        super().__init__(graph)
        self.policies = policies
        regions = _regions(graph, policies)
        self.region_at = {
            members[0]: (prefix, policy, members) for prefix, policy, members in regions
        }
        self.inside = {i for _, _, members in regions for i in members}
        self.position = {node: i for i, node in enumerate(graph.nodes)}
        self.last_use: dict = {}
        for i, node in enumerate(graph.nodes):
            for v in node.inputs:
                self.last_use[v] = i
        for v in (*graph.outputs, *(v for _, v in graph.updates)):
            self.last_use[v] = len(graph.nodes)

    def visit(self, node, inputs):
        i = self.position[node]
        if i in self.region_at:
            self._replace(*self.region_at[i])
        if i in self.inside:  # replaced: later uses were rewired by _replace
            return node.outputs
        if node.subgraphs:  # regions inside bodies (a scan over layers' body is one block)
            bodies = tuple(_Remat(g, self.policies).run() for g in node.subgraphs)
            return self.emit(
                node.op, inputs, node.attrs, subgraphs=bodies, source=node.source, meta=node.meta
            )
        return super().visit(node, inputs)

    def _replace(self, prefix: str, policy: str, members: list[int]) -> None:
        nodes = [self.graph.nodes[i] for i in members]
        defined = {v for n in nodes for v in n.outputs}
        externals: list = []
        for n in nodes:
            externals += [v for v in n.inputs if v not in defined and v not in externals]
        results = [v for n in nodes for v in n.outputs if self.last_use.get(v, -1) > members[-1]]
        inputs = [(v, body_input(self.graph, v, f"input{j}")) for j, v in enumerate(externals)]
        body = region_body(nodes, inputs, results, prefix)
        first = nodes[0].source
        outs = self.emit(
            "remat",
            [self.lookup(v) for v in externals],
            {"policy": policy},
            subgraphs=(body,),
            source=Source(prefix, first.file, first.line),
        )
        self.env.update(zip(results, outs, strict=True))


def rematerialize(policies: Mapping[str, str]) -> Callable[[Graph], Graph]:
    """The pass for `policies` (module-path pattern -> checkpoint policy name)."""
    policies = check_policies(policies)

    def rematerialize(graph: Graph) -> Graph:
        if not _mentions(graph, policies):
            return graph
        return _Remat(graph, policies).run()

    return rematerialize
