"""matmul, mm, bmm, linear, einsum, outer, addmm, baddbmm."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.nn.functional._core import active_builder, as_tensor, emit, promote_pair


@tensor_method()
def matmul(input, other):
    a, b = promote_pair(input, other)
    return emit("matmul", [a, b])


Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)


@tensor_method()
def mm(input, mat2):
    a = as_tensor(input)
    if a.ndim != 2 or as_tensor(mat2, a.builder).ndim != 2:
        raise a.builder.error(
            ShapeError(f"mm: expects 2-D tensors, got {a.shape} and {mat2.shape}")
        )
    return matmul(a, mat2)


@tensor_method()
def bmm(input, mat2):
    a = as_tensor(input)
    if a.ndim != 3 or as_tensor(mat2, a.builder).ndim != 3:
        raise a.builder.error(
            ShapeError(f"bmm: expects 3-D tensors, got {a.shape} and {mat2.shape}")
        )
    return matmul(a, mat2)


@tensor_method()
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    prod = matmul(mat1, mat2)
    return (input if beta == 1 else input * beta) + (prod if alpha == 1 else prod * alpha)


@tensor_method()
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return addmm(input, batch1, batch2, beta=beta, alpha=alpha)


def linear(input, weight, bias=None):
    """`y = x @ weight.T + bias` with weight of shape (out_features, in_features)."""
    builder = active_builder(input, weight, bias)
    x, w = promote_pair(input, weight)
    inputs = [x, w] if bias is None else [x, w, as_tensor(bias, builder).to(x.dtype)]
    return emit("linear", inputs)


def einsum(equation: str, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    builder = active_builder(*operands)
    ts = [as_tensor(o, builder) for o in operands]
    eq = equation.replace(" ", "")
    if "->" not in eq:  # implicit output: letters used once, alphabetical
        letters = eq.replace(",", "").replace(".", "")
        lead = "..." if "..." in eq else ""
        eq = eq + "->" + lead + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if "..." in eq:
        eq = _expand_ellipsis(eq, ts)
    from ember.graphdef import dtypes

    dt = ts[0].dtype
    for t in ts[1:]:
        dt = dtypes.promote(dt, t.dtype)
    return emit("einsum", [t.to(dt) for t in ts], equation=eq)


def _expand_ellipsis(eq: str, ts) -> str:
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    width = max(
        t.ndim - (len(term) - 3) for term, t in zip(terms, ts, strict=True) if "..." in term
    )
    fill = "".join(spare[:width])
    new_terms = []
    for term, t in zip(terms, ts, strict=True):
        if "..." in term:
            n = t.ndim - (len(term) - 3)
            term = term.replace("...", fill[width - n :])
        new_terms.append(term)
    return ",".join(new_terms) + "->" + out.replace("...", fill)


@tensor_method()
def outer(input, vec2):
    a, b = promote_pair(input, vec2)
    return a.reshape(a.shape[0], 1) * b.reshape(1, b.shape[0])


ger = outer


def bilinear(input1, input2, weight, bias=None):
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else out + bias
