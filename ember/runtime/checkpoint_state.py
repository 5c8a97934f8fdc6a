"""A compiled model's full training state: as a dict, or as an orbax checkpoint."""

from __future__ import annotations

import jax.numpy as jnp


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
        optimizers = {name: opt.state_dict() for name, opt in self.optimizers.items()}
        return {
            "model": self.module._state_arrays(),
            "optimizers": optimizers,
            "step": int(self.run["step"]),
        }

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self.run["step"] = jnp.asarray(state["step"], jnp.int32)
