"""Conv1d/2d/3d and ConvTranspose1d/2d/3d: PyTorch's arguments, layouts and default init."""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.nn import init
from ember.nn.functional import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from ember.nn.functional._core import as_tensor
from ember.nn.functional._spatial import pad_spatial
from ember.nn.module import Module
from ember.nn.modules._checks import check_ndim, check_size, check_sizes
from ember.nn.parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def _ntuple(value, n: int) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value) * n if len(value) == 1 else tuple(value)
    return (value,) * n


class _ConvNd(Module):
    _dims = 0
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
        output_padding=0,
    ):
        super().__init__()
        d, name = self._dims, type(self).__name__
        check_size(name, "in_channels", in_channels)
        check_size(name, "out_channels", out_channels)
        windows = {"kernel_size": kernel_size, "stride": stride, "dilation": dilation}
        for arg, value in {**windows, "padding": padding, "output_padding": output_padding}.items():
            if not isinstance(value, str):
                check_ndim(name, arg, value, d)
                check_sizes(name, arg, value, positive=arg in windows)
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels "
                f"({out_channels}) must be divisible by groups ({groups})"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {sorted(_PADDING_MODES)}, "
                f"got {padding_mode!r}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _ntuple(kernel_size, d)
        self.stride, self.dilation = _ntuple(stride, d), _ntuple(dilation, d)
        self.output_padding = _ntuple(output_padding, d)
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: invalid padding string {padding!r}, should be one of 'valid', 'same'"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided convolutions"
                )
            self.padding = padding
        else:
            self.padding = _ntuple(padding, d)
        for op, s, dl in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= max(s, dl):
                raise ValueError(
                    f"{name}: output_padding {output_padding} must be smaller than either "
                    f"stride {stride} or dilation {dilation}"
                )
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        # kaiming_uniform(a=sqrt(5)) is U(+-1/sqrt(fan_in)), fan_in from weight.shape[1:]
        fan_in = shape[1] * math.prod(self.kernel_size)
        self.weight = Parameter(shape=shape, dtype=dtype, init=init.fan_in_uniform(fan_in))
        if bias:
            self.bias = Parameter(
                shape=(out_channels,), dtype=dtype, init=init.fan_in_uniform(fan_in)
            )
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            self.bias.set_initializer(init.fan_in_uniform(fan_in))

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _functional = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )
        # (lo, hi) per spatial dim for the non-zero padding modes, PyTorch's 'same' split
        if self.padding == "same":
            totals = [dl * (k - 1) for dl, k in zip(self.dilation, self.kernel_size, strict=True)]
            self._pads = tuple(p for tot in totals for p in (tot // 2, tot - tot // 2))
        elif self.padding == "valid":
            self._pads = (0,) * (2 * self._dims)
        else:
            self._pads = tuple(p for v in self.padding for p in (v, v))

    def _padded(self, input):
        x = as_tensor(input)
        spatial = x.shape[x.ndim - self._dims :]
        for i, size in enumerate(spatial):
            lo, hi = self._pads[2 * i], self._pads[2 * i + 1]
            limit = size if self.padding_mode == "circular" else size - 1
            if self.padding_mode != "replicate" and max(lo, hi) > limit:
                raise x.builder.error(
                    ShapeError(
                        f"{type(self).__name__}: padding {(lo, hi)} in spatial dim {i} is too "
                        f"large for padding_mode={self.padding_mode!r} and input {x.shape} "
                        f"(at most {limit}); fix: smaller padding or padding_mode='zeros'"
                    )
                )
        return pad_spatial(x, self._pads, _PADDING_MODES[self.padding_mode])

    def _conv_forward(self, input, weight, bias):
        """The layer's conv with a given weight and bias (PyTorch's hook for subclasses
        that transform the weight: LoRA's ConvLoRA, weight-standardized convs)."""
        conv = type(self)._functional
        if self.padding_mode == "zeros":
            return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        return conv(self._padded(input), weight, bias, self.stride, 0, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class _ConvTranspose(_ConvNd):
    _transposed = True
    _functional = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(
                f"{type(self).__name__}: padding must be an int or a tuple, got {padding!r}"
            )
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
            output_padding,
        )

    def _output_padding(self, x, output_size) -> tuple:
        """PyTorch's rule: the output_padding that gives the requested output_size."""
        if output_size is None:
            return self.output_padding
        d = self._dims
        sizes = tuple(output_size)
        if len(sizes) == x.ndim:
            sizes = sizes[x.ndim - d :]
        if len(sizes) != d:
            raise x.builder.error(
                ShapeError(
                    f"{type(self).__name__}: output_size must have {d} or {x.ndim} elements, got "
                    f"{tuple(output_size)}"
                )
            )
        spatial = x.shape[x.ndim - d :]
        lo = [
            (n - 1) * s - 2 * p + dl * (k - 1) + 1
            for n, s, p, dl, k in zip(
                spatial, self.stride, self.padding, self.dilation, self.kernel_size, strict=True
            )
        ]
        hi = [m + s - 1 for m, s in zip(lo, self.stride, strict=True)]
        if any(not a <= n <= b for a, n, b in zip(lo, sizes, hi, strict=True)):
            raise x.builder.error(
                ShapeError(
                    f"{type(self).__name__}: requested an output size of {sizes}, but valid sizes "
                    f"range from {tuple(lo)} to {tuple(hi)} (for an input of {spatial})"
                )
            )
        return tuple(n - a for n, a in zip(sizes, lo, strict=True))

    def forward(self, input, output_size=None):
        x = as_tensor(input)
        return type(self)._functional(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self._output_padding(x, output_size),
            self.groups,
            self.dilation,
        )


class Conv1d(_Conv):
    """1-D convolution over (N, C, L); weight (out, in/groups, k).

    >>> c = Conv1d(16, 33, 3, stride=2, padding=1, padding_mode='circular')
    """

    _dims, _functional = 1, staticmethod(conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C, H, W); weight (out, in/groups, kh, kw).

    >>> c = Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))
    """

    _dims, _functional = 2, staticmethod(conv2d)


class Conv3d(_Conv):
    """3-D convolution over (N, C, D, H, W); weight (out, in/groups, kd, kh, kw).

    >>> c = Conv3d(16, 33, 3, padding='same')
    """

    _dims, _functional = 3, staticmethod(conv3d)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution; weight (in, out/groups, k).

    >>> ct = ConvTranspose1d(16, 33, 3, stride=2)
    """

    _dims, _functional = 1, staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution; weight (in, out/groups, kh, kw).

    >>> ct = ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), output_padding=(1, 0))
    """

    _dims, _functional = 2, staticmethod(conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution; weight (in, out/groups, kd, kh, kw).

    >>> ct = ConvTranspose3d(16, 33, 3, stride=2, groups=1)
    """

    _dims, _functional = 3, staticmethod(conv_transpose3d)
