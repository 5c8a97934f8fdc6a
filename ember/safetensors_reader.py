"""Reading safetensors files as untrusted input: every header field is checked
against the file before any tensor is read, and `ObjectBuilder` rebuilds `em.save`'s
JSON structure node by node; anything malformed is a `CheckpointError` naming the path
and the problem (never a foreign exception). Used by `ember/serialization.py`."""

from __future__ import annotations

import json
import math
import os
import struct
from collections import OrderedDict
from typing import Any

import ml_dtypes
import numpy as np
from safetensors import safe_open

from ember.errors import CheckpointError

# safetensors dtype code <-> numpy dtype (the ones PyTorch, JAX and ember share).
CODES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "I16": np.dtype(np.int16),
    "U16": np.dtype(np.uint16),
    "I32": np.dtype(np.int32),
    "U32": np.dtype(np.uint32),
    "I64": np.dtype(np.int64),
    "U64": np.dtype(np.uint64),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "C64": np.dtype(np.complex64),  # the format's one complex type (PyTorch's complex64)
}
DTYPE_TO_CODE = {dtype: code for code, dtype in CODES.items()}
SUPPORTED = ", ".join(str(d) for d in DTYPE_TO_CODE)

MAX_HEADER = 100_000_000  # the safetensors library's own limit


def bad(path: str, problem: str) -> CheckpointError:
    return CheckpointError(f"cannot load {path!r}: {problem}")


_NOT_SAFETENSORS = (
    "; ember never unpickles (loading a pickle can run any code). Convert it once, in "
    "PyTorch, from a source you trust: safetensors.torch.save_file(torch.load(p, "
    "weights_only=True), 'model.safetensors'), then em.load_safetensors('model.safetensors'); "
    "a file of a whole pickled module (torch.save(model, p)) needs weights_only=False and "
    "the model's code: save its .state_dict() instead"
)


def read_header(path: str) -> tuple[dict[str, tuple[str, list[int], int, int]], dict[str, str]]:
    """Validate the whole header against the file; return {name: (code, shape, begin, end)}
    (offsets absolute in the file) and the metadata. Every lie is a CheckpointError."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else None
        if n is None or n > min(MAX_HEADER, size - 8):
            raise bad(path, _diagnose(head, size, n))
        raw = f.read(n)
    if len(raw) != n:
        raise bad(path, "the file changed size while being read")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(path, f"the header is not valid JSON (corrupted?): {e}") from None
    if not isinstance(header, dict):
        raise bad(path, f"the header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise bad(path, "__metadata__ in the header must map strings to strings")
    data_start, data_len = 8 + n, size - 8 - n
    table = {}
    for name, info in header.items():
        if not (isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}):
            raise bad(
                path, f"header entry {name!r} must have exactly dtype, shape and data_offsets"
            )
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in CODES:
            raise bad(
                path,
                f"tensor {name!r} has dtype {code!r}, which ember does not read "
                f"(supported: {', '.join(CODES)})",
            )
        if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
            raise bad(path, f"tensor {name!r} has an invalid shape {shape!r}")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(_is_count(o) for o in offsets)
            and offsets[0] <= offsets[1]
        ):
            raise bad(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        nbytes = math.prod(shape) * CODES[code].itemsize
        if end - begin != nbytes:
            raise bad(
                path,
                f"tensor {name!r} is {code} with shape {shape} ({nbytes} bytes) but its "
                f"data_offsets {offsets} span {end - begin} bytes: the header is inconsistent",
            )
        table[name] = (code, shape, begin, end)
    position = 0
    for name, (_, _, begin, end) in sorted(table.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if begin != position:
            problem = "overlaps the previous tensor" if begin < position else "leaves a gap"
            raise bad(
                path, f"tensor {name!r} at data_offsets [{begin}, {end}] {problem}: corrupted"
            )
        position = end
    if position > data_len:
        raise bad(
            path,
            f"the tensors need {position} bytes of data but the file holds {data_len}: "
            "the file is truncated",
        )
    if position < data_len:
        raise bad(path, f"{data_len - position} unexpected bytes after the last tensor: corrupted")
    return {k: (c, s, data_start + b, data_start + e) for k, (c, s, b, e) in table.items()}, (
        metadata
    )


def _diagnose(head: bytes, size: int, n: int | None) -> str:
    """Why the first 8 bytes cannot start a safetensors file (they give no valid length)."""
    if head.startswith(b"PK\x03\x04"):
        return "this is a zip archive, the format torch.save writes" + _NOT_SAFETENSORS
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "this is a Python pickle, not a safetensors file" + _NOT_SAFETENSORS
    if head.startswith(b"\x93NUMPY"):
        return "this is a numpy .npy file, not a safetensors file; read it with np.load"
    if n is None:
        return (
            f"the file is {size} bytes, too short for the 8-byte safetensors header length: "
            "it is truncated or not a safetensors file"
        )
    if n > MAX_HEADER:
        return (
            f"the header length field says {n} bytes, over the {MAX_HEADER}-byte limit: "
            "the file is corrupted or not a safetensors file"
        )
    return (
        f"the header length field says {n} bytes but only {size - 8} follow: the file is "
        "truncated or corrupted"
    )


def _is_count(x: Any) -> bool:
    return type(x) is int and 0 <= x < 2**63


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def read_tensors(path: str, table: dict) -> dict[str, np.ndarray]:
    """Read the (already validated) tensors with the safetensors library."""
    out = {}
    try:
        with safe_open(path, framework="np") as f:
            for name in sorted(table):
                array = f.get_tensor(name)
                code, shape = table[name][:2]
                if array.dtype != CODES[code] or list(array.shape) != shape:
                    raise bad(path, f"the file changed while being read (tensor {name!r})")
                out[name] = array if array.flags.writeable else array.copy()
    except CheckpointError:
        raise
    except OSError:
        raise
    except Exception as e:  # safetensors' own checks, as a second line of defence
        raise bad(path, f"safetensors rejected the file: {e}") from None
    return out


class ObjectBuilder:
    """Rebuilds the object from the JSON skeleton; every malformed node is an error."""

    def __init__(self, path: str, arrays: dict[str, np.ndarray]) -> None:
        self.path, self.arrays, self.used = path, arrays, set()

    def fail(self, what: str) -> CheckpointError:
        return bad(self.path, f"malformed ember structure: {what}")

    def node(self, x: Any) -> Any:
        if x is None or type(x) in (bool, int, float, str):
            return x
        if not (isinstance(x, dict) and len(x) in (1, 2)):
            raise self.fail(f"unexpected node {str(x)[:80]}")
        if "array" in x:
            key = x["array"]
            if key not in self.arrays or key in self.used:
                raise self.fail(f"reference to a missing or reused tensor {key!r}")
            if set(x) - {"array", "scalar"} or x.get("scalar", True) is not True:
                raise self.fail(f"unexpected array node {str(x)[:80]}")
            self.used.add(key)
            array = self.arrays[key]
            if "scalar" in x:
                if array.shape != ():
                    raise self.fail(f"scalar {key!r} has shape {array.shape}")
                return array[()]
            return array
        if len(x) != 1:
            raise self.fail(f"unexpected node {str(x)[:80]}")
        ((tag, body),) = x.items()
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag in ("list", "tuple") and isinstance(body, list):
            items = [self.node(v) for v in body]
            return items if tag == "list" else tuple(items)
        if tag in ("dict", "odict") and isinstance(body, list):
            out = {} if tag == "dict" else OrderedDict()
            for pair in body:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise self.fail("a dict item is not a [key, value] pair")
                k = pair[0]
                if not (k is None or type(k) in (bool, int, float, str)):
                    raise self.fail(f"invalid dict key {str(k)[:80]}")
                out[k] = self.node(pair[1])
            return out
        raise self.fail(f"unknown node {tag!r}")
