"""The layer library (`ember.nn`)."""

from .activation import *  # noqa: F401,F403
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d  # noqa: F401
from .linear import Bilinear, Identity, Linear  # noqa: F401
from .loss import CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .shape import Flatten, Unflatten  # noqa: F401
