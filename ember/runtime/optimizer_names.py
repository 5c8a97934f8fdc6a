"""The optimizers a compiled model steps, by name, checked to be ember optimizers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def named_optimizers(optimizer: Any) -> dict[str, Any]:
    """`em.compile`'s `optimizer=`: one optimizer (named "loss") or a dict of them."""
    if optimizer is None:
        return {}
    if isinstance(optimizer, Mapping):
        if not optimizer:
            raise ValueError("optimizer={} names no optimizer")
        named = dict(optimizer)
    else:
        named = {"loss": optimizer}
    for name, opt in named.items():
        if not hasattr(opt, "bind_params"):  # not an ember.optim.Optimizer
            closure = " (it needs a closure: call opt.step(closure) in your loop)"
            raise TypeError(
                f"em.compile: optimizer {name!r} is a {type(opt).__name__}, which a compiled "
                f"step cannot run{closure if hasattr(opt, 'step') else ''}; fix: pass an "
                "ember.optim optimizer such as optim.Adam(net.parameters())"
            )
    return named
