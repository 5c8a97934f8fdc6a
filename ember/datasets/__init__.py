"""`ember.datasets`: MNIST (IDX) and text loaders with checksums and an offline fallback."""

from ember.runtime.datasets import *  # noqa: F401,F403
