"""Weights files without pickle: `em.save` / `em.load` and plain safetensors interop.

Every file is one `.safetensors` file: the arrays are safetensors tensors, and for
`save` the rest of the object (dicts, lists, tuples, numbers, strings, None) is JSON
in the safetensors `__metadata__`. Nothing is ever unpickled or executed, so loading
a file from a stranger is as safe as reading numbers; a file that is truncated,
corrupted or lies in its header raises `CheckpointError` naming the path and the
problem. Writes are atomic: a temp file in the same directory, fsync, `os.replace`.

>>> em.save(net.state_dict(), "net.safetensors")          # torch.save habit
>>> net.load_state_dict(em.load("net.safetensors"))       # torch.load habit
>>> sd = em.load_safetensors("torch_model.safetensors")    # written by safetensors.torch
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import sys
import tempfile
from collections import OrderedDict
from typing import Any

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

from ember.errors import CheckpointError
from ember.safetensors_reader import (
    DTYPE_TO_CODE,
    MAX_HEADER,
    SUPPORTED,
    ObjectBuilder,
    bad,
    read_header,
    read_tensors,
)

__all__ = ["save", "load", "save_safetensors", "load_safetensors"]

PathLike = str | os.PathLike

_FORMAT_VERSION = 1
_STRUCTURE_KEY = "ember"  # __metadata__ key holding the JSON structure of `save`
_DIGEST_KEY = "ember_sha256"  # checksum of the structure and the tensor table


# -- writing ------------------------------------------------------------------------


def save(obj: Any, path: PathLike) -> None:
    """Save a state dict, or nested dicts/lists/tuples of arrays and plain values.

    The `torch.save` habit without pickle. Arrays may be numpy, JAX or PyTorch arrays,
    or anything with `__array__` (an ember `Parameter`); their dtype is kept exactly
    (bfloat16 included). Other leaves may be `int`, `float`, `str`, `bool` or `None`;
    dict keys may be `str`, `int`, `float`, `bool` or `None`. A module is saved through
    its state dict (`save(net.state_dict(), path)`), never whole: see `TypeError` below.
    A top-level dict of arrays is stored under its own keys, so the file is also a
    plain safetensors file that `safetensors.torch.load_file` reads. An array reached
    twice (tied weights) is stored twice and loads as two separate arrays.

    >>> em.save({"model": net.state_dict(), "epoch": 3, "lr": 1e-3}, "ckpt.safetensors")

    Raises:
        TypeError: `obj` is (or contains) a module or another object that is not data.
    """
    if hasattr(path, "write"):  # an open binary file, as torch.save(obj, f) takes
        with tempfile.TemporaryDirectory() as tmp:
            name = os.path.join(tmp, "file.safetensors")
            save(obj, name)
            with open(name, "rb") as written:
                path.write(written.read())
        return
    skeleton, tensors = _Flattener().run(obj)
    structure = json.dumps(
        {"version": _FORMAT_VERSION, "root": skeleton}, separators=(",", ":"), allow_nan=False
    )
    if len(structure) > MAX_HEADER // 2:  # readers refuse headers over MAX_HEADER
        raise CheckpointError(
            f"cannot write {os.fspath(path)!r}: {len(structure)} bytes of non-array data "
            "(numbers, strings) do not fit in a safetensors header; store long lists of "
            "numbers as numpy arrays"
        )
    metadata = {
        _STRUCTURE_KEY: structure,
        _DIGEST_KEY: _digest(structure, {k: _table_entry(v) for k, v in tensors.items()}),
    }
    _atomic_save_file(tensors, path, metadata)


def save_safetensors(
    state_dict: dict[str, Any], path: PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write a flat `{name: array}` dict as a plain safetensors file (PyTorch reads it).

    `safetensors.torch.load_file(path)` gives the same names, shapes and dtypes, so a
    file written from `net.state_dict()` loads into the same PyTorch model. `metadata`
    is optional free text (`{str: str}`) stored in the header. Arrays are converted as
    in `save`; dtypes are kept (bfloat16 stays bfloat16, ember's int32 stays int32).

    >>> em.save_safetensors(net.state_dict(), "model.safetensors", {"format": "pt"})
    """
    if not isinstance(state_dict, dict):
        raise TypeError(
            f"save_safetensors expects a flat dict of name -> array, got "
            f"{type(state_dict).__name__}; use em.save for nested objects"
        )
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise TypeError("metadata must be a dict of str -> str (safetensors stores text only)")
    tensors = {}
    for name, value in state_dict.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise TypeError(
                f"save_safetensors: key {name!r} is not usable as a tensor name "
                "(names are strings other than '__metadata__')"
            )
        array = _as_array(value, f"[{name!r}]")
        if array is None:
            raise TypeError(
                f"save_safetensors: entry {name!r} is a {type(value).__name__}, not an array; "
                "plain safetensors files hold arrays only: use em.save for numbers, strings "
                "and nested containers"
            )
        tensors[name] = array
    _atomic_save_file(tensors, path, metadata)


def _module_refusal(obj: Any, where: str) -> TypeError:
    name = type(obj).__name__
    return TypeError(
        f"cannot save the {name} module{where}: a module is saveable whole only through "
        "its state dict. A module is code (its class, forward and submodules), not data; "
        "storing code means pickle, which runs arbitrary code when loaded and breaks when "
        "the class changes. Fix: em.save(net.state_dict(), path), and to load it rebuild "
        f"the module from its class and call net = {name}(...); "
        "net.load_state_dict(em.load(path))"
    )


class _Flattener:
    """Turns an object into a JSON skeleton plus {key: numpy array}."""

    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}
        self.open: set[int] = set()  # ids of the containers being flattened (cycle check)

    def run(self, obj: Any) -> tuple[Any, dict[str, np.ndarray]]:
        return self.node(obj, [], ""), self.tensors

    def key_for(self, parts: list[str]) -> str:
        base = ".".join(parts) or "tensor"
        key, n = base, 0
        while key in self.tensors or key == "__metadata__":
            n += 1
            key = f"{base}#{n}"
        return key

    def node(self, obj: Any, parts: list[str], where: str) -> Any:
        t = type(obj)
        if obj is None or t is bool or t is int or t is str:
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if t in (dict, OrderedDict, list, tuple):
            if id(obj) in self.open:
                raise TypeError(f"cannot save obj{where}: the {t.__name__} contains itself")
            self.open.add(id(obj))
            try:
                return self.container(obj, t, parts, where)
            finally:
                self.open.discard(id(obj))
        if _looks_like_module(obj):
            raise _module_refusal(obj, f" at obj{where}" if where else "")
        array = _as_array(obj, where)
        if array is None:
            raise TypeError(
                f"cannot save a {t.__module__}.{t.__qualname__} object"
                f"{' at obj' + where if where else ''}: em.save stores data only "
                "(arrays, dict, OrderedDict, list, tuple, int, float, str, bool, None). "
                "Other objects would need their code stored with them (pickle), which ember "
                "never writes or runs. Fix: convert it to those types (e.g. its state_dict() "
                "or a dict of its fields) and rebuild the object from its class after loading"
            )
        key = self.key_for(parts)
        self.tensors[key] = array
        return {"array": key, "scalar": True} if isinstance(obj, np.generic) else {"array": key}

    def container(self, obj: Any, t: type, parts: list[str], where: str) -> dict:
        if t is dict or t is OrderedDict:
            items = []
            for k, v in obj.items():
                items.append(
                    [self.dict_key(k, where), self.node(v, [*parts, str(k)], f"{where}[{k!r}]")]
                )
            return {"dict" if t is dict else "odict": items}
        if t is list or t is tuple:
            name = "list" if t is list else "tuple"
            return {
                name: [self.node(v, [*parts, str(i)], f"{where}[{i}]") for i, v in enumerate(obj)]
            }

    @staticmethod
    def dict_key(k: Any, where: str) -> Any:
        t = type(k)
        if k is None or t is bool or t is int or t is str:
            return k
        if t is float and math.isfinite(k):
            return k
        raise TypeError(
            f"cannot save dict key {k!r} ({t.__name__}) at obj{where}: keys must be "
            "str, int, finite float, bool or None"
        )


def _looks_like_module(obj: Any) -> bool:
    from ember.nn.module import Module

    if isinstance(obj, Module):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _as_array(value: Any, where: str) -> np.ndarray | None:
    """numpy / JAX / torch / `__array__` value -> contiguous little-endian numpy array."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # torch's .numpy() refuses bfloat16
            array = value.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        else:
            try:
                array = value.numpy()
            except (TypeError, RuntimeError) as e:
                raise TypeError(f"cannot save torch tensor at obj{where}: {e}") from None
    elif isinstance(value, np.ndarray | np.generic) or hasattr(value, "__array__"):
        array = np.asarray(value)
    else:
        return None
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    if dtype not in DTYPE_TO_CODE:
        raise TypeError(
            f"cannot save an array of dtype {array.dtype} at obj{where}: supported dtypes are "
            f"{SUPPORTED}"
        )
    return np.asarray(array, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)


def _table_entry(array: np.ndarray) -> list:
    return [DTYPE_TO_CODE[array.dtype], list(array.shape)]


def _digest(structure: str, table: dict[str, list]) -> str:
    canonical = json.dumps([structure, sorted([k, *v] for k, v in table.items())])
    return hashlib.sha256(canonical.encode()).hexdigest()


def _atomic_save_file(
    tensors: dict[str, np.ndarray], path: PathLike, metadata: dict[str, str] | None
) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path!r}: directory {directory!r} does not exist")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or clobber someone else's file; mode 0o666 lets the umask apply.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    mode = os.fstat(fd).st_mode & 0o777
    os.close(fd)
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode & 0o777  # overwriting keeps the file's permissions
    try:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except OSError:
            raise
        except Exception as e:  # safetensors' own errors
            raise CheckpointError(f"cannot write {path!r}: {e}") from e
        os.chmod(tmp, mode)  # some safetensors versions recreate the file as 0o600
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        with contextlib.suppress(OSError):
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


# -- reading ------------------------------------------------------------------------


def load(path: PathLike, map_location: Any = None, weights_only: bool = True) -> Any:
    """Load what `save` wrote: the same dicts, lists, tuples and values, arrays as numpy.

    The `torch.load` habit. `map_location` is accepted for porting and ignored: arrays
    come back as host numpy arrays and XLA places them on devices when they are used.
    `weights_only` is accepted for porting: ember files hold data only and nothing is
    ever unpickled or executed, so every load is weights-only. A plain safetensors file
    (e.g. from `safetensors.torch.save_file`) loads as a flat dict, like `load_safetensors`.

    >>> net.load_state_dict(em.load("net.safetensors", map_location="cpu"))

    Raises:
        CheckpointError: the file is not a valid safetensors file (truncated, corrupted,
            a pickle or `torch.save` archive, a header that lies about its tensors).
        FileNotFoundError: there is no file at `path`.
    """
    del map_location, weights_only
    if hasattr(path, "read"):  # an open binary file, as torch.load(f) takes
        with tempfile.TemporaryDirectory() as tmp:
            name = os.path.join(tmp, "file.safetensors")
            with open(name, "wb") as copy:
                copy.write(path.read())
            return load(name)
    path = os.fspath(path)
    table, metadata = read_header(path)
    if _STRUCTURE_KEY not in metadata and _DIGEST_KEY not in metadata:  # a plain file
        return read_tensors(path, table)
    structure = metadata.get(_STRUCTURE_KEY, "")
    if metadata.get(_DIGEST_KEY) != _digest(structure, {k: [v[0], v[1]] for k, v in table.items()}):
        raise bad(path, "header checksum mismatch: the header was modified or corrupted")
    try:
        parsed = json.loads(structure)
    except (ValueError, RecursionError) as e:
        raise bad(path, f"the ember structure in the metadata is not valid JSON ({e})") from None
    if not isinstance(parsed, dict) or parsed.get("version") != _FORMAT_VERSION:
        version = parsed.get("version") if isinstance(parsed, dict) else None
        raise bad(
            path,
            f"unknown ember format version {version!r} (this ember reads version "
            f"{_FORMAT_VERSION}); upgrade ember or re-save the file",
        )
    arrays = read_tensors(path, table)
    builder = ObjectBuilder(path, arrays)
    try:
        obj = builder.node(parsed.get("root"))
    except RecursionError:
        raise bad(path, "the ember structure is nested too deeply") from None
    unused = sorted(set(arrays) - builder.used)
    if unused:
        raise bad(path, f"tensor(s) {unused[:5]} are not referenced by the ember structure")
    return obj


def load_safetensors(path: PathLike) -> dict[str, np.ndarray]:
    """Read a plain safetensors file into `{name: numpy array}`, sorted by name.

    Files from `safetensors.torch.save_file(torch_net.state_dict(), p)` load straight
    into the same ember module: `net.load_state_dict(em.load_safetensors(p))` (names and
    layouts are PyTorch's). Dtypes are kept as stored: bfloat16 comes back as
    `ml_dtypes.bfloat16` arrays and int64 as int64; `Module.load_state_dict` then casts
    each value to the parameter's or buffer's dtype (torch's int64 `num_batches_tracked`
    goes into ember's int32 buffer). The header's `__metadata__` is ignored.

    >>> sd = em.load_safetensors("model.safetensors")
    >>> net.load_state_dict(sd)

    Raises:
        CheckpointError: truncated, corrupted or lying file, or a pickle / `torch.save` file.
        FileNotFoundError: there is no file at `path`.
    """
    path = os.fspath(path)
    table, _ = read_header(path)
    return read_tensors(path, table)
