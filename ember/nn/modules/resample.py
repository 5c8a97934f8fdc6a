"""Upsample (and its 2-D aliases), PixelShuffle, PixelUnshuffle, Fold, Unfold."""

from __future__ import annotations

from ember.nn.functional import fold, interpolate, pixel_shuffle, pixel_unshuffle, unfold
from ember.nn.module import Module
from ember.nn.modules._checks import check_size, check_sizes

__all__ = [
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "PixelShuffle",
    "PixelUnshuffle",
    "Fold",
    "Unfold",
]


class Upsample(Module):
    """Resize (N, C, *spatial) by `scale_factor` or to `size` (see `F.interpolate`).

    >>> up = Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    """

    def __init__(
        self,
        size=None,
        scale_factor=None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ):
        super().__init__()
        check_sizes(type(self).__name__, "size", size, positive=True)
        if scale_factor is not None:
            check_sizes(type(self).__name__, "scale_factor", scale_factor, positive=True)
        self.size = size
        if isinstance(scale_factor, (list, tuple)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour 2-D upsampling.

    >>> up = UpsamplingNearest2d(scale_factor=2)
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear 2-D upsampling with align_corners=True (PyTorch's legacy behaviour).

    >>> up = UpsamplingBilinear2d(size=(16, 16))
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r).

    >>> shuffle = PixelShuffle(3)
    """

    def __init__(self, upscale_factor: int):
        super().__init__()
        check_size("PixelShuffle", "upscale_factor", upscale_factor, positive=True)
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of PixelShuffle.

    >>> unshuffle = PixelUnshuffle(3)
    """

    def __init__(self, downscale_factor: int):
        super().__init__()
        check_size("PixelUnshuffle", "downscale_factor", downscale_factor, positive=True)
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


def _check_blocks(layer: str, kernel_size, dilation, padding, stride) -> None:
    check_sizes(layer, "kernel_size", kernel_size, positive=True)
    check_sizes(layer, "dilation", dilation, positive=True)
    check_sizes(layer, "padding", padding)
    check_sizes(layer, "stride", stride, positive=True)


class Fold(Module):
    """Sum sliding blocks (N, C * prod(kernel_size), L) into (N, C, *output_size).

    >>> fold = Fold(output_size=(4, 5), kernel_size=(2, 2))
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        check_sizes("Fold", "output_size", output_size)
        _check_blocks("Fold", kernel_size, dilation, padding, stride)
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )


class Unfold(Module):
    """Extract sliding blocks (N, C, H, W) -> (N, C * prod(kernel_size), L).

    >>> unfold = Unfold(kernel_size=(2, 3), padding=1)
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        _check_blocks("Unfold", kernel_size, dilation, padding, stride)
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )
