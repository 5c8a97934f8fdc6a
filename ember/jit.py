"""`em.jit`: TorchScript's decorators and predicates, accepted for porting.

ember compiles every model already (`em.compile`, or the step a literal loop records), so
TorchScript has nothing to add: the decorators return what they decorate, `script` and
`trace` return the module or function unchanged, and `is_scripting()` is False, which
is PyTorch's eager answer, so code that branches on it takes its eager path.

>>> class Block(em.nn.Module):
...     @em.jit.unused
...     def checkpointed(self, x):
...         return x
>>> em.jit.is_scripting()
False
"""

from __future__ import annotations

from typing import Any, Final, TypeVar  # noqa: F401  (`torch.jit.Final[int]` annotations)

T = TypeVar("T")


def _unchanged(fn: T) -> T:
    return fn


unused = ignore = export = _overload = _overload_method = _unchanged


def script(obj: T, *args: Any, **kwargs: Any) -> T:
    """The module or function itself: ember traces and compiles it when it runs."""
    return obj


def trace(obj: T, example_inputs: Any = None, *args: Any, **kwargs: Any) -> T:
    """The module or function itself (see `script`); `em.trace` prints ember's IR."""
    return obj


def save(m: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    """`torch.jit.save`: a TorchScript archive cannot be written by ember."""
    raise NotImplementedError(
        "ember cannot write TorchScript archives; fix: em.save(net.state_dict(), "
        "'model.safetensors') for the weights (em.load reads them back)"
    )


def load(f: Any, *args: Any, **kwargs: Any) -> Any:
    """`torch.jit.load`: a TorchScript archive is pickled code, which ember never loads."""
    raise NotImplementedError(
        "ember does not load TorchScript archives (pickled code); fix: save the weights "
        "from PyTorch as safetensors and load them with net.load_state_dict(em.load(path))"
    )


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return False


def annotate(the_type: Any, the_value: T) -> T:
    return the_value


__all__ = [
    "Final",
    "annotate",
    "export",
    "ignore",
    "is_scripting",
    "is_tracing",
    "load",
    "save",
    "script",
    "trace",
    "unused",
]
