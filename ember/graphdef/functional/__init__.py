"""The functional op library (`ember.nn.functional`, and `em.*` for tensor ops)."""

from .activation import (  # noqa: F401
    celu, elu, gelu, glu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax, logsigmoid,
    mish, prelu, relu, relu6, selu, silu, softmax, softmin, softplus, softsign, threshold,
)
from .dropout import alpha_dropout, dropout, dropout1d, dropout2d, dropout3d  # noqa: F401
from .elementwise import *  # noqa: F401,F403
from .elementwise import (  # noqa: F401
    add, clamp, clip, div, divide, lerp, mul, nan_to_num, pow, round, stop_gradient, sub,
    subtract, to, type_as, where,
)
from .indexing import gather, index_select, masked_fill, take_along_dim  # noqa: F401
from .linalg import (  # noqa: F401
    addmm, baddbmm, bilinear, bmm, einsum, ger, linear, matmul, mm, outer,
)
from .loss import cross_entropy, l1_loss, mse_loss, nll_loss  # noqa: F401
from .reduction import (  # noqa: F401
    all, amax, amin, any, argmax, argmin, cumprod, cumsum, logsumexp, max, mean, min, norm,
    prod, std, sum, var,
)
from .shape import (  # noqa: F401
    broadcast_to, cat, chunk, concat, concatenate, expand, expand_as, flatten, flip, movedim,
    moveaxis, narrow, permute, repeat, reshape, roll, split, squeeze, stack, t, tile, transpose,
    tril, triu, unbind, unflatten, unsqueeze, view, view_as,
)
