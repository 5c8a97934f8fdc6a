"""`take`, `index_copy`, `index_fill`: flat gathers and per-dim writes, composed from
index_select, scatter and where (out-of-place; `Tensor.index_copy_`/`index_fill_` rebind).

As everywhere in ember, out-of-range indices are not checked at run time (clamped)."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor, emit
from ember.nn.functional.creation import arange
from ember.nn.functional.elementwise import where
from ember.nn.functional.indexing import index_select, wrap_negative
from ember.nn.functional.shape import broadcast_to, reshape

__all__ = ["take", "index_copy", "index_fill"]


def _index(name: str, x: Tensor, index) -> Tensor:
    idx = as_tensor(index, x.builder)
    if not dtypes.is_integer(idx.dtype):
        raise x.builder.error(
            DTypeError(f"{name}: index must be an integer tensor, got {idx.dtype}")
        )
    return idx


@tensor_method()
def take(input, index) -> Tensor:
    """`torch.take`: elements of the flattened input at `index` (negative counts from the
    end); the result has index's shape.

    >>> em.take(em.tensor([[4, 3], [5, 7]]), em.tensor([0, 3, -1]))   # [4, 7, 7]
    """
    x = as_tensor(input)
    idx = _index("take", x, index)
    n = x.numel()
    flat = index_select(reshape(x, (n,)), 0, reshape(wrap_negative(idx, n), (idx.numel(),)))
    return reshape(flat, idx.shape)


def _dim_and_index(name: str, x: Tensor, dim: int, index) -> tuple[int, Tensor]:
    try:
        d = normalize_dim(dim, max(x.ndim, 1))
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"{name}: {e}")) from None
    idx = _index(name, x, index)
    if idx.ndim > 1:
        raise x.builder.error(
            ShapeError(f"{name}: index must be 0-D or 1-D, got shape {idx.shape}")
        )
    return d, reshape(wrap_negative(idx, x.shape[d] if x.ndim else 1), (idx.numel(),))


@tensor_method()
def index_copy(input, dim: int, index, source) -> Tensor:
    """`torch.index_copy`: `out.select(dim, index[i]) = source.select(dim, i)`.

    With repeated indices one of the writes wins (PyTorch leaves it undefined too).
    """
    x = as_tensor(input)
    d, idx = _dim_and_index("index_copy", x, dim, index)
    src = as_tensor(source, x.builder)
    if src.dtype != x.dtype:
        raise x.builder.error(
            DTypeError(
                f"index_copy: source dtype {src.dtype} differs from input dtype {x.dtype}; "
                "fix: cast with .to(input.dtype)"
            )
        )
    if x.ndim == 0:
        return reshape(src, ()) if src.numel() == 1 and idx.numel() == 1 else x
    want = x.shape[:d] + (idx.numel(),) + x.shape[d + 1 :]
    if tuple(src.shape) != want:
        raise x.builder.error(
            ShapeError(
                f"index_copy: source {src.shape} must be {want}: input {x.shape} with dim {d} "
                f"of index's length {idx.numel()}"
            )
        )
    along = reshape(idx, tuple(idx.numel() if k == d else 1 for k in range(x.ndim)))
    return emit(
        "scatter", [x, broadcast_to(along, want), src], dim=d, reduce="none", include_self=True
    )


@tensor_method()
def index_fill(input, dim: int, index, value) -> Tensor:
    """`torch.index_fill`: the slices `index` along `dim` set to `value` (a number or a
    0-d tensor, differentiable).

    >>> em.zeros(2, 3).index_fill(1, em.tensor([0, 2]), -1.0)   # columns 0 and 2 = -1
    """
    x = as_tensor(input)
    d, idx = _dim_and_index("index_fill", x, dim, index)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise x.builder.error(
            ShapeError(f"index_fill: value must be a number or a 0-d tensor, got {value.shape}")
        )
    v = as_tensor(value, x.builder, dtype=x.dtype).to(x.dtype)
    if x.ndim == 0:
        return v if idx.numel() else x
    positions = arange(x.shape[d])
    hit = (reshape(positions, (x.shape[d], 1)) == reshape(idx, (1, idx.numel()))).any(1)
    mask = reshape(hit, tuple(x.shape[d] if k == d else 1 for k in range(x.ndim)))
    return where(mask, v, x)
