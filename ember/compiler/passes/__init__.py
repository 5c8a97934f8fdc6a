"""Graph -> Graph passes, one per file, and the pipeline that runs them."""

from .eliminate_common_subexpressions import eliminate_common_subexpressions  # noqa: F401
from .eliminate_dead_code import eliminate_dead_code  # noqa: F401
from .functionalize_buffers import functionalize_buffers  # noqa: F401
from .pipeline import DEFAULT_PASSES, EVAL_PASSES, run_passes  # noqa: F401
from .specialize_for_eval import specialize_for_eval  # noqa: F401
