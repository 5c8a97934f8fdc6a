"""Random sampling with PyTorch's names, seeded by `em.manual_seed`.

Inside a traced forward (a compiled step) every sample draws from the step's
RNG key, folded with a salt derived from the module path, so a VAE's
`em.randn_like(std)` differs per step and per layer and reruns reproduce.
Outside a trace each call gets the next key of the `manual_seed` stream, or, with
`generator=g` (an `em.Generator`), a key drawn from `g`, leaving the global stream
where it was. Inside a trace `generator=` is accepted and not consumed: a compiled
step cannot advance a Python-side stream at every step, so the draw comes from the
step's key as it would without one.
"""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.frontend.generator import key_data, stream_of
from ember.frontend.lazy import RECORDER, leaf
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn.functional._core import active_builder, as_tensor, cast, to_float
from ember.nn.functional.complex_numbers import view_as_complex
from ember.nn.functional.creation import _dtype, _options, _size, finish

__all__ = [
    "rand",
    "randn",
    "randint",
    "randperm",
    "rand_like",
    "randn_like",
    "randint_like",
    "normal",
    "bernoulli",
    "multinomial",
]


def _opts(name: str, kwargs: dict) -> dict:
    _options(name, kwargs)
    return kwargs


def _key(builder, generator, where: str) -> Tensor:
    """The key one random op draws from: the generator's next one outside a trace."""
    if generator is None:
        return builder.rng_tensor()
    if builder is not RECORDER:  # inside a trace: the step's key (see the module docstring)
        stream_of(generator, where)  # still reject what is not an em.Generator
        return builder.rng_tensor()
    return leaf(key_data(generator, where), requires_grad=False)


def _draw(op: str, shape: tuple, dtype: str, generator=None, **attrs) -> Tensor:
    if dtypes.is_complex(dtype):  # PyTorch: independent parts, N(0, 1/2) each for normals
        parts = _draw(op, (*shape, 2), dtypes.real_part(dtype), generator, **attrs)
        if op == "random_normal":
            parts = parts * math.sqrt(0.5)
        return view_as_complex(parts)
    builder = active_builder()
    key = _key(builder, generator, op)
    (out,) = builder.emit(
        op, [key], {"shape": tuple(shape), "dtype": dtype, "salt": builder.salt(), **attrs}
    )
    return out


def rand(*size, generator=None, dtype=None, **kwargs) -> Tensor:
    """`torch.rand(*size)`: uniform samples in [0, 1).

    >>> em.rand(2, 3, generator=em.Generator().manual_seed(0))  # the same on every run
    """
    _opts("rand", kwargs)
    dt = _dtype(dtype, dtypes.DEFAULT_FLOAT)
    out = _draw("random_uniform", _size(size), dt, generator, low=0.0, high=1.0)
    return finish(out, kwargs)


def randn(*size, generator=None, dtype=None, **kwargs) -> Tensor:
    """`torch.randn(*size)`: standard normal samples."""
    _opts("randn", kwargs)
    dt = _dtype(dtype, dtypes.DEFAULT_FLOAT)
    return finish(_draw("random_normal", _size(size), dt, generator), kwargs)


def randint(low, high=None, size=None, *, generator=None, dtype=None, **kwargs) -> Tensor:
    """`torch.randint(low=0, high, size)`: integers uniform in [low, high) (int32 default)."""
    _opts("randint", kwargs)
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=size), as torch accepts
        low, high = 0, low
    if high is None or size is None:
        raise TypeError("randint() needs high and size: em.randint(10, (3,)) or (0, 10, (3,))")
    if int(high) <= int(low):
        raise active_builder().error(
            ShapeError(f"randint: high ({high}) must be larger than low ({low})")
        )
    dt = _dtype(dtype, dtypes.DEFAULT_INT)
    shape = _size(tuple(size))
    return _draw("random_integers", shape, dt, generator, low=int(low), high=int(high))


def randperm(n: int, *, generator=None, dtype=None, **kwargs) -> Tensor:
    """`torch.randperm(n)`: a random permutation of 0..n-1 (int32 by default)."""
    _opts("randperm", kwargs)
    builder = active_builder()
    (out,) = builder.emit(
        "random_permutation",
        [_key(builder, generator, "randperm")],
        {"n": int(n), "dtype": _dtype(dtype, dtypes.DEFAULT_INT), "salt": builder.salt()},
    )
    return out


def rand_like(input, *, dtype=None, **kwargs) -> Tensor:
    x = as_tensor(input)
    return rand(*x.shape, dtype=_dtype(dtype, x.dtype), **kwargs)


def randn_like(input, *, dtype=None, **kwargs) -> Tensor:
    """`torch.randn_like(input)`: the reparameterization trick's noise (`mu + eps * std`)."""
    x = as_tensor(input)
    return randn(*x.shape, dtype=_dtype(dtype, x.dtype), **kwargs)


def randint_like(input, low=0, high=None, *, dtype=None, **kwargs) -> Tensor:
    x = as_tensor(input)
    if high is None:
        low, high = 0, low
    return randint(low, high, x.shape, dtype=_dtype(dtype, x.dtype), **kwargs)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, **kwargs) -> Tensor:
    """`torch.normal(mean, std[, size])`: tensors broadcast elementwise, or numbers and a size."""
    _opts("normal", kwargs)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m, s = as_tensor(mean), as_tensor(std)
        shape = broadcast_shapes(m.shape, s.shape)
        dt = m.dtype if isinstance(mean, Tensor) else s.dtype
        return m + s * randn(*shape, dtype=dt, generator=generator)
    if size is None:
        raise TypeError("normal(mean, std) with numbers needs a size: em.normal(0., 1., (3,))")
    return mean + std * randn(*_size((size,)), dtype=dtype, generator=generator)


@tensor_method()
def bernoulli(input, p=None, *, generator=None, **kwargs) -> Tensor:
    """`torch.bernoulli(input)`: 1 with probability input (or `p`), else 0; input's dtype."""
    x = to_float(as_tensor(input))
    probs = x if p is None else as_tensor(p) + x * 0
    return cast(rand(*probs.shape, dtype=probs.dtype, generator=generator) < probs, x.dtype)


@tensor_method()
def multinomial(
    input, num_samples: int, replacement: bool = False, *, generator=None, **kwargs
) -> Tensor:
    """`torch.multinomial(probs, num_samples, replacement=False)`: category indices per row."""
    x = to_float(as_tensor(input))
    builder = active_builder()
    (out,) = builder.emit(
        "multinomial",
        [x, _key(builder, generator, "multinomial")],
        {"num_samples": int(num_samples), "replacement": bool(replacement), "salt": builder.salt()},
    )
    return out


@tensor_method()
def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None, **kwargs) -> Tensor:
    """In place: uniform samples in [a, b) (`nn.init.uniform_` style)."""
    return self._assign(
        _draw("random_uniform", self.shape, self.dtype, generator, low=float(a), high=float(b))
    )


@tensor_method()
def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None, **kwargs) -> Tensor:
    return self._assign(mean + std * randn(*self.shape, dtype=self.dtype, generator=generator))


@tensor_method()
def bernoulli_(self, p=0.5, *, generator=None, **kwargs) -> Tensor:
    return self._assign(bernoulli(self, p, generator=generator))
