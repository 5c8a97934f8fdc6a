"""A compiled model on a mesh: its `ShardingPlan`, applied to state, steps and batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember.compiler.passes.annotate_sharding import annotate_sharding

from .mesh import default_mesh
from .mesh import mesh as make_mesh
from .sharding import ShardingPlan, bytes_per_device


def make_plan(roots: list, mesh: Any, sharding: Any) -> ShardingPlan | None:
    """The plan of `em.compile(..., mesh=, sharding=)`: None on one device (or
    `mesh=False`); all local devices as `data` when several exist and no mesh is given."""
    if mesh is False:
        return None
    if mesh is None:
        mesh = default_mesh() if sharding is None else make_mesh(data=-1)
        if mesh is None:
            return None
    names, shapes, seen = [], [], set()
    for prefix, root in roots:
        for name, p in root.named_parameters(prefix=prefix):
            if id(p) not in seen:
                seen.add(id(p))
                names.append(name)
                shapes.append(p.shape)
    return ShardingPlan(mesh, sharding, names, shapes)


class ShardingMixin:
    """What a `CompiledModel` does differently on a mesh (nothing when `plan` is None)."""

    plan: ShardingPlan | None

    def _sharding_passes(self) -> tuple:
        plan = self.plan
        if plan is None:
            return ()
        return (
            annotate_sharding(
                plan.param_specs, plan.tensor_parallel, plan.batch_axes, plan.batch_ways
            ),
        )

    def _optimizer_specs(self, opt) -> tuple[list, list]:
        names = dict(zip(map(id, self.view.params), self.view.param_names, strict=True))
        specs = [self.plan.param_specs.get(names.get(id(p)), ()) for p in opt.params]
        return specs, [p.shape for p in opt.params]

    def _place_optimizers(self) -> None:
        """Optimizer state in the layout of the parameters it mirrors."""
        if self.plan is None:
            return
        for opt in self.optimizers.values():
            specs, shapes = self._optimizer_specs(opt)
            shardings = self.plan.opt_state_shardings(opt.opt_state, specs, shapes)
            opt.opt_state = self.plan.place_tree(opt.opt_state, shardings)

    def _state_layout(self) -> Callable | None:
        """For the train step: keep the returned parameters, buffers and optimizer states
        in their layout (otherwise XLA may return FSDP parameters gathered)."""
        plan = self.plan
        if plan is None:
            return None
        params = [plan.param_sharding(n) for n in self.view.param_names]
        buffers = [plan.sharding(())] * len(self.view.buffer_names)
        per_opt = [self._optimizer_specs(o) for o in self.optimizers.values()]

        def layout(new_params, new_buffers, opt_states):
            new_params = plan.constrain(list(new_params), params)
            new_buffers = plan.constrain(list(new_buffers), buffers)
            opt_states = tuple(
                plan.constrain(s, plan.opt_state_shardings(s, *spec_shapes))
                for s, spec_shapes in zip(opt_states, per_opt, strict=True)
            )
            return new_params, new_buffers, opt_states

        return layout

    def _place_inputs(self, inputs: list, *, axis: int = 0, strict: bool = True) -> list:
        if self.plan is None:
            return inputs
        return self.plan.place_batch(inputs, axis=axis, strict=strict)

    @property
    def mesh(self):
        """The JAX mesh this model runs on (None: one device)."""
        return None if self.plan is None else self.plan.mesh

    def state_bytes_per_device(self) -> dict[str, int]:
        """Bytes of parameters, buffers and optimizer state each device holds."""
        state = self.state
        return bytes_per_device((state["params"], state["buffers"], state["opt_state"]))


__all__ = ["ShardingMixin", "make_plan"]
