"""Graph -> fast JAX: passes, the lowering table, step assembly."""

from ember.compiler.lower import LoweredGraph, lower  # noqa: F401
from ember.compiler.lowering import LOWERING, register_lowering  # noqa: F401
from ember.compiler.passes import (  # noqa: F401
    DEFAULT_PASSES,
    EVAL_PASSES,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    functionalize_buffers,
    passes_for,
    run_passes,
    scan_repeated_blocks,
    specialize_for_eval,
)
from ember.training.steps import (  # noqa: F401
    build_eval_step,
    build_predict_step,
    build_train_step,
)
