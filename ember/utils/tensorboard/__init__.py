"""`ember.utils.tensorboard`: `SummaryWriter`, PyTorch's TensorBoard writer for ember values.

The `tensorboard` package is imported only when a `SummaryWriter` is made, so `import ember`
does not need it (`pip install tensorboard` or `pip install "ember[tensorboard]"`).
"""

from ember.utils.tensorboard.writer import SummaryWriter

__all__ = ["SummaryWriter"]
