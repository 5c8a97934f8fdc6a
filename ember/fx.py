"""`em.fx`: torch.fx's registration calls, accepted for porting.

ember's tracer records every op into its own IR (`em.trace`, `em.graph_of`), so a
function that torch.fx would keep opaque needs no registration: `wrap` returns its
argument. torch.fx's graph editing has no counterpart here.

>>> em.fx.wrap("stochastic_depth")
'stochastic_depth'
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def wrap(fn_or_name: T) -> T:
    return fn_or_name


__all__ = ["wrap"]
