"""Before a step donates arrays: snapshots that share them get their own copies.

See `ember/frontend/lent_arrays.py` for why tensors share arrays with the state and how
they are noted. Runners call `keep_lent(...)` with what they are about to donate, right
before the call: O(1) when no sharing tensor is alive.
"""

from __future__ import annotations

from typing import Any

import jax

from ember.frontend import lent_arrays


def keep_lent(*trees: Any) -> None:
    """Give every live tensor value that shares an array in `trees` a private copy."""
    if not lent_arrays.any_lent():
        return
    # no isinstance filter: jax.Array's check costs ~0.6 us a leaf, and ids of other
    # leaves match nothing
    for array, holders in lent_arrays.take_holders(jax.tree_util.tree_leaves(trees)):
        copy = jax.device_put(array, array.sharding, may_alias=False)
        for value in holders:
            value.data = copy
