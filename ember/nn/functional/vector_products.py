"""BLAS-style products: `dot`, `vdot`, `inner`, `mv`, `addmv`, `addr`, `addbmm`,
`chain_matmul`; each one matmul or tensordot with PyTorch's shape checks."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn.functional._core import active_builder, as_tensor, promote_pair
from ember.nn.functional.linalg import matmul, outer
from ember.nn.functional.shape import broadcast_to
from ember.nn.functional.tensordot import tensordot

__all__ = ["dot", "vdot", "inner", "mv", "addmv", "addr", "addbmm", "chain_matmul"]


def _operands(name: str, a, b, ndims: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Two tensors of the given ranks and one dtype (PyTorch does not promote here)."""
    builder = active_builder(a, b)
    x, y = as_tensor(a, builder), as_tensor(b, builder)
    if (x.ndim, y.ndim) != ndims:
        raise builder.error(
            ShapeError(
                f"{name}: expects {ndims[0]}-D and {ndims[1]}-D tensors, got shapes {x.shape} "
                f"and {y.shape}"
            )
        )
    if x.dtype != y.dtype:
        raise builder.error(
            DTypeError(
                f"{name}: expects both tensors to have the same dtype, got {x.dtype} and "
                f"{y.dtype}; fix: cast one with .to(other.dtype)"
            )
        )
    return x, y


@tensor_method()
def dot(input, tensor) -> Tensor:
    """`torch.dot`: the inner product of two 1-D tensors of one size and dtype (0-d).

    >>> em.dot(em.tensor([2, 3]), em.tensor([2, 1]))     # 7
    """
    x, y = _operands("dot", input, tensor, (1, 1))
    if x.shape != y.shape:
        raise x.builder.error(
            ShapeError(f"dot: the vectors have different sizes {x.shape[0]} and {y.shape[0]}")
        )
    return matmul(x, y)


@tensor_method()
def vdot(input, other) -> Tensor:
    """`torch.vdot`: `dot` with the first vector conjugated (the same for real tensors)."""
    return dot(input, other)


@tensor_method()
def inner(input, other) -> Tensor:
    """`torch.inner`: sums products over the last dims (one dtype); a 0-d operand
    multiplies.

    >>> em.inner(em.ones(2, 3), em.ones(4, 3)).shape     # (2, 4)
    """
    builder = active_builder(input, other)
    a, b = as_tensor(input, builder), as_tensor(other, builder)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.dtype != b.dtype:
        raise builder.error(
            DTypeError(f"inner: both inputs must have the same dtype, got {a.dtype} and {b.dtype}")
        )
    if a.shape[-1] != b.shape[-1]:
        raise a.builder.error(
            ShapeError(f"inner: the last dims must match, got shapes {a.shape} and {b.shape}")
        )
    return tensordot(a, b, dims=([a.ndim - 1], [b.ndim - 1]))


@tensor_method()
def mv(input, vec) -> Tensor:
    """`torch.mv`: matrix (n, m) times vector (m,) -> (n,).

    >>> em.mv(A, v)
    """
    a, v = _operands("mv", input, vec, (2, 1))
    if a.shape[1] != v.shape[0]:
        raise a.builder.error(
            ShapeError(f"mv: size mismatch, matrix {a.shape} and vector {v.shape}")
        )
    return matmul(a, v)


def _scaled_sum(input, product: Tensor, beta, alpha) -> Tensor:
    """beta * input + alpha * product; beta=0 ignores input (NaN/inf there do not spread)."""
    scaled = product if alpha == 1 else product * alpha
    x = as_tensor(input, product.builder)
    if beta == 0:
        shape = broadcast_shapes(x.shape, scaled.shape)
        return broadcast_to(scaled.to(promote_pair(x, scaled)[0].dtype), shape)
    return (x if beta == 1 else x * beta) + scaled


@tensor_method()
def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:
    """`torch.addmv`: `beta * input + alpha * (mat @ vec)`; beta=0 ignores input. The
    three tensors must share one dtype, as in PyTorch."""
    product = mv(mat, vec)
    x = as_tensor(input, product.builder)
    if x.dtype != product.dtype:
        raise x.builder.error(
            DTypeError(f"addmv: input ({x.dtype}) and mat/vec ({product.dtype}) must share a dtype")
        )
    return _scaled_sum(x, product, beta, alpha)


@tensor_method()
def addr(input, vec1, vec2, *, beta=1, alpha=1) -> Tensor:
    """`torch.addr`: `beta * input + alpha * outer(vec1, vec2)`; beta=0 ignores input."""
    builder = active_builder(vec1, vec2)
    v1, v2 = as_tensor(vec1, builder), as_tensor(vec2, builder)
    if v1.ndim != 1 or v2.ndim != 1:
        raise builder.error(
            ShapeError(f"addr: expects two 1-D vectors, got shapes {v1.shape} and {v2.shape}")
        )
    return _scaled_sum(input, outer(v1, v2), beta, alpha)


@tensor_method()
def addbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """`torch.addbmm`: `beta * input + alpha * sum_b batch1[b] @ batch2[b]`.

    >>> em.addbmm(M, b1, b2)                # b1 (B, n, m), b2 (B, m, p), M (n, p)
    """
    x, y = _operands("addbmm", batch1, batch2, (3, 3))
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[1]:
        raise x.builder.error(
            ShapeError(f"addbmm: batch1 {x.shape} and batch2 {y.shape} cannot be multiplied")
        )
    return _scaled_sum(input, tensordot(x, y, dims=([0, 2], [0, 1])), beta, alpha)


def chain_matmul(*matrices) -> Tensor:
    """`torch.chain_matmul` (deprecated there for `torch.linalg.multi_dot`): the product
    of 2-D matrices, left to right; one matrix comes back as it is."""
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    builder = active_builder(*matrices)
    if not matrices:
        raise builder.error(ShapeError("chain_matmul: expects one or more matrices"))
    ms = [as_tensor(m, builder) for m in matrices]
    for m in ms:
        if m.ndim != 2:
            raise builder.error(
                ShapeError(f"chain_matmul: expects 2-D matrices, got one of shape {m.shape}")
            )
    out = ms[0]
    for m in ms[1:]:
        if out.shape[1] != m.shape[0]:
            raise builder.error(
                ShapeError(f"chain_matmul: shapes {out.shape} and {m.shape} cannot be multiplied")
            )
        out = matmul(out, m)
    return out
