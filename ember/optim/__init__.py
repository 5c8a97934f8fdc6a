"""PyTorch-style optimizers that compile to optax transforms (see `base`)."""

from ember.optim import lr_scheduler, swa_utils  # noqa: F401  (optim.*, as in torch)
from ember.optim.adafactor import Adafactor
from ember.optim.adagrad import Adadelta, Adagrad
from ember.optim.adam import Adam, Adamax, AdamW, NAdam, RAdam
from ember.optim.asgd import ASGD
from ember.optim.base import Optimizer, OptimizerState, ParamGroup
from ember.optim.lbfgs import LBFGS
from ember.optim.optax_native import LAMB, Lion, OptaxAdafactor, OptaxOptimizer
from ember.optim.param_selection import param_groups, select_params
from ember.optim.rmsprop import RMSprop
from ember.optim.rprop import Rprop
from ember.optim.rule import RuleOptimizer, RuleState
from ember.optim.sgd import SGD

__all__ = [
    "ASGD",
    "LAMB",
    "LBFGS",
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
    "Rprop",
    "RuleOptimizer",
    "RuleState",
    "param_groups",
    "select_params",
]
