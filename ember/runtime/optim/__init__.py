"""PyTorch-style optimizers that compile to optax transforms (see `base`)."""

from .adafactor import Adafactor
from .adagrad import Adadelta, Adagrad
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .base import Optimizer, OptimizerState, ParamGroup, RuleOptimizer, RuleState
from .optax_native import LAMB, Lion, OptaxAdafactor, OptaxOptimizer
from .param_selection import param_groups, select_params
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "LAMB",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "NAdam",
    "OptaxAdafactor",
    "OptaxOptimizer",
    "Optimizer",
    "OptimizerState",
    "ParamGroup",
    "RAdam",
    "RMSprop",
    "RuleOptimizer",
    "RuleState",
    "param_groups",
    "select_params",
]
