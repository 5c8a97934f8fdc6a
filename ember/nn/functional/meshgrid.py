"""`meshgrid`: coordinate grids from 1-D tensors, in matrix ('ij') or Cartesian ('xy') order."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError, UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import active_builder, as_tensor
from ember.nn.functional.shape import broadcast_to, reshape

__all__ = ["meshgrid"]


def meshgrid(*tensors, indexing: str = "ij") -> tuple[Tensor, ...]:
    """`torch.meshgrid`: N grids of shape (len(t0), len(t1), ...) from N 1-D tensors.

    `indexing='xy'` swaps the first two grid dims (NumPy's default). 0-d inputs count as
    one element. PyTorch's default is 'ij' (it warns when not given; ember does not).

    >>> ys, xs = em.meshgrid(em.arange(4), em.arange(6), indexing="ij")   # both (4, 6)
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    builder = active_builder(*tensors)
    if not tensors:
        raise builder.error(ShapeError("meshgrid: expects at least one tensor, got none"))
    if indexing not in ("ij", "xy"):
        raise builder.error(
            UnsupportedOpError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
        )
    ts = [as_tensor(t, builder) for t in tensors]
    if any(t.ndim > 1 for t in ts):
        shapes = [t.shape for t in ts]
        raise builder.error(
            ShapeError(
                f"meshgrid: expects 0-D or 1-D tensors, got shapes {shapes}; "
                "fix: flatten each input (t.flatten())"
            )
        )
    if len({t.dtype for t in ts}) > 1:
        raise builder.error(
            DTypeError(
                f"meshgrid: expects all tensors to have the same dtype, got "
                f"{[str(t.dtype) for t in ts]}; fix: cast them with .to(dtype)"
            )
        )
    sizes = [t.numel() for t in ts]
    axes = list(range(len(ts)))
    if indexing == "xy" and len(ts) > 1:  # the first two inputs vary along dims 1 and 0
        axes[0], axes[1] = 1, 0
    shape = [0] * len(ts)
    for axis, size in zip(axes, sizes, strict=True):
        shape[axis] = size
    grids = []
    for t, axis, size in zip(ts, axes, sizes, strict=True):
        along = tuple(size if i == axis else 1 for i in range(len(ts)))
        grids.append(broadcast_to(reshape(t, along), tuple(shape)))
    return tuple(grids)
