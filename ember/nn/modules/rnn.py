"""RNN, LSTM, GRU: multi-layer, optionally bidirectional recurrent layers built on `em.scan`.

PyTorch's constructor arguments, parameter names (`weight_ih_l0`,
`weight_hh_l0_reverse`, `bias_ih_l1`, `weight_hr_l0`, ...), layouts, default
init U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) and return values
(`output, h_n` / `output, (h_n, c_n)`). Each layer and direction is one
`linear` over the whole sequence (the input projection) and one `scan` whose
body is the cell step, so the IR shows the recurrence readably.
A `PackedSequence` (`nn.utils.rnn`) runs masked: each sequence keeps its state once it
has ended and outputs zeros there, PyTorch's results without reordering the batch.
"""

from __future__ import annotations

import warnings

from ember.errors import ShapeError
from ember.nn import functional as F
from ember.nn import init
from ember.nn.functional._core import as_tensor
from ember.nn.module import Module
from ember.nn.modules._recurrent import CELLS, check_state, rnn_mode, zeros
from ember.nn.parameter import Parameter
from ember.nn.utils.rnn import PackedSequence


class RNNBase(Module):
    """Shared constructor, parameters and forward of RNN, LSTM and GRU."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                f"{name}: dropout should be a number in range [0, 1] representing the "
                f"probability of an element being zeroed, got {dropout}"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so "
                f"non-zero dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if not isinstance(input_size, int) or input_size <= 0:
            raise ValueError(f"{name}: input_size must be a positive integer, got {input_size}")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive integer, got {hidden_size}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers}")
        if proj_size < 0:
            raise ValueError(
                f"{name}: proj_size should be a positive integer or zero to disable "
                f"projections, got {proj_size}"
            )
        if proj_size >= hidden_size:
            raise ValueError(
                f"{name}: proj_size has to be smaller than hidden_size, got "
                f"proj_size={proj_size} and hidden_size={hidden_size}"
            )
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        self._flat_weights_names: list[str] = []
        gate_size = CELLS[mode][1] * hidden_size
        real_hidden = proj_size or hidden_size
        num_directions = 2 if bidirectional else 1
        bound = init.fan_in_uniform(hidden_size)  # U(-1/sqrt(hidden), 1/sqrt(hidden)) for all
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * num_directions
            for direction in range(num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, real_hidden),
                }
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for kind, shape in shapes.items():
                    setattr(self, kind + sfx, Parameter(shape=shape, dtype=dtype, init=bound))
                    self._flat_weights_names.append(kind + sfx)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[k : k + per]] for k in range(0, len(names), per)]

    def reset_parameters(self) -> None:
        for weight in self.parameters():
            weight.set_initializer(init.fan_in_uniform(self.hidden_size))

    def flatten_parameters(self) -> None:
        """A cuDNN memory-layout hint in PyTorch; nothing to do here."""

    # -- forward ------------------------------------------------------------------------
    def _weights(self, layer: int, direction: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        get = lambda kind: getattr(self, kind + sfx, None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")

    def _check_input(self, x):
        name = type(self).__name__
        if x.ndim not in (2, 3):
            raise x.builder.error(
                ShapeError(
                    f"{name}: Expected input to be 2D or 3D, got "
                    f"{x.ndim}D tensor {tuple(x.shape)} instead"
                )
            )
        if x.shape[-1] != self.input_size:
            raise x.builder.error(
                ShapeError(
                    f"{name}: input.size(-1) must be equal to input_size. Expected "
                    f"{self.input_size}, got {x.shape[-1]} (input shape {tuple(x.shape)})"
                )
            )

    def _initial_states(self, hx, x, batched: bool, batch: int) -> list:
        """The initial states as time-major batched tensors: [h0] or [h0, c0]."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        sizes = [self.proj_size or self.hidden_size]
        if self.mode == "LSTM":
            sizes.append(self.hidden_size)
        if hx is None:
            return [zeros(x, (layers, batch, size)) for size in sizes]
        states = list(hx) if self.mode == "LSTM" else [hx]
        if len(states) != len(sizes):
            raise x.builder.error(
                ShapeError(
                    f"{type(self).__name__}: hx must be a tuple (h_0, "
                    f"c_0), got {len(states)} tensor(s)"
                )
            )
        states = [as_tensor(s, x.builder) for s in states]
        want = 3 if batched else 2
        if any(s.ndim != want for s in states):
            dims = ", ".join(f"{s.ndim}-D" for s in states)
            raise x.builder.error(
                ShapeError(
                    f"{type(self).__name__}: for {'batched 3-D' if batched else 'unbatched 2-D'} "
                    f"input, the initial states should also be {want}-D but got ({dims}) tensors"
                )
            )
        if not batched:
            states = [s.unsqueeze(1) for s in states]
        what = ("hidden[0]", "hidden[1]") if self.mode == "LSTM" else ("hidden",)
        for s, size, w in zip(states, sizes, what, strict=False):
            check_state(type(self).__name__, s, (layers, batch, size), w)
        return states

    def forward(self, input, hx=None):
        packed = input if isinstance(input, PackedSequence) else None
        x = packed.data if packed is not None else as_tensor(input)
        self._check_input(x)
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first and packed is None:
            x = x.transpose(0, 1)
        mask = packed.step_mask() if packed is not None else None
        states = self._initial_states(hx, x, batched, x.shape[1])
        step = CELLS[self.mode][0]
        directions = 2 if self.bidirectional else 1
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
                index = layer * directions + direction
                init_state = tuple(s[index] for s in states)
                gates = F.linear(x, w_ih, b_ih)
                final, ys = F.scan(
                    _cell_body(step, w_hh, b_hh, w_hr, len(states), masked=mask is not None),
                    init_state if len(states) > 1 else init_state[0],
                    gates if mask is None else (gates, mask),
                    reverse=bool(direction),
                )
                final = final if len(states) > 1 else (final,)
                for acc, value in zip(finals, final, strict=True):
                    acc.append(value)
                outputs.append(ys)
            x = outputs[0] if directions == 1 else F.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        if packed is not None:
            x = PackedSequence(x, packed.lengths)
        elif not batched:
            x = x.squeeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        hidden = [F.stack(acc, 0) for acc in finals]
        if not batched:
            hidden = [h.squeeze(1) for h in hidden]
        return x, (tuple(hidden) if self.mode == "LSTM" else hidden[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


def _cell_body(step, w_hh, b_hh, w_hr, num_states: int, masked: bool = False):
    """The scan body for one layer and direction: (state, gates of x_t) -> (state, h_t).
    `masked`: the input is (gates, inside) and a step outside its sequence keeps the state
    and outputs zeros (packed sequences)."""

    def cell(state, inputs):
        gates, inside = inputs if masked else (inputs, None)
        new = step(gates, state, w_hh, b_hh, w_hr)
        if inside is not None:
            new = (
                tuple(F.where(inside, n, s) for n, s in zip(new, state, strict=True))
                if num_states > 1
                else F.where(inside, new, state)
            )
        out = new[0] if num_states > 1 else new
        return new, (out if inside is None else F.where(inside, out, 0.0))

    cell.__name__ = step.__name__  # the sub-graph is named after the cell: lstm_cell, ...
    return cell


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    >>> rnn = nn.RNN(10, 20, num_layers=2)
    >>> output, h_n = rnn(x)          # x: (L, N, 10) -> output (L, N, 20), h_n (2, N, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__(
            rnn_mode(nonlinearity),
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
        )
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; returns `output, (h_n, c_n)`. `proj_size > 0` projects h.

    >>> lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True, batch_first=True)
    >>> output, (h_n, c_n) = lstm(x)  # x: (N, L, 10) -> output (N, L, 40)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )


class GRU(RNNBase):
    """Gated recurrent unit; returns `output, h_n`.

    >>> gru = nn.GRU(10, 20)
    >>> output, h_n = gru(x, h0)      # x: (L, N, 10), h0: (1, N, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
        )
