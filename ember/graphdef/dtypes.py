"""Dtype names, short printer names and PyTorch's type-promotion rules.

Dtypes are plain strings (``"float32"``) so the IR stays backend-free and JSON-able.
Ember follows JAX's default of 32-bit integers: integer results that PyTorch
makes int64 (argmax, arange, ...) are int32 unless the input is int64.
"""

from __future__ import annotations

from ember.errors import DTypeError

FLOATS = ("float16", "bfloat16", "float32", "float64")
INTS = ("uint8", "int8", "int16", "int32", "uint32", "int64")
COMPLEX = ("complex64", "complex128")
ALL = ("bool", *INTS, *FLOATS, *COMPLEX)

SHORT = {
    "bool": "bool",
    "uint8": "u8",
    "uint32": "u32",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "float16": "f16",
    "bfloat16": "bf16",
    "float32": "f32",
    "float64": "f64",
    "complex64": "c64",
    "complex128": "c128",
}
FROM_SHORT = {v: k for k, v in SHORT.items()}

_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "cfloat": "complex64",
    "cdouble": "complex128",
}

DEFAULT_FLOAT = "float32"
DEFAULT_INT = "int32"


class DType(str):
    """A dtype name that also compares equal to numpy's spelling of it.

    `tensor.dtype == em.float32`, `== "float32"` and `== np.float32` all hold, so code
    written against torch or numpy dtypes keeps working; it prints as `ember.float32`.
    """

    __slots__ = ()

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            return str.__eq__(self, _ALIASES.get(other, other))
        name = getattr(other, "name", None) or getattr(other, "__name__", None)
        if name is None:
            return NotImplemented
        return str.__eq__(self, _ALIASES.get(str(name), str(name)))

    def __ne__(self, other) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"ember.{str.__str__(self)}"

    @property
    def is_floating_point(self) -> bool:
        return str(self) in FLOATS

    @property
    def is_complex(self) -> bool:
        return str(self) in COMPLEX

    @property
    def is_signed(self) -> bool:
        return str(self) not in ("bool", "uint8", "uint32")


_DTYPE_OBJECTS: dict[str, DType] = {}


def as_dtype(name: str) -> DType:
    """The (interned) `DType` for a canonical dtype name."""
    d = _DTYPE_OBJECTS.get(name)
    if d is None:
        d = _DTYPE_OBJECTS[name] = DType(name)
    return d


def effective(dtype: str) -> str:
    """The dtype values really get: without x64, JAX computes int64/float64 as int32/float32,
    so the IR does too (PyTorch's `long` is ember's int32; see the porting guide)."""
    if dtype in _NARROWED and not x64_enabled():
        return _NARROWED[dtype]
    return dtype


_NARROWED = {"int64": "int32", "float64": "float32", "complex128": "complex64"}


_WARNED_FLOAT64 = [False]


def requested(dtype) -> str:
    """The effective dtype of one a user asked for (`x.double()`, `dtype=em.float64`),
    warning once per process when float64 will compute as float32."""
    name = canonical(dtype)
    out = effective(name)
    if out != name and name == "float64" and not _WARNED_FLOAT64[0]:
        import os
        import sys
        import warnings

        _WARNED_FLOAT64[0] = True
        package, level, frame = os.path.dirname(os.path.dirname(__file__)), 1, sys._getframe()
        while frame is not None and frame.f_code.co_filename.startswith(package):
            frame, level = frame.f_back, level + 1  # point at the user's line
        warnings.warn(
            "float64 was requested, but JAX's 64-bit mode is off, so ember computes in "
            "float32 (as JAX does); fix: jax.config.update('jax_enable_x64', True) or "
            "JAX_ENABLE_X64=1 before creating tensors, or ask for float32",
            UserWarning,
            stacklevel=level,
        )
    return out


def x64_enabled() -> bool:
    """Does the backend keep 64-bit types? (JAX's `jax_enable_x64`; read, never imported)."""
    import sys

    jax = sys.modules.get("jax")
    return jax is not None and bool(jax.config.read("jax_enable_x64"))


def canonical(dtype) -> str:
    """Normalize a dtype given as a string, numpy dtype or ember dtype object."""
    name = getattr(dtype, "name", None) or str(dtype)
    name = _ALIASES.get(name, name)
    if name not in ALL:
        raise DTypeError(f"unsupported dtype {dtype!r}; ember supports {', '.join(ALL)}")
    return name


def is_floating(dtype: str) -> bool:
    return dtype in FLOATS


def is_integer(dtype: str) -> bool:
    return dtype in INTS


def is_complex(dtype: str) -> bool:
    return dtype in COMPLEX


def real_part(dtype: str) -> str:
    """The dtype of a complex dtype's real and imaginary parts (`complex64` -> `float32`);
    a real dtype is its own."""
    return {"complex64": "float32", "complex128": "float64"}.get(dtype, dtype)


def complex_of(dtype: str) -> str:
    """The complex dtype with parts of `dtype` (`float64` -> `complex128`; PyTorch makes
    16-bit floats complex32, which ember does not have: `complex64`)."""
    return "complex128" if dtype in ("float64", "complex128") else "complex64"


def category(dtype: str) -> int:
    """0 bool, 1 integer, 2 floating, 3 complex: PyTorch promotes across categories upward."""
    if dtype == "bool":
        return 0
    return 1 if dtype in INTS else (3 if dtype in COMPLEX else 2)


_INT_ORDER = {d: i for i, d in enumerate(INTS)}
_FLOAT_ORDER = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}


def promote(a: str, b: str) -> str:
    """Result dtype of a binary op between two tensors (PyTorch's rules)."""
    if a == b:
        return a
    ca, cb = category(a), category(b)
    if 3 in (ca, cb):  # complex64 with float64 is complex128, as in PyTorch
        wide = "float64" in (a, b) or "complex128" in (a, b)
        return "complex128" if wide else "complex64"
    if ca != cb:
        return a if ca > cb else b
    if ca == 1:
        if {a, b} == {"uint8", "int8"}:
            return "int16"
        return a if _INT_ORDER[a] > _INT_ORDER[b] else b
    if {a, b} == {"float16", "bfloat16"}:
        return "float32"
    return a if _FLOAT_ORDER[a] > _FLOAT_ORDER[b] else b


def scalar_dtype(value) -> str:
    # numpy scalars (np.int64(3), np.bool_) count by kind, like Python scalars
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(value, bool) or kind == "b":
        return "bool"
    if isinstance(value, int) or kind in ("i", "u"):
        return DEFAULT_INT
    if isinstance(value, complex) or kind == "c":
        return "complex64"
    return DEFAULT_FLOAT


def promote_with_scalar(tensor_dtype: str, value) -> str:
    """A Python scalar is 'weak': it only lifts the category (int tensor * 0.5 -> float)."""
    sd = scalar_dtype(value)
    if category(sd) > category(tensor_dtype):
        return complex_of(tensor_dtype) if sd in COMPLEX else sd
    return tensor_dtype


def result_type(*operands: tuple[str, int]) -> str:
    """PyTorch's promotion over `(dtype, priority)` operands.

    Priority 2 is a tensor with dimensions, 1 a 0-d tensor, 0 a Python scalar
    (given as its `scalar_dtype`). A lower-priority group only matters when its
    category (bool < int < float) is higher than the result so far, so
    `f16[3] + f32[]` is f16 and `i32[3] + f64[]` is f64, as in PyTorch.
    """
    result = None
    for priority in (2, 1, 0):
        group = [d for d, p in operands if p == priority]
        if not group:
            continue
        dt = group[0]
        for d in group[1:]:
            dt = promote(dt, d)
        if result is None or category(dt) > category(result):
            # a complex operand over float64 ones is complex128, as in PyTorch
            result = complex_of(result) if dt in COMPLEX and result in FLOATS else dt
    if result is None:
        raise DTypeError("result_type needs at least one operand")
    return result
