"""How a compiled step names its IR inputs, and Python lists read as arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.frontend.trace import input_names
from ember.nn.module import Module

from .program import CallSignature


def step_input_names(
    module: Module, signature: CallSignature, kind: str, has_targets: bool
) -> list[str]:
    """IR input names: forward's parameter names (or dict keys) for the model inputs,
    `target` for targets, `carry` and `sample_weight`; nested leaves add their path
    (`hidden.0`, `target.mask`)."""
    forward = input_names(module.forward, 64)
    names = []
    for path in signature.array_paths():
        parts = path.split(".") if path else ["0"]
        if kind != "predict":
            if parts[0] == "1":
                names.append(".".join(["carry", *parts[1:]]))
                continue
            if parts[0] == "2":
                names.append("sample_weight")
                continue
            parts = parts[1:]  # inside the batch
            if has_targets:
                if parts and parts[0] == "1":
                    names.append(".".join(["target", *parts[1:]]))
                    continue
                parts = parts[1:]
            elif not parts:
                names.append("batch")
                continue
            else:
                names.append(".".join(["batch", *parts]))
                continue
        if not parts:
            names.append(forward[0])
            continue
        head = parts[0]
        if head.isdigit():
            head = forward[int(head)] if int(head) < len(forward) else f"input{head}"
        names.append(".".join([head, *parts[1:]]))
    return unique(names)


def unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        n = "".join(c if c.isalnum() or c in "._-" else "_" for c in n)
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


def as_host_if_list(x: Any) -> Any:
    """(Nested) Python lists of numbers are arrays; lists of arrays stay structures."""
    return np.asarray(x) if isinstance(x, list) and x and _numbers_only(x) else x


def _numbers_only(x: Any) -> bool:
    if isinstance(x, list):
        return all(_numbers_only(v) for v in x)
    return isinstance(x, (bool, int, float))
