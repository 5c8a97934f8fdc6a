"""`ember.nn.functional`: the functional ops, PyTorch names and arguments."""

from ember.graphdef.functional import *  # noqa: F401,F403
from ember.graphdef.functional import (  # noqa: F401
    all,
    any,
    max,
    min,
    pow,
    round,
    sum,
)
