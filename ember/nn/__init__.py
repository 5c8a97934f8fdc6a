"""`ember.nn`: Module, Parameter, layers and losses with PyTorch's names."""

from ember.nn import functional, init, parallel, utils  # noqa: F401
from ember.nn.module import Module  # noqa: F401
from ember.nn.modules import *  # noqa: F401,F403
from ember.nn.parallel import DataParallel  # noqa: F401
from ember.nn.parameter import Parameter  # noqa: F401
