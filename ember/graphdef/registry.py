"""The op registry: every op is data (`OpDef`), looked up by name.

Each stage keeps its own rule table keyed by op name (type inference here,
lowering in `ember.compiler.lowering`, ...). A test checks that every table
covers every registered op, so adding an op is one local change per stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ember.errors import UnsupportedOpError
from ember.graphdef.types import TensorType

# attr kinds: how an attr value is checked and (de)serialized
ATTR_KINDS = (
    "int",
    "float",
    "bool",
    "str",
    "ints",
    "floats",
    "dtype",
    "any",
    "int?",
    "ints?",
    "float?",
)

InferRule = Callable[..., Sequence[TensorType]]


@dataclass(frozen=True)
class OpDef:
    """One op: its name, attr schema, type-inference rule and properties.

    `infer(input_types, **attrs)` returns the output types or raises
    `ShapeError`/`DTypeError` with a message that names the shapes.
    `num_inputs` is an exact count, or a (min, max) range (max None = any).
    """

    name: str
    infer: InferRule
    attrs: dict[str, str] = field(default_factory=dict)
    num_inputs: int | tuple[int, int | None] = 1
    differentiable: bool = True
    stochastic: bool = False  # reads the RNG key (dropout, ...)
    pure: bool = True  # False: must not be removed or merged (none so far)
    doc: str = ""

    def check_arity(self, n: int) -> bool:
        if isinstance(self.num_inputs, int):
            return n == self.num_inputs
        lo, hi = self.num_inputs
        return n >= lo and (hi is None or n <= hi)


_REGISTRY: dict[str, OpDef] = {}


def register_op(
    name: str,
    infer: InferRule,
    *,
    attrs: dict[str, str] | None = None,
    num_inputs: int | tuple[int, int | None] = 1,
    **props: Any,
) -> OpDef:
    """Register an op (module import time). Re-registering a name is an error."""
    if name in _REGISTRY:
        raise ValueError(f"op {name!r} is already registered")
    for key, kind in (attrs or {}).items():
        if kind not in ATTR_KINDS:
            raise ValueError(f"op {name!r}: attr {key!r} has unknown kind {kind!r}")
    opdef = OpDef(name=name, infer=infer, attrs=dict(attrs or {}), num_inputs=num_inputs, **props)
    _REGISTRY[name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnsupportedOpError(
            f"unknown op {name!r}: it is not in ember's op registry "
            f"({len(_REGISTRY)} ops are registered; see ember.graphdef.all_ops())"
        ) from None


def all_ops() -> dict[str, OpDef]:
    """A copy of the registry: op name -> OpDef."""
    return dict(_REGISTRY)


def check_attr(kind: str, value: Any) -> bool:
    """Does `value` match the attr kind? (used by verify and the builder)."""
    if kind == "any":
        return _json_like(value)
    if kind.endswith("?"):
        return value is None or check_attr(kind[:-1], value)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("str", "dtype"):
        return isinstance(value, str)
    if kind == "ints":
        return isinstance(value, tuple) and all(check_attr("int", v) for v in value)
    if kind == "floats":
        return isinstance(value, tuple) and all(check_attr("float", v) for v in value)
    return False


def _json_like(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, tuple):
        return all(_json_like(v) for v in value)
    return False
