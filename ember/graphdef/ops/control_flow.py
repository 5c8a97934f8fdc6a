"""Structured control flow: cond, scan, fori_loop, while_loop, and remat regions.

Each op carries its bodies as self-contained sub-graphs (`Node.subgraphs`):
every value a body reads is one of its inputs, and the node passes the
matching operands (carried values, sliced sequences, then closed-over
tensors). Type inference checks the bodies' signatures against the operands,
so a body that changes a carried value's type is reported with both types.
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ir import Graph
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

_INDEX = TensorType((), "int32")
_PRED = TensorType((), "bool")


def _show(types: Sequence[TensorType]) -> str:
    return "(" + ", ".join(map(str, types)) + ")"


def _bodies(op: str, subgraphs: Sequence[Graph], names: tuple[str, ...]) -> tuple[Graph, ...]:
    if len(subgraphs) != len(names):
        raise ShapeError(
            f"{op}: expects {len(names)} sub-graph(s) ({', '.join(names)}), got {len(subgraphs)}"
        )
    return tuple(subgraphs)


def _input_types(graph: Graph) -> list[TensorType]:
    return [gi.value.type for gi in graph.inputs]


def _output_types(graph: Graph) -> list[TensorType]:
    return [v.type for v in graph.outputs]


def _check_inputs(op: str, body: str, graph: Graph, want: Sequence[TensorType]) -> None:
    got = _input_types(graph)
    if got != list(want):
        raise ShapeError(
            f"{op}: the {body} takes inputs {_show(got)} but the node passes "
            f"{_show(want)}; the sub-graph does not fit its operands"
        )


def check_carry(op: str, given: Sequence[TensorType], returned: Sequence[TensorType]) -> None:
    """The body must return each carried value with the type it received."""
    if len(given) != len(returned):
        raise ShapeError(
            f"{op}: the loop carries {len(given)} value(s) {_show(given)} but the "
            f"body returns {len(returned)} {_show(returned)}; fix: return the carry "
            "with the same structure as the initial value"
        )
    for k, (a, b) in enumerate(zip(given, returned, strict=True)):
        if a.shape != b.shape:
            raise ShapeError(
                f"{op}: carried value {k} enters the body as {a} but the body "
                f"returns {b}; fix: keep every carried value's shape fixed "
                "(the initial value and the body's result must have the same type)"
            )
        if a.dtype != b.dtype:
            raise DTypeError(
                f"{op}: carried value {k} enters the body as {a} but the body "
                f"returns {b}; fix: cast the result with .to('{a.dtype}') or "
                f"start from an initial value of dtype {b.dtype}"
            )


def _cond(types, *, subgraphs=()):
    true_g, false_g = _bodies("cond", subgraphs, ("true_fn", "false_fn"))
    if not types or types[0] != _PRED:
        got = types[0] if types else "nothing"
        raise ShapeError(
            f"cond: the predicate must be a 0-d bool tensor, got {got}; fix: reduce "
            "it to one value (pred.any(), pred.all(), x.sum() > 0)"
        )
    _check_inputs("cond", "true_fn", true_g, types[1:])
    _check_inputs("cond", "false_fn", false_g, types[1:])
    t, f = _output_types(true_g), _output_types(false_g)
    if t != f:
        raise ShapeError(
            f"cond: the branches return different types: true_fn gives {_show(t)} "
            f"but false_fn gives {_show(f)}; fix: make both branches return "
            "tensors of the same shapes and dtypes"
        )
    return t


def _scan(types, *, num_carry, num_xs, length, reverse, subgraphs=()):
    (body,) = _bodies("scan", subgraphs, ("body",))
    if num_carry < 0 or num_xs < 0 or num_carry + num_xs > len(types):
        raise ShapeError(
            f"scan: num_carry={num_carry} and num_xs={num_xs} do not fit {len(types)} operands"
        )
    carry = types[:num_carry]
    xs = types[num_carry : num_carry + num_xs]
    consts = types[num_carry + num_xs :]
    for k, x in enumerate(xs):
        if x.ndim == 0 or x.shape[0] != length:
            lead = x.shape[0] if x.ndim else "no leading dim"
            raise ShapeError(
                f"scan: sequence input {k} of type {x} has leading dim {lead} but "
                f"the scan has length {length}; fix: give every xs leaf the same "
                "leading (time) dimension"
            )
    slices = [TensorType(x.shape[1:], x.dtype) for x in xs]
    _check_inputs("scan", "body", body, [*carry, *slices, *consts])
    outs = _output_types(body)
    check_carry("scan", carry, outs[:num_carry])
    ys = [TensorType((length, *y.shape), y.dtype) for y in outs[num_carry:]]
    return [*carry, *ys]


def _check_num_carry(op: str, num_carry: int, n: int) -> None:
    if not 0 <= num_carry <= n:
        raise ShapeError(f"{op}: num_carry={num_carry} does not fit {n} operands")


def _fori_loop(types, *, lower, upper, num_carry, subgraphs=()):
    (body,) = _bodies("fori_loop", subgraphs, ("body",))
    _check_num_carry("fori_loop", num_carry, len(types))
    carry = types[:num_carry]
    _check_inputs("fori_loop", "body", body, [_INDEX, *types])
    check_carry("fori_loop", carry, _output_types(body))
    return list(carry)


def _while_loop(types, *, num_carry, subgraphs=()):
    cond_g, body = _bodies("while_loop", subgraphs, ("cond_fun", "body_fun"))
    _check_num_carry("while_loop", num_carry, len(types))
    carry = types[:num_carry]
    _check_inputs("while_loop", "cond_fun", cond_g, types)
    _check_inputs("while_loop", "body_fun", body, types)
    pred = _output_types(cond_g)
    if pred != [_PRED]:
        raise ShapeError(
            f"while_loop: cond_fun must return one 0-d bool tensor, got "
            f"{_show(pred)}; fix: reduce the condition to one value (x.any())"
        )
    check_carry("while_loop", carry, _output_types(body))
    return list(carry)


# JAX checkpoint policies by name (jax.checkpoint_policies): what the backward pass may
# keep from the forward; everything else in a remat region is recomputed.
REMAT_POLICIES = (
    "nothing_saveable",
    "everything_saveable",
    "dots_saveable",
    "dots_with_no_batch_dims_saveable",
    "checkpoint_dots",
    "checkpoint_dots_with_no_batch_dims",
)


def _remat(types, *, policy, subgraphs=()):
    (body,) = _bodies("remat", subgraphs, ("body",))
    if policy not in REMAT_POLICIES:
        raise ShapeError(f"remat: unknown policy {policy!r}; choose one of {REMAT_POLICIES}")
    _check_inputs("remat", "body", body, types)
    return _output_types(body)


register_op(
    "cond",
    _cond,
    num_inputs=(1, None),
    doc="(pred, *operands): run sub-graph 0 (true) or 1 (false) on the operands",
)
register_op(
    "scan",
    _scan,
    num_inputs=(0, None),
    attrs={"num_carry": "int", "num_xs": "int", "length": "int", "reverse": "bool"},
    doc="(*carry, *xs, *consts): body(carry, x, consts) -> (carry, y), stacked ys",
)
register_op(
    "fori_loop",
    _fori_loop,
    num_inputs=(0, None),
    attrs={"lower": "int", "upper": "int", "num_carry": "int"},
    doc="(*carry, *consts): body(i, carry, consts) -> carry for i in [lower, upper)",
)
register_op(
    "while_loop",
    _while_loop,
    num_inputs=(0, None),
    attrs={"num_carry": "int"},
    differentiable=False,  # JAX has no reverse-mode rule for while loops
    doc="(*carry, *consts): while cond_fun(carry): carry = body_fun(carry)",
)
register_op(
    "remat",
    _remat,
    num_inputs=(0, None),
    attrs={"policy": "str"},
    doc="(*operands): body(*operands), its activations recomputed in the backward pass",
)
