"""Random sampling ops: each reads an RNG key operand and folds in its own `salt`.

Inside a traced step the key is the step's key and the salt is derived from the
node's module path (so layers and steps draw differently and reproducibly);
outside a trace every lazy random op gets a fresh key from `em.manual_seed`.
`salt=None` means the key operand is already folded (`random_fold_in`): scan over
layers gives each layer's body the key its unrolled node would have used.
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import DTypeError, ShapeError
from ember.graphdef import dtypes
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

_KEY = TensorType((2,), "uint32")


def _key(op: str, t: TensorType) -> None:
    if t != _KEY:
        raise DTypeError(f"{op}: the key operand must be u32[2], got {t}")


def _sample(op: str, kinds: tuple[str, ...]):
    def infer(types: Sequence[TensorType], *, shape, dtype, salt, **params):
        _key(op, types[0])
        if any(s < 0 for s in shape):
            raise ShapeError(f"{op}: negative dimension in size {tuple(shape)}")
        if dtypes.category(dtype) not in kinds:
            raise DTypeError(f"{op}: dtype {dtype} is not supported")
        return [TensorType(tuple(shape), dtype)]

    return infer


register_op(
    "random_uniform",
    _sample("random_uniform", (2,)),
    attrs={"shape": "ints", "dtype": "dtype", "salt": "int?", "low": "float", "high": "float"},
    num_inputs=1,
    stochastic=True,
    differentiable=False,
    doc="uniform samples in [low, high)",
)
register_op(
    "random_normal",
    _sample("random_normal", (2,)),
    attrs={"shape": "ints", "dtype": "dtype", "salt": "int?"},
    num_inputs=1,
    stochastic=True,
    differentiable=False,
    doc="standard normal samples",
)
register_op(
    "random_integers",
    _sample("random_integers", (1,)),
    attrs={"shape": "ints", "dtype": "dtype", "salt": "int?", "low": "int", "high": "int"},
    num_inputs=1,
    stochastic=True,
    differentiable=False,
    doc="integers uniform in [low, high)",
)


def _permutation(types, *, n: int, dtype: str, salt: int):
    _key("random_permutation", types[0])
    if n < 0:
        raise ShapeError(f"randperm: n must be non-negative, got {n}")
    return [TensorType((n,), dtype)]


register_op(
    "random_permutation",
    _permutation,
    attrs={"n": "int", "dtype": "dtype", "salt": "int?"},
    num_inputs=1,
    stochastic=True,
    differentiable=False,
    doc="a random permutation of 0..n-1",
)


def _multinomial(types, *, num_samples: int, replacement: bool, salt: int):
    probs, key = types
    _key("multinomial", key)
    if probs.ndim not in (1, 2) or not dtypes.is_floating(probs.dtype):
        raise ShapeError(f"multinomial: probabilities must be 1-D or 2-D floats, got {probs}")
    if num_samples <= 0:
        raise ShapeError(f"multinomial: num_samples must be positive, got {num_samples}")
    if not replacement and num_samples > probs.shape[-1]:
        raise ShapeError(
            f"multinomial: cannot draw {num_samples} samples without replacement from "
            f"{probs.shape[-1]} categories; fix: replacement=True or fewer samples"
        )
    return [TensorType(probs.shape[:-1] + (num_samples,), dtypes.DEFAULT_INT)]


register_op(
    "multinomial",
    _multinomial,
    attrs={"num_samples": "int", "replacement": "bool", "salt": "int?"},
    num_inputs=2,
    stochastic=True,
    differentiable=False,
    doc="category indices sampled from (unnormalized) probabilities along the last dim",
)


def _fold_in(types, *, salt: int):
    _key("random_fold_in", types[0])
    return [_KEY]


register_op(
    "random_fold_in",
    _fold_in,
    attrs={"salt": "int"},
    num_inputs=1,
    differentiable=False,
    doc="the key with `salt` folded in (what a sampling op with that salt draws from)",
)
