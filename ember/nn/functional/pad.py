"""`F.pad` with PyTorch's argument order: (left, right) pairs starting from the last dim."""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.shape import PAD_MODES
from ember.nn.functional._core import as_tensor, emit

__all__ = ["pad"]


def pad(input, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """`torch.nn.functional.pad`: `pad=(left, right, top, bottom, ...)` pads the last dims.

    Modes: 'constant' (with `value`, negative sizes crop), 'reflect',
    'replicate', 'circular'; the non-constant modes pad the last 1-3 dims of a
    batched or unbatched input, as in PyTorch.

    >>> F.pad(x, (1, 1, 2, 0))          # last dim +1 each side, 2nd-to-last +2 before
    """
    x = as_tensor(input)
    pads = tuple(int(p) for p in pad)
    if len(pads) % 2:
        raise x.builder.error(
            ShapeError(f"pad: the padding length must be divisible by 2, got {pads}")
        )
    k = len(pads) // 2
    if k > x.ndim:
        raise x.builder.error(
            ShapeError(
                f"pad: padding {pads} covers {k} dims but the input {x.shape} has only {x.ndim}"
            )
        )
    if mode not in PAD_MODES:
        raise x.builder.error(ShapeError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}"))
    if mode != "constant" and (k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2)):
        raise x.builder.error(
            ShapeError(
                f"pad: {mode} padding of {k} dims needs a {k + 1}-D or {k + 2}-D input "
                f"(unbatched or batched), got shape {x.shape}"
            )
        )
    if mode != "constant" and value not in (None, 0, 0.0):
        raise x.builder.error(ShapeError(f"pad: value={value} is only used in constant mode"))
    per_dim = [(0, 0)] * (x.ndim - k) + [(pads[2 * i], pads[2 * i + 1]) for i in reversed(range(k))]
    flat = tuple(p for lo_hi in per_dim for p in lo_hi)
    if not any(flat):
        return x
    return emit("pad", [x], pads=flat, mode=mode, value=float(0.0 if value is None else value))
