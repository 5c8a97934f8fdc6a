"""Constructor argument checks shared by the layers: a ValueError naming layer and argument.

Layers reject what PyTorch's constructors reject, and arguments no input could
make work (a negative size, a zero stride, a probability outside [0, 1]) that
PyTorch only reports at the first forward call.
"""

from __future__ import annotations


def check_size(layer: str, name: str, value, *, positive: bool = False) -> None:
    """A size: an integer >= 0 (> 0 with `positive`)."""
    if not (value > 0 if positive else value >= 0):
        kind = "a positive integer" if positive else "a non-negative integer"
        raise ValueError(f"{layer}: {name} must be {kind}, got {value}")


def check_sizes(layer: str, name: str, values, *, positive: bool = False) -> None:
    """Each entry of an int-or-tuple argument (kernel_size, stride, padding, ...)."""
    items = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if any(v is not None and not (v > 0 if positive else v >= 0) for v in items):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{layer}: {name} must be {kind}, got {values}")


def check_ndim(layer: str, name: str, values, d: int) -> None:
    """An int-or-tuple argument of a d-dimensional layer has 1 or d entries."""
    if isinstance(values, (list, tuple)) and len(values) not in (1, d):
        raise ValueError(f"{layer}: {name} must be an int or a tuple of {d} ints, got {values}")


def check_probability(layer: str, name: str, p) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{layer}: {name} probability has to be between 0 and 1, but got {p}")
