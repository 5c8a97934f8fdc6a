"""Complex tensors: `view_as_complex`, `view_as_real`, `polar`, `complex`, `real`, `imag`,
`conj`, `angle`, `is_complex`.

Enough for rotary position embeddings as Meta's LLaMA writes them:

    >>> import ember as em
    >>> x = em.randn(2, 4, 8)
    >>> freqs = em.polar(em.ones(4, 4), em.randn(4, 4))  # complex64
    >>> xc = em.view_as_complex(x.reshape(2, 4, 4, 2))
    >>> em.view_as_real(xc * freqs).flatten(2).shape
    (2, 4, 8)

Sums, products and the other binary ops take complex operands (the tracer promotes
real ones); gradients reach the real tensors the complex ones were made from.
"""

from __future__ import annotations

from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor, emit, promote_pair

__all__ = [
    "view_as_complex",
    "view_as_real",
    "polar",
    "complex",
    "real",
    "imag",
    "conj",
    "conj_physical",
    "resolve_conj",
    "angle",
    "is_complex",
]


@tensor_method()
def view_as_complex(input) -> Tensor:
    """`torch.view_as_complex`: a float32/float64 tensor of shape `(..., 2)` as complex
    numbers of shape `(...)` (real, imaginary)."""
    return emit("view_as_complex", [as_tensor(input)])


@tensor_method()
def view_as_real(input) -> Tensor:
    """`torch.view_as_real`: a complex tensor as floats of shape `(..., 2)`."""
    return emit("view_as_real", [as_tensor(input)])


def polar(abs, angle) -> Tensor:  # noqa: A002  (torch's argument names)
    """`torch.polar`: `abs * (cos(angle) + i sin(angle))`."""
    a, b = promote_pair(abs, angle)
    return emit("polar", [a, b])


def complex(real, imag) -> Tensor:  # noqa: A001  (torch.complex)
    """`torch.complex`: `real + i imag` from two float tensors."""
    a, b = promote_pair(real, imag)
    return emit("complex", [a, b])


def real(input) -> Tensor:
    """`torch.real` / `Tensor.real`: the real part (a real tensor is its own)."""
    x = as_tensor(input)
    return emit("real", [x]) if dtypes.is_complex(x.dtype) else x


def imag(input) -> Tensor:
    """`torch.imag` / `Tensor.imag`: the imaginary part of a complex tensor."""
    return emit("imag", [as_tensor(input)])


@tensor_method()
def conj(input) -> Tensor:
    """`torch.conj`: the complex conjugate (a real tensor is its own)."""
    x = as_tensor(input)
    return emit("conj", [x]) if dtypes.is_complex(x.dtype) else x


@tensor_method()
def conj_physical(input) -> Tensor:
    """`torch.conj_physical`: `conj` (ember has no lazy conjugate bit)."""
    return conj(input)


@tensor_method()
def resolve_conj(input) -> Tensor:
    """`torch.resolve_conj`: the tensor itself (no lazy conjugate bit)."""
    return as_tensor(input)


@tensor_method()
def angle(input) -> Tensor:
    """`torch.angle`: the argument of complex numbers; of reals, pi below zero and 0 else."""
    x = as_tensor(input)
    if not (dtypes.is_floating(x.dtype) or dtypes.is_complex(x.dtype)):
        x = x.float()
    return emit("angle", [x])


@tensor_method()
def is_complex(input) -> bool:
    """`torch.is_complex`: whether the tensor's dtype is complex."""
    return dtypes.is_complex(as_tensor(input).dtype)


Tensor.real = property(real, doc=real.__doc__)
Tensor.imag = property(imag, doc=imag.__doc__)
