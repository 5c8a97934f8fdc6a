"""`cross` (3-vector cross product along a dim) and `kron` (Kronecker product)."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import broadcast_shapes, normalize_dim
from ember.nn.functional._core import promote_pair
from ember.nn.functional.shape import broadcast_to, cat, narrow, reshape

__all__ = ["cross", "kron"]


@tensor_method()
def cross(input, other, dim: int | None = None) -> Tensor:
    """`torch.cross`: the cross product of 3-vectors along `dim` (inputs broadcast).

    Without `dim`, the first dimension of size 3 is used (PyTorch's deprecated
    default; `em.linalg.cross` defaults to the last dimension).

    >>> em.cross(a, b, dim=-1)             # a, b of shape (N, 3) -> (N, 3)
    """
    a, b = promote_pair(input, other)
    if a.ndim != b.ndim:
        raise a.builder.error(
            ShapeError(
                f"cross: inputs must have the same number of dimensions, got {a.shape} and "
                f"{b.shape}; fix: unsqueeze the smaller one (broadcasting then applies)"
            )
        )
    try:
        shape = broadcast_shapes(a.shape, b.shape)
    except ShapeError as e:
        raise a.builder.error(ShapeError(f"cross: {e}")) from None
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise a.builder.error(
                ShapeError(
                    f"cross: no dimension of size 3 in the broadcast shape {shape} of the "
                    f"inputs {a.shape} and {b.shape}; fix: give 3-vectors and pass dim="
                )
            )
    try:
        d = normalize_dim(dim, len(shape))
    except ShapeError as e:
        raise a.builder.error(ShapeError(f"cross: {e}")) from None
    if shape[d] != 3:
        raise a.builder.error(
            ShapeError(
                f"cross: dimension {dim} of the inputs {a.shape} and {b.shape} has size "
                f"{shape[d]}, but the cross product needs 3-vectors; fix: pass the dim of size 3"
            )
        )
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    a0, a1, a2 = (narrow(a, d, i, 1) for i in range(3))
    b0, b1, b2 = (narrow(b, d, i, 1) for i in range(3))
    return cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


@tensor_method()
def kron(input, other) -> Tensor:
    """`torch.kron`: the Kronecker product; the shorter shape is padded with leading 1s.

    >>> em.kron(em.eye(2), block)          # block-diagonal (2*m, 2*n) from an (m, n) block
    """
    a, b = promote_pair(input, other)
    ndim = max(a.ndim, b.ndim)
    a_shape = (1,) * (ndim - a.ndim) + a.shape
    b_shape = (1,) * (ndim - b.ndim) + b.shape
    # out[i*B + j] = a[i] * b[j] per dim: interleave (a_k, 1) with (1, b_k) and merge the pairs
    spread_a = reshape(a, tuple(v for s in a_shape for v in (s, 1)))
    spread_b = reshape(b, tuple(v for s in b_shape for v in (1, s)))
    return reshape(spread_a * spread_b, tuple(x * y for x, y in zip(a_shape, b_shape, strict=True)))
