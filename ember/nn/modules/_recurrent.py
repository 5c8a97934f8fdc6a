"""One time step of each recurrent cell, shared by nn.RNN/LSTM/GRU and their Cell layers.

Each step takes `gi = x W_ih^T + b_ih` precomputed (the layers compute it for
the whole sequence with one matmul, outside the scan) and the previous
state, and follows PyTorch's formulas and gate order (LSTM: i, f, g, o;
GRU: r, z, n), so results match it to rounding.
"""

from __future__ import annotations

from collections.abc import Callable

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn import functional as F
from ember.nn.functional._core import active_builder, constant


def _hidden(gi: Tensor, h: Tensor, w_hh, b_hh) -> Tensor:
    return gi + F.linear(h, w_hh, b_hh)


def rnn_tanh_cell(gi, h, w_hh, b_hh, w_hr=None):
    return F.tanh(_hidden(gi, h, w_hh, b_hh))


def rnn_relu_cell(gi, h, w_hh, b_hh, w_hr=None):
    return F.relu(_hidden(gi, h, w_hh, b_hh))


def lstm_cell(gi, state, w_hh, b_hh, w_hr=None):
    h, c = state
    i, f, g, o = _hidden(gi, h, w_hh, b_hh).chunk(4, -1)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h = F.sigmoid(o) * F.tanh(c)
    if w_hr is not None:  # LSTM with projections (proj_size > 0)
        h = F.linear(h, w_hr)
    return h, c


def gru_cell(gi, h, w_hh, b_hh, w_hr=None):
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = F.sigmoid(i_r + h_r)
    z = F.sigmoid(i_z + h_z)
    n = F.tanh(i_n + r * h_n)
    return n + z * (h - n)  # = (1 - z) * n + z * h, in PyTorch's rounding order


# mode -> (step, number of gate blocks in weight_ih/weight_hh)
CELLS: dict[str, tuple[Callable, int]] = {
    "RNN_TANH": (rnn_tanh_cell, 1),
    "RNN_RELU": (rnn_relu_cell, 1),
    "LSTM": (lstm_cell, 4),
    "GRU": (gru_cell, 3),
}
NONLINEARITY = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}


def rnn_mode(nonlinearity: str) -> str:
    if nonlinearity not in NONLINEARITY:
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    return NONLINEARITY[nonlinearity]


def zeros(like: Tensor, shape: tuple) -> Tensor:
    """A zero initial state in `like`'s dtype."""
    return constant(active_builder(like), 0.0, like.dtype, shape)


def check_state(name: str, h: Tensor, expected: tuple, what: str = "hidden") -> None:
    if tuple(h.shape) != tuple(expected):
        raise h.builder.error(
            ShapeError(
                f"{name}: Expected {what} size {tuple(expected)}, got {list(h.shape)}; "
                f"fix: pass a state of shape {tuple(expected)}"
            )
        )
