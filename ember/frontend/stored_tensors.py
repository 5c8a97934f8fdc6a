"""Tensors a traced `forward` stores on modules (`self.kl = ...`, as PyTorch VAEs do).

An eager call (`runtime/lazy.py`) traces its module's forward once and reruns the program:
the tensors the forward stored on modules are returned as extra outputs and set back on
the modules after each call, so `model.encoder.kl` holds this call's value. While a trace
is collected, `Module.__setattr__` reports such writes here (`note_write`), and
`as_tensor` reports lazy tensors it embeds as constants (`note_embedded`): a stored tensor
read inside a later trace would be frozen at that value by the cached program, so that
is an error, as is a forward reading the value it overwrites (a running value: a buffer).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ember.frontend.tracer import user_frame

# per thread, per trace being collected (innermost last): the forward's writes
# {(id(module), name): (module, name, tensor, previous value)}, and the ids of lazy tensors
# embedded as constants. Per thread like the tracer's own stack: two threads tracing at
# once must not see each other's writes.
_local = threading.local()
# tensors an eager call has set back on a module, by id (a WeakSet would compare tensors
# with `==`, which is an elementwise op)
STORED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _stacks() -> tuple[list[dict], list[dict], list[dict]]:
    stacks = getattr(_local, "stacks", None)
    if stacks is None:
        stacks = _local.stacks = ([], [], [])
    return stacks


def collecting() -> bool:
    """Whether this thread is collecting a forward's writes (`collect`)."""
    stacks = getattr(_local, "stacks", None)
    return bool(stacks and stacks[0])


@contextmanager
def collect() -> Iterator[dict]:
    """Collect the tensors a forward stores on modules while it is traced: yields the
    `{(id(module), name): (module, name, tensor, previous)}` dict being filled."""
    writes, embedded, sliced = _stacks()
    writes.append({})
    embedded.append({})
    sliced.append({})
    try:
        yield writes[-1]
    finally:
        writes.pop()
        embedded.pop()
        sliced.pop()


def note_slice(part: Any, whole: Any) -> None:
    """A traced forward sliced a lazy tensor made outside it on the host (`part =
    whole[:t]`): `part` counts as held wherever `whole` is (a module attribute such as
    LLaMA's `self.freqs_cis[:seqlen]` is no global)."""
    sliced = _stacks()[2]
    if sliced:
        sliced[-1][id(part)] = (part, whole)


def note_write(module: Any, name: str, value: Any, builder: Any) -> None:
    """A traced forward set `module.<name> = value` (a tensor of the trace `builder`)."""
    writes = _stacks()[0]
    if writes and getattr(value, "builder", None) is builder:
        key = (id(module), name)
        previous = writes[-1][key][3] if key in writes[-1] else module.__dict__.get(name)
        writes[-1][key] = (module, name, value, previous)


def note_embedded(tensor: Any) -> str | None:
    """A lazy tensor is being embedded in a trace as a constant: the reason that is wrong
    (None: fine)."""
    if STORED.get(id(tensor)) is tensor:
        return (
            "a tensor an earlier call stored on a module (like `self.kl` set in forward) is "
            "read inside a traced forward, whose cached program would keep this value for "
            "every later call; fix: pass it as an argument, or keep a running value with "
            "self.register_buffer(...)"
        )
    embedded = _stacks()[1]
    if embedded:
        embedded[-1][id(tensor)] = (tensor, user_frame())
    return None


def embedded_from_outside(modules: Any) -> list[tuple[Any, tuple[str, int]]]:
    """The lazy tensors this trace embedded as constants that no module in `modules`
    holds as an attribute (a global or closure variable): `(tensor, (file, line))`."""
    stack = _stacks()[1]
    if not stack or not stack[-1]:
        return []
    writes = _stacks()[0]
    held = {id(w[3]) for w in writes[-1].values()} if writes else set()  # overwritten here
    for m in modules:
        for v in m.__dict__.values():
            held.add(id(v))
            if isinstance(v, (list, tuple)):  # `self.masks = [...]`
                held.update(id(x) for x in v)
            elif isinstance(v, dict):
                held.update(id(x) for x in v.values())
    sliced = _stacks()[2][-1]
    wholes = {key: id(whole) for key, (_, whole) in sliced.items()}
    return [
        (t, where)
        for key, (t, where) in stack[-1].items()
        if key not in held and wholes.get(key) not in held
    ]


def read_and_overwritten(writes: list) -> list[str]:
    """Attributes a forward both read (embedded) and overwrote: a running value."""
    stack = _stacks()[1]
    embedded = stack[-1] if stack else {}
    return [name for _, name, _, previous in writes if id(previous) in embedded]


__all__ = [
    "STORED",
    "collect",
    "collecting",
    "embedded_from_outside",
    "note_embedded",
    "note_slice",
    "note_write",
    "read_and_overwritten",
]
