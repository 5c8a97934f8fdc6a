"""`nn.init`: PyTorch's initializers, drawn with numpy from ember's seed streams.

Each function works in place like PyTorch's `nn.init.*_`, on a `Parameter`, on
`param.data` (a tensor bound to the parameter) or on any tensor. On a parameter
that is not materialized yet it only records the recipe, so models stay lazy
until first use; drawing on the host needs no compiled program.
"""

from __future__ import annotations

import math

import numpy as np

from ember.nn.parameter import Parameter


def calculate_fan_in_and_fan_out(shape: tuple) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs at least 2 dims, got shape {shape}")
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    gains = {
        "linear": 1.0,
        "conv1d": 1.0,
        "conv2d": 1.0,
        "conv3d": 1.0,
        "sigmoid": 1.0,
        "tanh": 5.0 / 3,
        "relu": math.sqrt(2.0),
        "selu": 3.0 / 4,
    }
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in gains:
        raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")
    return gains[nonlinearity]


def _fan(shape, mode: str) -> int:
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def _apply(param, draw, generator=None, where: str = "nn.init"):
    """Give `param` (a Parameter, `param.data`, or a tensor) values drawn by `draw`.
    With `generator` (an `em.Generator`) the values are drawn now from its stream, which
    advances as torch's does; otherwise from ember's seed streams when first needed."""
    if generator is not None:
        from ember.frontend.generator import stream_of

        drawn = draw(stream_of(generator, where), tuple(param.shape))
        draw = lambda rng, shape: drawn  # noqa: E731
    init = lambda rng, shape, dtype: draw(rng, shape).astype(dtype)  # noqa: E731
    owner = param._slot[0] if getattr(param, "_slot", None) is not None else None
    if isinstance(param, Parameter):
        param.set_initializer(init)
    elif isinstance(owner, Parameter):
        owner.set_initializer(init)
        param.value = owner.data.value
    else:  # a plain tensor: draw now from a fresh stream of the seed
        from ember.autograd.grad_mode import no_grad
        from ember.frontend.lazy import leaf
        from ember.nn.parameter import host_generator

        value = init(host_generator(), tuple(param.shape), param.dtype)
        with no_grad():
            param._assign(leaf(np.asarray(value)))
    return param


def uniform_(param: Parameter, a: float = 0.0, b: float = 1.0, generator=None) -> Parameter:
    draw = lambda rng, shape: rng.uniform(a, b, size=shape)  # noqa: E731
    return _apply(param, draw, generator, "nn.init.uniform_")


def normal_(param: Parameter, mean: float = 0.0, std: float = 1.0, generator=None) -> Parameter:
    draw = lambda rng, shape: rng.normal(mean, std, size=shape)  # noqa: E731
    return _apply(param, draw, generator, "nn.init.normal_")


def constant_(param: Parameter, val: float) -> Parameter:
    return _apply(param, lambda rng, shape: np.full(shape, val))


def zeros_(param: Parameter) -> Parameter:
    return constant_(param, 0.0)


def ones_(param: Parameter) -> Parameter:
    return constant_(param, 1.0)


def eye_(param: Parameter) -> Parameter:
    return _apply(param, lambda rng, shape: np.eye(*shape))


def xavier_uniform_(param: Parameter, gain: float = 1.0, generator=None) -> Parameter:
    fan_in, fan_out = calculate_fan_in_and_fan_out(param.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -bound, bound, generator)


def xavier_normal_(param: Parameter, gain: float = 1.0, generator=None) -> Parameter:
    fan_in, fan_out = calculate_fan_in_and_fan_out(param.shape)
    return normal_(param, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(
    param: Parameter,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator=None,
) -> Parameter:
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(_fan(param.shape, mode))
    return uniform_(param, -bound, bound, generator)


def kaiming_normal_(
    param: Parameter,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator=None,
) -> Parameter:
    gain = calculate_gain(nonlinearity, a)
    return normal_(param, 0.0, gain / math.sqrt(_fan(param.shape, mode)), generator)


def trunc_normal_(
    param: Parameter,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator=None,
) -> Parameter:
    def draw(rng, shape):
        out = rng.normal(mean, std, size=shape)
        bad = (out < a) | (out > b)
        while bad.any():  # resample out-of-range draws: exact truncated normal
            out[bad] = rng.normal(mean, std, size=int(bad.sum()))
            bad = (out < a) | (out > b)
        return out

    return _apply(param, draw, generator, "nn.init.trunc_normal_")


def orthogonal_(param: Parameter, gain: float = 1.0, generator=None) -> Parameter:
    def draw(rng, shape):
        rows, cols = shape[0], math.prod(shape[1:])
        flat = rng.normal(size=(rows, cols))
        if rows < cols:
            flat = flat.T
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return gain * q.reshape(shape)

    return _apply(param, draw, generator, "nn.init.orthogonal_")


def fan_in_uniform(fan_in: int):
    """PyTorch's default bias init for Linear/Conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return lambda rng, shape, dtype: rng.uniform(-bound, bound, size=shape).astype(dtype)
