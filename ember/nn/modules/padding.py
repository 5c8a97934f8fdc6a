"""Padding layers with PyTorch's names: `ZeroPad{1,2,3}d`, `ConstantPad{1,2,3}d`,
`ReflectionPad{1,2,3}d`, `ReplicationPad{1,2,3}d`, `CircularPad{1,2,3}d`.

`padding` is one int (every side) or a tuple `(left, right[, top, bottom[, front,
back]])` for the last 1, 2 or 3 dims, as in `F.pad`.

>>> pad = ReflectionPad2d(3)            # CycleGAN's ResNet generator
>>> pad = ConstantPad1d((2, 0), 1.5)    # causal padding with a value
"""

from __future__ import annotations

from ember.nn.functional.pad import pad
from ember.nn.module import Module

__all__ = [
    f"{kind}Pad{d}d"
    for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
    for d in (1, 2, 3)
]


def _sides(name: str, padding, dims: int) -> tuple[int, ...]:
    if isinstance(padding, int):
        padding = (padding,) * (2 * dims)
    padding = tuple(int(p) for p in padding)
    if len(padding) != 2 * dims:
        raise ValueError(
            f"{name}: padding must be an int or {2 * dims} ints (left, right"
            f"{', top, bottom' if dims > 1 else ''}{', front, back' if dims > 2 else ''}), "
            f"got {padding}"
        )
    return padding


class _Pad(Module):
    dims = 1
    mode = "constant"

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        self.padding = _sides(type(self).__name__, padding, self.dims)
        self.value = float(value)

    def forward(self, input):
        if self.mode == "constant":
            return pad(input, self.padding, "constant", self.value)
        return pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        if self.mode == "constant" and type(self).__name__.startswith("Constant"):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


def _layer(kind: str, dims: int, mode: str, doc: str) -> type:
    name = f"{kind}Pad{dims}d"
    if kind == "Constant":

        def __init__(self, padding, value: float):
            _Pad.__init__(self, padding, value)

    else:

        def __init__(self, padding):
            _Pad.__init__(self, padding)

    layer = type(name, (_Pad,), {"dims": dims, "mode": mode, "__init__": __init__})
    layer.__module__ = __name__
    layer.__qualname__ = name
    dim_s = f"{dims} dim{'s' if dims > 1 else ''}"
    layer.__doc__ = f"Pads the last {dim_s} with {doc} (`F.pad` mode {mode!r})."
    return layer


_KINDS = {
    "Zero": ("constant", "zeros"),
    "Constant": ("constant", "a constant `value`"),
    "Reflection": ("reflect", "the input mirrored at its edges (edge values not repeated)"),
    "Replication": ("replicate", "copies of the edge values"),
    "Circular": ("circular", "the input wrapped around"),
}
for _kind, (_mode, _doc) in _KINDS.items():
    for _d in (1, 2, 3):
        globals()[f"{_kind}Pad{_d}d"] = _layer(_kind, _d, _mode, _doc)
