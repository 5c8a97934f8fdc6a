"""An optimizer's `state_dict` / `load_state_dict` in PyTorch's layout.

`{"state": {...}, "param_groups": [{hyperparameters..., "params": [indices]}]}`: the
groups as in PyTorch (parameters by their index across groups); the state holds the
optimizer's arrays in a fixed order, keyed `"0"`, `"1"`, ... (ember's updates are
optax-style, so the arrays are not PyTorch's per-parameter `exp_avg` dicts). Everything
is a plain value or array: `em.save(optimizer.state_dict(), path)` writes it as data
only, and `load_state_dict` accepts what `em.load` gives back.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.errors import ShapeError


def optimizer_state_dict(opt: Any) -> dict:
    leaves = jax.tree_util.tree_leaves(opt.opt_state)
    groups, start = [], 0
    for g in opt.param_groups:
        n = len(g["params"])
        groups.append(
            {
                **{k: v for k, v in g.items() if k != "params"},
                "params": list(range(start, start + n)),
            }
        )
        start += n
    return {"state": {str(i): np.asarray(v) for i, v in enumerate(leaves)}, "param_groups": groups}


def load_optimizer_state_dict(opt: Any, state_dict: dict) -> None:
    groups = state_dict["param_groups"]
    mine = [len(g["params"]) for g in opt.param_groups]
    sizes = [len(g["params"]) for g in groups] if all("params" in g for g in groups) else mine
    if len(groups) != len(mine) or sizes != mine:  # (states saved before "params": counts only)
        raise ShapeError(
            f"{type(opt).__name__}.load_state_dict: the saved groups hold {sizes} parameters, "
            f"this optimizer's {mine}; fix: build the "
            "optimizer over the same parameters (and groups) as the one that was saved"
        )
    current = opt.opt_state
    leaves = jax.tree_util.tree_leaves(current)
    saved = state_dict["state"]
    if len(saved) != len(leaves):
        raise ShapeError(
            f"{type(opt).__name__}.load_state_dict: the saved state has {len(saved)} arrays, "
            f"this optimizer needs {len(leaves)}; fix: load a state saved by the same "
            "optimizer class and options"
        )
    new = []
    for i, leaf in enumerate(leaves):
        value = np.asarray(saved[str(i)])
        if value.shape != leaf.shape:
            raise ShapeError(
                f"{type(opt).__name__}.load_state_dict: array {i} has shape {value.shape}, "
                f"this optimizer's has {tuple(leaf.shape)}; fix: load a state saved for the "
                "same parameters"
            )
        new.append(jnp.asarray(value, dtype=leaf.dtype))
    opt.opt_state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(current), new)
    for group, saved_group in zip(opt.param_groups, groups, strict=False):
        for k, v in saved_group.items():
            if k != "params":
                group[k] = tuple(v) if isinstance(v, list) else v


__all__ = ["optimizer_state_dict", "load_optimizer_state_dict"]
