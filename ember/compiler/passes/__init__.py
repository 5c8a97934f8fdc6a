"""Graph -> Graph passes, one per file, and the pipeline that runs them."""

from ember.compiler.passes.eliminate_common_subexpressions import (  # noqa: F401
    eliminate_common_subexpressions,
)
from ember.compiler.passes.eliminate_dead_code import eliminate_dead_code  # noqa: F401
from ember.compiler.passes.functionalize_buffers import functionalize_buffers  # noqa: F401
from ember.compiler.passes.pipeline import DEFAULT_PASSES, EVAL_PASSES, run_passes  # noqa: F401
from ember.compiler.passes.specialize_for_eval import specialize_for_eval  # noqa: F401
