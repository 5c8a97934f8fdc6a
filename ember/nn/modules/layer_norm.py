"""LayerNorm and RMSNorm (PyTorch parameters: weight of ones, bias of zeros)."""

from __future__ import annotations

from collections.abc import Sequence

from ember.nn.functional import layer_norm, rms_norm
from ember.nn.module import Module
from ember.nn.modules._affine import add_affine, ones_init, reset_affine
from ember.nn.modules._checks import check_sizes
from ember.nn.parameter import Parameter


def _shape(layer: str, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    shape = tuple(int(d) for d in normalized_shape)
    check_sizes(layer, "normalized_shape", shape)
    return shape


class LayerNorm(Module):
    """Normalize over the trailing `normalized_shape` dims, then scale and shift.

    >>> norm = LayerNorm(16)          # weight (16,) ones, bias (16,) zeros
    >>> y = norm(np.zeros((4, 10, 16), np.float32))
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.normalized_shape = _shape(type(self).__name__, normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        add_affine(self, self.normalized_shape, elementwise_affine, bias, dtype)

    def reset_parameters(self) -> None:
        reset_affine(self)

    def forward(self, input):
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """`x / sqrt(mean(x^2) + eps) * weight` over the trailing dims; eps None = finfo(dtype).eps.

    >>> norm = RMSNorm(16)            # weight (16,) ones
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.normalized_shape = _shape(type(self).__name__, normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(shape=self.normalized_shape, dtype=dtype, init=ones_init)
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.set_initializer(ones_init)

    def forward(self, input):
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
