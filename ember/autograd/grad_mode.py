"""Grad-mode switches: `em.no_grad()`, `em.enable_grad()`, `em.set_grad_enabled(mode)`.

Each works as a context manager and as a decorator, like PyTorch's. Outside a
trace, values computed with grad disabled do not require grad; inside a traced
forward or `training_step`, results of ops computed under `no_grad` pass
through `stop_gradient`, so no gradient flows back through them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from ember.frontend.lazy import is_grad_enabled, set_grad_enabled_flag

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled"]


class _GradMode:
    mode: bool = False

    def __enter__(self) -> None:
        self._old = set_grad_enabled_flag(self.mode)

    def __exit__(self, *exc: Any) -> None:
        set_grad_enabled_flag(self._old)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with type(self)() if not isinstance(self, set_grad_enabled) else self.clone():
                return fn(*args, **kwargs)

        return wrapped


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Disable gradient recording: `with em.no_grad(): ...` or `@em.no_grad()`."""

    mode = False


class enable_grad(_GradMode):  # noqa: N801
    """Re-enable gradient recording inside a `no_grad` block."""

    mode = True


class inference_mode(no_grad):  # noqa: N801
    """Like `no_grad` (ember has no separate inference tensors)."""

    def __init__(self, mode: bool = True):
        self.mode = not mode


class set_grad_enabled(_GradMode):  # noqa: N801
    """`em.set_grad_enabled(False)`: a function call, a context manager or a decorator."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._old = set_grad_enabled_flag(self.mode)  # applies at once, like PyTorch

    def __enter__(self) -> None:
        pass

    def clone(self) -> set_grad_enabled:
        new = object.__new__(set_grad_enabled)
        new.mode = self.mode
        return _Scoped(self.mode)


class _Scoped(_GradMode):
    def __init__(self, mode: bool):
        self.mode = mode


class detect_anomaly(contextlib.ContextDecorator):  # noqa: N801 (PyTorch's name)
    """Accepted for porting. ember's own locator names the first non-finite IR node, its
    module and source line: `em.compile(..., check_numerics=True)` or
    `EMBER_CHECK_NUMERICS=1`, and `model.locate_nonfinite(batch)`."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self) -> detect_anomaly:
        return self

    def __exit__(self, *exc) -> bool:
        return False


def set_detect_anomaly(mode: bool, check_nan: bool = True) -> None:
    """Accepted for porting; see `detect_anomaly`."""
