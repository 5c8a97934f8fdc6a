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

import weakref
from typing import Any

# per trace being collected: {(id(module), name): (module, name, tensor, previous value)}
WRITES: list[dict] = []
# per trace being collected: ids of lazy tensors embedded as constants
EMBEDDED: list[set] = []
# tensors an eager call has set back on a module, by id (a WeakSet would compare tensors
# with `==`, which is an elementwise op)
STORED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def note_write(module: Any, name: str, value: Any, builder: Any) -> None:
    """A traced forward set `module.<name> = value` (a tensor of the trace `builder`)."""
    if WRITES and getattr(value, "builder", None) is builder:
        key = (id(module), name)
        previous = WRITES[-1][key][3] if key in WRITES[-1] else module.__dict__.get(name)
        WRITES[-1][key] = (module, name, value, previous)


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
    if EMBEDDED:
        EMBEDDED[-1].add(id(tensor))
    return None


def read_and_overwritten(writes: list) -> list[str]:
    """Attributes a forward both read (embedded) and overwrote: a running value."""
    embedded = EMBEDDED[-1] if EMBEDDED else set()
    return [name for _, name, _, previous in writes if id(previous) in embedded]


__all__ = ["EMBEDDED", "STORED", "WRITES", "note_embedded", "note_write", "read_and_overwritten"]
