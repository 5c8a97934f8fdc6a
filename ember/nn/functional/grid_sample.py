"""`affine_grid` and `grid_sample`: spatial transformer networks' sampling, as in PyTorch.

Both are compositions of existing ops (matmul, floor, gather, where), so values and
gradients with respect to the input and the grid come from their rules.
"""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, to_float

__all__ = ["affine_grid", "grid_sample"]


def _base_coords(size: int, align_corners: bool, like: Tensor) -> Tensor:
    from ember.nn.functional.creation import arange

    steps = arange(size, dtype=like.dtype)
    if size == 1:
        return steps * 0
    if align_corners:
        return steps * (2.0 / (size - 1)) - 1.0
    return (steps * 2.0 + 1.0) / size - 1.0


def affine_grid(theta, size, align_corners: bool = False) -> Tensor:
    """`F.affine_grid(theta, size)`: sampling coordinates in [-1, 1] for `grid_sample`,
    theta (N, 2, 3) for a 4-D size (N, C, H, W), or (N, 3, 4) for a 5-D one.

    >>> grid = F.affine_grid(em.eye(2, 3)[None], (1, 1, 4, 4))   # (1, 4, 4, 2), identity
    """
    from ember.nn.functional.shape import stack

    t = to_float(as_tensor(theta))
    size = tuple(int(s) for s in size)
    spatial = size[2:]
    if len(spatial) not in (2, 3) or t.shape != (size[0], len(spatial), len(spatial) + 1):
        raise t.builder.error(
            ShapeError(
                f"affine_grid: theta {tuple(t.shape)} does not match size {size}; expected "
                "theta (N, 2, 3) with size (N, C, H, W), or (N, 3, 4) with (N, C, D, H, W)"
            )
        )
    axes = [_base_coords(s, align_corners, t) for s in reversed(spatial)]  # x, y[, z]
    grids = []
    for k, coords in enumerate(axes):
        shape = [1] * len(spatial)
        shape[len(spatial) - 1 - k] = spatial[len(spatial) - 1 - k]
        grids.append(coords.reshape(*shape).expand(*spatial))
    grids.append(grids[0] * 0 + 1)
    base = stack(grids, -1).reshape(1, -1, len(spatial) + 1)  # (1, prod(spatial), n+1)
    out = base @ t.transpose(1, 2)  # (N, prod(spatial), n)
    return out.reshape(size[0], *spatial, len(spatial))


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    from ember.nn.functional.elementwise import where

    if twice_low == twice_high:
        return coord * 0
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    x = (coord - low).abs()
    extra = x.fmod(span)
    flips = (x / span).floor()
    return where(flips.fmod(2) == 0, extra + low, span - extra + low)


def _source_coord(coord, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    x = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        x = x.clamp(0, size - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = x.clamp(0, size - 1)
    return x


def grid_sample(
    input,
    grid,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor:
    """`F.grid_sample` for 4-D input (N, C, H, W) and grid (N, Ho, Wo, 2) of (x, y) in
    [-1, 1]: modes "bilinear" and "nearest", padding "zeros", "border", "reflection".

    >>> out = F.grid_sample(images, F.affine_grid(theta, images.size()), align_corners=False)
    """
    from ember.nn.functional.elementwise import where

    x = to_float(as_tensor(input))
    g = as_tensor(grid).to(x.dtype)
    if mode not in ("bilinear", "nearest") or padding_mode not in ("zeros", "border", "reflection"):
        raise x.builder.error(
            ShapeError(
                f"grid_sample: mode={mode!r}, padding_mode={padding_mode!r} is not supported; "
                "ember has modes 'bilinear' and 'nearest' with padding 'zeros', 'border' and "
                "'reflection'"
            )
        )
    if x.ndim != 4 or g.ndim != 4 or g.shape[-1] != 2 or g.shape[0] != x.shape[0]:
        raise x.builder.error(
            ShapeError(
                f"grid_sample: input {tuple(x.shape)} and grid {tuple(g.shape)}; expected input "
                "(N, C, H, W) and grid (N, H_out, W_out, 2) (5-D volumes are not supported)"
            )
        )
    align = bool(align_corners)
    n, c, h, w = x.shape
    ho, wo = g.shape[1], g.shape[2]
    ix = _source_coord(g[..., 0], w, padding_mode, align)
    iy = _source_coord(g[..., 1], h, padding_mode, align)
    flat = x.reshape(n, c, h * w)

    def corner(yy: Tensor, xx: Tensor) -> Tensor:
        """Values at integer (yy, xx) of shape (N, Ho, Wo); 0 outside the input."""
        inside = (xx >= 0) & (xx <= w - 1) & (yy >= 0) & (yy <= h - 1)
        index = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).to("int32")
        index = index.reshape(n, 1, ho * wo).expand(n, c, ho * wo)
        values = flat.gather(2, index).reshape(n, c, ho, wo)
        return where(inside.unsqueeze(1), values, values * 0)

    if mode == "nearest":
        return corner(iy.round(), ix.round())
    x0, y0 = ix.floor(), iy.floor()
    wx, wy = (ix - x0).unsqueeze(1), (iy - y0).unsqueeze(1)
    top = corner(y0, x0) * (1 - wx) + corner(y0, x0 + 1) * wx
    bottom = corner(y0 + 1, x0) * (1 - wx) + corner(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy
