"""Learning-rate schedulers with PyTorch's names, arguments and stepping semantics.

A scheduler only reads and writes `optimizer.param_groups` (`"lr"`, `"initial_lr"`
and, for the cycling schedulers, `"momentum"` / `"betas"`), so it works with any
ember optimizer: the optimizer notices the change and the runtime refreshes the
hyperparameters in the compiled step's state without recompiling.

Like PyTorch, the constructor performs the initial step (so `get_last_lr()` is the
lr for epoch 0), `step()` advances one epoch or one batch, whichever the caller
means by it, and the values are plain Python floats that match `torch.optim`'s
to the last bit or so. `state_dict()` holds only JSON-able values (lambdas are
not saved, callable objects save their `__dict__`); nothing executable is stored.

`base` holds the scheduler base class and the single-formula schedulers; `compound`
the compound (`SequentialLR`, `ChainedScheduler`), cyclic (`OneCycleLR`,
`CyclicLR`) and metric-driven (`ReduceLROnPlateau`) ones.
"""

from ember.optim.lr_scheduler.base import *  # noqa: F401,F403
from ember.optim.lr_scheduler.base import LRScheduler  # noqa: F401
from ember.optim.lr_scheduler.base import __all__ as _BASE
from ember.optim.lr_scheduler.compound import *  # noqa: F401,F403
from ember.optim.lr_scheduler.compound import __all__ as _COMPOUND

__all__ = [*_BASE, *_COMPOUND]
