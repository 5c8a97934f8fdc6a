"""`ember.nn`: Module, Parameter, layers and losses with PyTorch's names."""

from ember.graphdef.layers import *  # noqa: F401,F403
from ember.graphdef.module import Module  # noqa: F401
from ember.graphdef.parameter import Parameter  # noqa: F401

from . import functional, init  # noqa: F401
