"""Broadcasting and type promotion against PyTorch.

Broadcasting: shapes PyTorch accepts give PyTorch's result shape; shapes it
rejects raise ShapeError naming both shapes. Promotion: every pair of
bool/int32/float32/float16/bfloat16 operands (tensors with dims, 0-d tensors
and Python scalars) gets `torch.result_type`'s dtype. Deliberate deviation:
ember's default integer is int32 (JAX without x64), so where PyTorch answers
int64 (a bool tensor with a Python int) ember answers int32.
"""

import itertools

import numpy as np
import pytest
import torch
from opinfo import check_types_against_jax

import ember as em
from ember.errors import ShapeError
from ember.frontend.trace import trace_function

DTYPES = ("bool", "int32", "float32", "float16", "bfloat16")
TORCH = {
    "bool": torch.bool,
    "int32": torch.int32,
    "int64": torch.int64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
SCALARS = (True, 3, 2.5)


def _trace(fn, *specs):
    graph, _ = trace_function(fn, list(specs), names=[f"a{i}" for i in range(len(specs))])
    check_types_against_jax(graph)  # the lowering agrees with the inferred types
    return [v.type for v in graph.outputs]


def _torch_dtype_name(dtype: torch.dtype) -> str:
    name = str(dtype).replace("torch.", "")
    return "int32" if name == "int64" else name  # ember's default integer


def _torch_tensor(dtype: str, shape) -> torch.Tensor:
    return torch.zeros(shape, dtype=TORCH[dtype])


# ---------------------------------------------------------------------------------------- shapes

ALLOWED = [
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((), (2, 3)),
    ((0,), (1,)),
    ((2, 0, 3), (0, 1)),
    ((5, 1, 1), (1, 1, 7)),
    ((1,), (0, 3, 1)),
]
FORBIDDEN = [
    ((3,), (4,)),
    ((2, 3), (3, 2)),
    ((0,), (2,)),
    ((2, 1, 3), (4, 3, 3)),
    ((5, 4), (4, 3, 1)),
]
BINARY_FNS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: em.mul(a, b),
    "pow": lambda a, b: a**b,
    "maximum": em.maximum,
    "atan2": em.atan2,
    "eq": lambda a, b: a == b,
    "logical_and": em.logical_and,
    "where-branches": lambda a, b: em.where(a > 0, a, b),
    "where-condition": lambda a, b: em.where(b > 0, a, 1.0),
    "lerp": lambda a, b: em.lerp(a, b, 0.5),
    "clamp-bounds": lambda a, b: em.clamp(a, b, b + 1.0),
}


@pytest.mark.parametrize("fn", BINARY_FNS.values(), ids=BINARY_FNS.keys())
@pytest.mark.parametrize("shapes", ALLOWED, ids=str)
def test_allowed_broadcasts_give_torch_shapes(fn, shapes):
    (out,) = _trace(fn, em.TensorSpec(shapes[0]), em.TensorSpec(shapes[1]))
    assert out.shape == tuple(torch.broadcast_shapes(*shapes))


@pytest.mark.parametrize("fn", BINARY_FNS.values(), ids=BINARY_FNS.keys())
@pytest.mark.parametrize("shapes", FORBIDDEN, ids=str)
def test_forbidden_broadcasts_raise_naming_both_shapes(fn, shapes):
    with pytest.raises(RuntimeError):
        torch.broadcast_shapes(*shapes)
    a, b = shapes
    with pytest.raises(ShapeError) as info:
        _trace(fn, em.TensorSpec(a), em.TensorSpec(b))
    msg = str(info.value)
    assert str(tuple(a)) in msg and str(tuple(b)) in msg, msg


def test_broadcast_error_says_how_to_fix_and_where():
    with pytest.raises(
        ShapeError, match=r"fix: reshape or unsqueeze[\s\S]*test_broadcasting.py:\d+"
    ):
        _trace(lambda a, b: a + b, em.TensorSpec((3,)), em.TensorSpec((4,)))


@pytest.mark.parametrize(
    "what, fn, specs",
    [
        (
            "masked_fill mask larger than input",
            lambda a, m: a.masked_fill(m, 0.0),
            [em.TensorSpec((3,)), em.TensorSpec((2, 3), "bool")],
        ),
        ("expand to a smaller dim", lambda a: a.expand(2, 2), [em.TensorSpec((3,))]),
        ("expand with too few sizes", lambda a: a.expand(3), [em.TensorSpec((2, 3))]),
        (
            "index tensors that do not broadcast",
            lambda a, i, j: a[i, j],
            [em.TensorSpec((4, 4)), em.TensorSpec((2,), "int32"), em.TensorSpec((3,), "int32")],
        ),
        (
            "index_put values that do not fit",
            lambda a, i, v: a.index_put((i,), v),
            [em.TensorSpec((4, 3)), em.TensorSpec((2,), "int32"), em.TensorSpec((2, 2))],
        ),
    ],
)
def test_one_sided_broadcasts_torch_rejects_are_rejected(what, fn, specs):
    with pytest.raises(ShapeError):
        _trace(fn, *specs)


# ------------------------------------------------------------------------------------- promotion


@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)))
@pytest.mark.parametrize(
    "ranks", [(1, 1), (1, 0), (0, 1), (0, 0)], ids=["dims", "dims-0d", "0d-dims", "0d-0d"]
)
def test_tensor_tensor_promotion_matches_torch(a, b, ranks):
    shape_a, shape_b = (2,) * ranks[0], (2,) * ranks[1]
    want = _torch_dtype_name(
        torch.result_type(_torch_tensor(a, shape_a), _torch_tensor(b, shape_b))
    )
    (got,) = _trace(
        lambda x, y: em.where(x == x, x, y), em.TensorSpec(shape_a, a), em.TensorSpec(shape_b, b)
    )
    assert got.dtype == want
    if "bool" not in (a, b):
        (got,) = _trace(lambda x, y: x + y, em.TensorSpec(shape_a, a), em.TensorSpec(shape_b, b))
        assert got.dtype == want


@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("scalar", SCALARS, ids=["bool", "int", "float"])
@pytest.mark.parametrize("rank", [1, 0])
def test_tensor_scalar_promotion_matches_torch(a, scalar, rank):
    shape = (2,) * rank
    want = _torch_dtype_name(torch.result_type(_torch_tensor(a, shape), scalar))
    (got,) = _trace(lambda x: em.where(x == x, x, scalar), em.TensorSpec(shape, a))
    assert got.dtype == want
    (got_left,) = _trace(lambda x: em.maximum(scalar, x), em.TensorSpec(shape, a))
    assert got_left.dtype == want


def test_bool_tensor_plus_python_int_is_int32_where_torch_says_int64():
    assert torch.result_type(torch.zeros(2, dtype=torch.bool), 1) == torch.int64
    (got,) = _trace(lambda x: x + 1, em.TensorSpec((2,), "bool"))
    assert got.dtype == "int32"


@pytest.mark.parametrize(
    "a, b", [("int32", "int32"), ("bool", "int32"), ("int32", "float16"), ("float16", "bfloat16")]
)
def test_result_dtypes_of_other_op_kinds(a, b):
    specs = em.TensorSpec((2,), a), em.TensorSpec((2,), b)
    ta, tb = _torch_tensor(a, (2,)) + 1, _torch_tensor(b, (2,)) + 1
    cases = {
        "div": (lambda x, y: x / y, torch.div),
        "eq": (lambda x, y: x == y, torch.eq),
        "cat": (lambda x, y: em.cat([x, y]), lambda x, y: torch.cat([x, y])),
        "clamp": (lambda x, y: em.clamp(x, y, y), lambda x, y: torch.clamp(x, y, y)),
    }
    for name, (efn, tfn) in cases.items():
        (got,) = _trace(efn, *specs)
        assert got.dtype == _torch_dtype_name(tfn(ta, tb).dtype), name


def test_numpy_scalars_are_weak_like_python_scalars():
    (got,) = _trace(lambda x: x * np.int64(3), em.TensorSpec((2,), "float16"))
    assert got.dtype == "float16"
    (got,) = _trace(lambda x: x + np.float32(0.5), em.TensorSpec((2,), "int32"))
    assert got.dtype == "float32"


def test_promoted_values_match_torch():
    a = np.arange(-3, 3, dtype=np.int32)
    b = np.linspace(-1, 1, 6, dtype=np.float32).astype(np.float16)

    class Net(em.Module):
        def forward(self, x, y):
            return x * y + 0.5, (x > 0) + x, x / 4, x.sum() * y

    got = Net()(a, b)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    want = (ta * tb + 0.5, (ta > 0) + ta, ta / 4, ta.sum().int() * tb)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.dtype(_torch_dtype_name(w.dtype))
        np.testing.assert_allclose(np.asarray(g).astype(np.float32), w.float().numpy(), rtol=1e-3)
