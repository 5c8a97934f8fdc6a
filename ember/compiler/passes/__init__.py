"""Graph -> Graph passes, one per file, and the pipeline that runs them."""

from ember.compiler.passes.eliminate_common_subexpressions import (  # noqa: F401
    eliminate_common_subexpressions,
)
from ember.compiler.passes.eliminate_dead_code import eliminate_dead_code  # noqa: F401
from ember.compiler.passes.functionalize_buffers import functionalize_buffers  # noqa: F401
from ember.compiler.passes.pipeline import (  # noqa: F401
    DEFAULT_PASSES,
    EVAL_PASSES,
    passes_for,
    run_passes,
)
from ember.compiler.passes.scan_repeated_blocks import scan_repeated_blocks  # noqa: F401
from ember.compiler.passes.specialize_for_eval import specialize_for_eval  # noqa: F401
