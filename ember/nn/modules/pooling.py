"""MaxPool1d/2d/3d, AvgPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.module import Module
from ember.nn.modules._checks import check_sizes

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
]


def _check_window(name: str, kernel_size, stride, padding, dilation=1) -> None:
    check_sizes(name, "kernel_size", kernel_size, positive=True)
    check_sizes(name, "stride", stride, positive=True)
    check_sizes(name, "padding", padding)
    check_sizes(name, "dilation", dilation, positive=True)


class _MaxPoolNd(Module):
    _functional = None

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__()
        _check_window(type(self).__name__, kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return type(self)._functional(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L); with return_indices also int32 indices.

    >>> pool = MaxPool1d(3, stride=2)
    """

    _functional = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W); indices are flat h * W + w positions.

    >>> pool = MaxPool2d((3, 2), stride=(2, 1), padding=1, ceil_mode=True)
    """

    _functional = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Max over windows of (N, C, D, H, W).

    >>> pool = MaxPool3d(2, dilation=(1, 2, 2), return_indices=True)
    """

    _functional = staticmethod(F.max_pool3d)


class _AvgPoolNd(Module):
    _functional = None

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ):
        super().__init__()
        _check_window(type(self).__name__, kernel_size, stride, padding)
        if divisor_override == 0:
            raise ValueError(f"{type(self).__name__}: divisor_override must be non-zero, got 0")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return type(self)._functional(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of (N, C, L) (no divisor_override, as in PyTorch).

    >>> pool = AvgPool1d(3, stride=2, count_include_pad=False)
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ):
        def single(v):  # PyTorch's AvgPool1d stores 1-tuples
            return tuple(v) if isinstance(v, (list, tuple)) else (v,)

        stride = kernel_size if stride is None else stride
        super().__init__(
            single(kernel_size), single(stride), single(padding), ceil_mode, count_include_pad
        )

    def forward(self, input):
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )


class AvgPool2d(_AvgPoolNd):
    """Mean over windows of (N, C, H, W).

    >>> pool = AvgPool2d(3, stride=2, padding=1, ceil_mode=True, divisor_override=4)
    """

    _functional = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """Mean over windows of (N, C, D, H, W).

    >>> pool = AvgPool3d((2, 3, 3), stride=(1, 2, 2))
    """

    _functional = staticmethod(F.avg_pool3d)


class _AdaptivePool(Module):
    _functional = None

    def __init__(self, output_size):
        super().__init__()
        check_sizes(type(self).__name__, "output_size", output_size)
        self.output_size = output_size

    def forward(self, input):
        return type(self)._functional(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._functional(input, self.output_size, self.return_indices)


class AdaptiveAvgPool1d(_AdaptivePool):
    """Mean over windows that split L into output_size parts.

    >>> pool = AdaptiveAvgPool1d(5)
    """

    _functional = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptivePool):
    """Mean over windows that split (H, W) into output_size; None keeps a dim's size.

    >>> pool = AdaptiveAvgPool2d((5, None))
    """

    _functional = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptivePool):
    """Mean over windows that split (D, H, W) into output_size.

    >>> pool = AdaptiveAvgPool3d(1)
    """

    _functional = staticmethod(F.adaptive_avg_pool3d)


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Max over adaptive windows of (N, C, L).

    >>> pool = AdaptiveMaxPool1d(5, return_indices=True)
    """

    _functional = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Max over adaptive windows of (N, C, H, W).

    >>> pool = AdaptiveMaxPool2d((5, 7))
    """

    _functional = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """Max over adaptive windows of (N, C, D, H, W).

    >>> pool = AdaptiveMaxPool3d(2)
    """

    _functional = staticmethod(F.adaptive_max_pool3d)
