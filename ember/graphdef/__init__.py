"""ember's IR core: types, values, nodes, graphs, the op registry, verify, text and JSON.

Backend-free: nothing here imports JAX (a test imports it with JAX blocked).
"""

from ember.graphdef import ops  # noqa: F401  (fills the op registry)
from ember.graphdef.ir import Graph, GraphInput, Node, Source, Value  # noqa: F401
from ember.graphdef.registry import OpDef, all_ops, get_op, register_op  # noqa: F401
from ember.graphdef.types import TensorSpec, TensorType  # noqa: F401
from ember.graphdef.verify import verify  # noqa: F401
