"""RNNCell, LSTMCell, GRUCell: one time step, PyTorch's names, layouts and init.

Inputs are (N, input_size) or unbatched (input_size,); a missing state is zeros.
"""

from __future__ import annotations

from ember.errors import ShapeError
from ember.nn import functional as F
from ember.nn import init
from ember.nn.functional._core import as_tensor
from ember.nn.module import Module
from ember.nn.modules._checks import check_size
from ember.nn.modules._recurrent import CELLS, check_state, rnn_mode, zeros
from ember.nn.parameter import Parameter


class RNNCellBase(Module):
    """Parameters `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`, all U(±1/sqrt(hidden_size))."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        check_size(type(self).__name__, "input_size", input_size)
        check_size(type(self).__name__, "hidden_size", hidden_size)
        self.mode, self.input_size, self.hidden_size, self.bias = (
            mode,
            input_size,
            hidden_size,
            bias,
        )
        gate_size = CELLS[mode][1] * hidden_size
        bound = init.fan_in_uniform(hidden_size)
        self.weight_ih = Parameter(shape=(gate_size, input_size), dtype=dtype, init=bound)
        self.weight_hh = Parameter(shape=(gate_size, hidden_size), dtype=dtype, init=bound)
        if bias:
            self.bias_ih = Parameter(shape=(gate_size,), dtype=dtype, init=bound)
            self.bias_hh = Parameter(shape=(gate_size,), dtype=dtype, init=bound)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        for weight in self.parameters():
            weight.set_initializer(init.fan_in_uniform(self.hidden_size))

    def _states(self, input, hx, count: int) -> tuple:
        """(x, states, batched) with the input and states made 2-D (N, size)."""
        x = as_tensor(input)
        name = type(self).__name__
        if x.ndim not in (1, 2):
            raise x.builder.error(
                ShapeError(
                    f"{name}: Expected input to be 1D or 2D, got "
                    f"{x.ndim}D instead (shape {tuple(x.shape)})"
                )
            )
        if x.shape[-1] != self.input_size:
            raise x.builder.error(
                ShapeError(
                    f"{name}: input has {x.shape[-1]} features (shape {tuple(x.shape)}) but "
                    f"input_size={self.input_size}; fix: pass inputs of shape "
                    f"(N, {self.input_size})"
                )
            )
        batched = x.ndim == 2
        if not batched:
            x = x.unsqueeze(0)
        if hx is None:
            return x, [zeros(x, (x.shape[0], self.hidden_size)) for _ in range(count)], batched
        states = [as_tensor(s, x.builder) for s in (hx if count > 1 else (hx,))]
        if not batched:
            states = [s.unsqueeze(0) if s.ndim == 1 else s for s in states]
        for k, s in enumerate(states):
            check_state(
                name, s, (x.shape[0], self.hidden_size), f"hidden[{k}]" if count > 1 else "hidden"
            )
        return x, states, batched

    def _step(self, input, hx, count: int):
        x, states, batched = self._states(input, hx, count)
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        out = CELLS[self.mode][0](
            gi, tuple(states) if count > 1 else states[0], self.weight_hh, self.bias_hh
        )
        out = out if count > 1 else (out,)
        if not batched:
            out = tuple(o.squeeze(0) for o in out)
        return out if count > 1 else out[0]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias is True else s + f", bias={self.bias}"


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    >>> cell = nn.RNNCell(10, 20)
    >>> h = cell(x, h)                # x: (N, 10), h: (N, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ):
        super().__init__(rnn_mode(nonlinearity), input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, hx, 1)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTMCell(RNNCellBase):
    """One LSTM step; returns `(h', c')`.

    >>> cell = nn.LSTMCell(10, 20)
    >>> h, c = cell(x, (h, c))
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, 2)


class GRUCell(RNNCellBase):
    """One GRU step; returns h'.

    >>> cell = nn.GRUCell(10, 20)
    >>> h = cell(x, h)
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, 1)
