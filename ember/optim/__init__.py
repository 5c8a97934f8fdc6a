"""`ember.optim`: PyTorch-style optimizers built on optax, and LR schedulers."""

from ember.runtime.optim import *  # noqa: F401,F403
from ember.runtime.optim import lr_scheduler  # noqa: F401
