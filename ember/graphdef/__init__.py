"""ember's language and IR. Backend-free: nothing here imports JAX."""

from . import ops  # noqa: F401  (fills the op registry)
from .errors import (  # noqa: F401
    CheckpointError,
    DTypeError,
    EmberError,
    GraphParseError,
    ShapeError,
    StateDictError,
    TraceError,
    UnsupportedOpError,
    VerifyError,
)
from .ir import Graph, GraphInput, Node, Source, Value  # noqa: F401
from .module import Module  # noqa: F401
from .parameter import Parameter, StateStore, initial_seed, manual_seed  # noqa: F401
from .registry import OpDef, all_ops, get_op, register_op  # noqa: F401
from .tensor import Tensor  # noqa: F401
from .trace import trace, trace_function  # noqa: F401
from .types import TensorSpec, TensorType  # noqa: F401
from .verify import verify  # noqa: F401
