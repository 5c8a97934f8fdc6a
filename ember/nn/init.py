"""`ember.nn.init`: PyTorch's initializers (in place on Parameters, lazy-aware)."""

from ember.graphdef.init import *  # noqa: F401,F403
