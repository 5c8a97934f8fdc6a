"""`model.memory_analysis(x, y)`: XLA's memory figures for the compiled train step."""

from __future__ import annotations

MEMORY_FIELDS = (
    "argument_size_in_bytes",
    "output_size_in_bytes",
    "alias_size_in_bytes",
    "temp_size_in_bytes",
    "generated_code_size_in_bytes",
)


class MemoryMixin:
    """Adds `memory_analysis` to CompiledModel (uses its step lookup and arguments)."""

    def memory_analysis(self, x, y=None, sample_weight=None) -> dict[str, int]:
        """XLA's memory analysis of the train step for a batch like `(x, y)`, in bytes.

        `temp_size_in_bytes` is what the step needs besides its inputs and outputs:
        mostly the activations kept for the backward pass, which rematerialisation
        (`em.compile(..., remat={...})`) trades for recomputation. Compiles the step
        ahead of time; runs nothing and changes no state.

        >>> model.memory_analysis(x, y)["temp_size_in_bytes"]
        """
        tree = self._tree("train", x, y, sample_weight)
        step, inputs = self._lookup("train", tree, None)
        args = self._step_args(self._place_inputs(inputs))
        stats = step.lower(*args).compile().memory_analysis()
        return {name: int(getattr(stats, name)) for name in MEMORY_FIELDS}
