"""`TensorType`: the static type of every IR value (shape + dtype, never optional)."""

from __future__ import annotations

from dataclasses import dataclass

from ember.graphdef import dtypes

# What a loaded graph (`Graph.parse`, `Graph.from_json`) may declare. Tracing is not
# limited; these bound what an untrusted file can make ember allocate or compute.
MAX_RANK = 16  # dimensions per tensor (XLA and PyTorch models stay far below)
MAX_DIM = 2**40  # size of one dimension
MAX_ELEMENTS = 2**40  # elements per tensor: 4 TiB of float32, beyond any one device


def limit_problem(shape: tuple[int, ...]) -> str | None:
    """Why `shape` exceeds the limits above, or None when it is within them."""
    if len(shape) > MAX_RANK:
        return f"rank {len(shape)} exceeds the limit MAX_RANK={MAX_RANK}"
    for d in shape:
        if d > MAX_DIM:
            return f"dimension {d} exceeds the limit MAX_DIM=2**40"
    n = 1
    for d in shape:
        n *= d
    if n > MAX_ELEMENTS:
        return f"{n} elements exceed the limit MAX_ELEMENTS=2**40"
    return None


@dataclass(frozen=True)
class TensorType:
    """Shape and dtype of a value.

    >>> str(TensorType((64, 784), "float32"))
    'f32[64,784]'
    """

    shape: tuple[int, ...]
    dtype: str

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "dtype", dtypes.canonical(self.dtype))
        if any(d < 0 for d in self.shape):
            raise ValueError(f"negative dimension in shape {self.shape}")
        # types are dict keys on every recorded op and cached step: hash once
        object.__setattr__(self, "_hash", hash((self.shape, str.__str__(self.dtype))))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not TensorType:
            return NotImplemented
        # dtypes are canonical names here: plain string equality, no alias lookup
        return self.shape == other.shape and str.__eq__(self.dtype, other.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __str__(self) -> str:
        return f"{dtypes.SHORT[self.dtype]}[{','.join(map(str, self.shape))}]"

    @staticmethod
    def parse(text: str) -> TensorType:
        short, _, rest = text.partition("[")
        if not rest.endswith("]") or short not in dtypes.FROM_SHORT:
            raise ValueError(f"not a tensor type: {text!r}")
        body = rest[:-1]
        shape = tuple(int(d) for d in body.split(",")) if body else ()
        return TensorType(shape, dtypes.FROM_SHORT[short])


def TensorSpec(shape, dtype: str = "float32") -> TensorType:  # noqa: N802 (reads as a type)
    """Describe a traced input by shape and dtype: `em.TensorSpec((64, 784))`."""
    return TensorType(tuple(shape), dtype)
