"""User-facing error classes. Every message says what, where and how to fix.

`where` is the module path (e.g. ``encoder.layers.0.attn``) and the user's
``file:line``, filled in by the tracer when an op is emitted.
"""

from __future__ import annotations


class EmberError(Exception):
    """Base class of every error ember raises for a user mistake."""

    located = False  # set by `with_location`: the message already says where


class TraceError(EmberError):
    """The Python code in `forward` cannot be traced (e.g. `if` on a traced value)."""


class ShapeError(EmberError, ValueError):
    """Shapes that do not fit together (matmul sizes, broadcasting, loss targets)."""


class IndexOutOfRangeError(ShapeError, IndexError):
    """An index past a dimension's size (`x[5]` on 3 rows, `t[0]` on a 0-d tensor): an
    `IndexError`, as PyTorch raises, and a `ShapeError`."""


class DTypeError(EmberError, TypeError):
    """A dtype an op does not accept (float op on bool, int index expected, ...)."""


class UnsupportedOpError(EmberError, NotImplementedError):
    """An op, option or op name with no registered definition or lowering."""


class StateDictError(EmberError, KeyError):
    """`load_state_dict` found missing, unexpected or mis-shaped entries."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(EmberError):
    """A checkpoint that cannot be written or read back."""


class NonFiniteError(EmberError, FloatingPointError):
    """A train step produced a NaN/inf loss or gradient; the model kept its last good state."""


class TargetRangeError(EmberError, IndexError):
    """Class targets outside [0, classes) for a loss; the model kept its last good state."""


class VerifyError(EmberError):
    """`verify(graph)` found an ill-formed graph; the message shows the nearby IR."""


class GraphParseError(EmberError, ValueError):
    """IR text or JSON that does not describe a valid graph."""


def with_location(error: EmberError, module_path: str, location: str) -> EmberError:
    """Return `error` of the same class with the module path and file:line appended."""
    where = f"module '{module_path}'" if module_path else "the top-level module"
    msg = f"{error.args[0] if error.args else error}\n  where: {where}"
    if location:
        msg += f", {location}"
    new = type(error)(msg)
    new.__cause__ = error.__cause__
    new.located = True
    return new
