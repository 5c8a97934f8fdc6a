"""Warn when traced code draws from Python's `random` or `numpy.random`.

A value drawn while tracing a compiled step is a constant of the compiled program:
seq2seq teacher forcing written as `use_tf = random.random() < 0.5` would freeze
the first draw into every step. While such a trace runs, these functions warn once
per call site (the user's file:line) with the fix, then behave as usual. An eager
call (`net(x)` outside a compiled step) whose forward draws is traced anew at every
call instead, as PyTorch runs it (`DRAWS`, read by `runtime/lazy.py`).
"""

from __future__ import annotations

import contextlib
import functools
import random
import warnings
from collections.abc import Iterator

import numpy as np

from ember.frontend.tracer import EAGER_CALL_TRACE, user_frame

_PYTHON = (
    "random",
    "randint",
    "uniform",
    "choice",
    "gauss",
    "normalvariate",
    "randrange",
    "shuffle",
    "sample",
    "betavariate",
    "expovariate",
)
_NUMPY = (
    "rand",
    "randn",
    "random",
    "randint",
    "uniform",
    "normal",
    "choice",
    "permutation",
    "shuffle",
    "binomial",
    "random_sample",
    "standard_normal",
)
_WARNED: set[tuple[str, int]] = set()
# draws made while a trace ran: an eager module call whose forward drew does not reuse that
# trace (`for _ in range(random.randint(0, 3))` in PyTorch's dynamic_net example)
DRAWS = [0]
_DEPTH = [0]


class TracedRandomnessWarning(UserWarning):
    """A Python-side random draw during tracing: it is frozen into the compiled program."""


def _watch(module, name: str, label: str):
    original = getattr(module, name)

    @functools.wraps(original)
    def watched(*args, **kwargs):
        DRAWS[0] += 1
        if EAGER_CALL_TRACE[0]:  # an eager `net(x)` traces anew for every call that draws
            return original(*args, **kwargs)
        file, line = user_frame()
        if (file, line) not in _WARNED:
            _WARNED.add((file, line))
            warnings.warn(
                f"{label}.{name}() was called while ember traced your code ({file}:{line}); "
                "its value is now a constant of the compiled program and repeats at every "
                "step. Fix: draw with ember inside the model, e.g. `em.rand(()) < p` with "
                "em.where(...) or em.cond(...), or draw outside and pass it in as an input.",
                TracedRandomnessWarning,
                stacklevel=2,
            )
        return original(*args, **kwargs)

    return original, watched


@contextlib.contextmanager
def watch_python_randomness() -> Iterator[None]:
    """Patch `random.*` and `numpy.random.*` for the duration of a (possibly nested) trace."""
    _DEPTH[0] += 1
    if _DEPTH[0] > 1:
        try:
            yield
        finally:
            _DEPTH[0] -= 1
        return
    patched = []
    for module, names, label in ((random, _PYTHON, "random"), (np.random, _NUMPY, "numpy.random")):
        for name in names:
            if hasattr(module, name):
                original, watched = _watch(module, name, label)
                setattr(module, name, watched)
                patched.append((module, name, original))
    try:
        yield
    finally:
        _DEPTH[0] -= 1
        for module, name, original in patched:
            setattr(module, name, original)
