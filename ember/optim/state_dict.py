"""An optimizer's `state_dict` / `load_state_dict` in PyTorch's layout.

`{"state": {...}, "param_groups": [{hyperparameters..., "params": [indices]}]}`: the
groups as in PyTorch (parameters by their index across groups). The state of PyTorch's
optimizers (the rule-based ones) is torch's per-parameter layout, `{index: {"step":
..., "exp_avg": ..., ...}}` under torch's names (see `parameter_state.py`); optax-native
ones (Lion, LAMB) keep their optax state's arrays in a fixed order, keyed `"0"`, `"1"`,
.... `load_state_dict` takes either (states saved by earlier ember versions were all in
the second form). Everything is a plain value or array: `em.save(optimizer.state_dict(),
path)` writes it as data only, and `load_state_dict` accepts what `em.load` gives back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.errors import ShapeError
from ember.frontend.host_arrays import owned
from ember.optim.parameter_state import load_per_parameter_state, per_parameter_state_dict

# PyTorch's implementation switches: accepted by every optimizer and ignored (base.py),
# and not loaded from torch's param groups
TORCH_ONLY_OPTIONS = ("foreach", "fused", "capturable", "differentiable")


def _per_parameter(opt: Any) -> bool:
    return hasattr(type(opt), "slot_names")


def optimizer_state_dict(opt: Any) -> dict:
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
    if _per_parameter(opt):
        state = per_parameter_state_dict(opt)
    else:
        leaves = jax.tree_util.tree_leaves(opt.opt_state)
        state = {str(i): np.asarray(v) for i, v in enumerate(leaves)}
    return {"state": state, "param_groups": groups}


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
    saved = state_dict["state"]
    if _per_parameter(opt) and all(isinstance(v, Mapping) for v in saved.values()):
        load_per_parameter_state(opt, saved)
    else:
        _load_leaves(opt, saved)
    for group, saved_group in zip(opt.param_groups, groups, strict=False):
        for k, v in saved_group.items():
            # torch's implementation switches (foreach, fused...) are not options here
            if k != "params" and k not in TORCH_ONLY_OPTIONS:
                group[k] = tuple(v) if isinstance(v, list) else v


def _load_leaves(opt: Any, saved: Mapping) -> None:
    current = opt.opt_state
    leaves = jax.tree_util.tree_leaves(current)
    if len(saved) != len(leaves):
        raise ShapeError(
            f"{type(opt).__name__}.load_state_dict: the saved state has {len(saved)} arrays, "
            f"this optimizer needs {len(leaves)}; fix: load a state saved by the same "
            "optimizer class and options"
        )
    new = []
    for i, leaf in enumerate(leaves):
        value = owned(np.asarray(saved[str(i)]))  # the caller may change its array later
        if value.shape != leaf.shape:
            raise ShapeError(
                f"{type(opt).__name__}.load_state_dict: array {i} has shape {value.shape}, "
                f"this optimizer's has {tuple(leaf.shape)}; fix: load a state saved for the "
                "same parameters"
            )
        new.append(jnp.asarray(value, dtype=leaf.dtype))
    opt.opt_state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(current), new)


__all__ = ["optimizer_state_dict", "load_optimizer_state_dict"]
