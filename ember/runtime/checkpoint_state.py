"""A compiled model's full training state: as a dict, or as an orbax checkpoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ember.errors import ShapeError


class CheckpointMixin:
    """`state_dict()` / `load_state_dict()` and `save_checkpoint` / `restore_checkpoint`
    of a `CompiledModel`."""

    def save_checkpoint(self, directory, *, data: dict | None = None) -> int:
        """Write the whole training state to `directory` (as step `model.step`, atomically);
        returns the step."""
        from ember.runtime.checkpoint import CheckpointManager

        mgr = CheckpointManager(directory, async_save=False)
        try:
            mgr.save(self.step, self, data=data, force=True)
            mgr.wait_until_finished()
        finally:
            mgr.close()
        return self.step

    def restore_checkpoint(self, directory, step: int | None = None) -> dict:
        """Load `step` (None: the latest) from `directory`; returns its metadata."""
        from ember.runtime.checkpoint import CheckpointManager

        mgr = CheckpointManager(directory, async_save=False)
        try:
            return mgr.restore(step, self)
        finally:
            mgr.close()

    def state_dict(self) -> dict:
        """Model state (torch names), each optimizer's state and groups, and the step."""
        optimizers = {}
        for name, opt in self.optimizers.items():
            leaves = jax.tree_util.tree_leaves(opt.opt_state)
            optimizers[name] = {
                "state": {str(i): np.asarray(v) for i, v in enumerate(leaves)},
                "param_groups": [
                    {k: v for k, v in g.items() if k != "params"} for g in opt.param_groups
                ],
            }
        return {
            "model": self.module.state_dict(),
            "optimizers": optimizers,
            "step": int(self.run["step"]),
        }

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        for name, opt in self.optimizers.items():
            saved = state["optimizers"][name]
            current = opt.opt_state
            treedef = jax.tree_util.tree_structure(current)
            leaves = jax.tree_util.tree_leaves(current)
            if len(saved["state"]) != len(leaves):
                raise ShapeError(
                    f"optimizer {name!r} state has {len(saved['state'])} arrays, this optimizer "
                    f"needs {len(leaves)}"
                )
            new = [
                jnp.asarray(saved["state"][str(i)], dtype=leaf.dtype)
                for i, leaf in enumerate(leaves)
            ]
            opt.opt_state = jax.tree_util.tree_unflatten(treedef, new)
            for group, saved_group in zip(opt.param_groups, saved["param_groups"], strict=False):
                for k, v in saved_group.items():
                    group[k] = tuple(v) if isinstance(v, list) else v
        self.run["step"] = jnp.asarray(state["step"], jnp.int32)
