"""`nn.utils.rnn`: padded batches of variable-length sequences for RNN, LSTM and GRU.

A `PackedSequence` here keeps the padded, time-major batch and the lengths: the
recurrent layers run over every step and keep each sequence's state (and a zero output)
once it has ended, which gives PyTorch's outputs and final states without reordering
the batch (`enforce_sorted=False` needs no sort). `.data` is the padded tensor, not
PyTorch's flat step-major data.

>>> packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
>>> out, h = lstm(packed)
>>> out, lengths = pad_packed_sequence(out, batch_first=True)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ember.errors import TraceError
from ember.frontend.tensor import Tensor
from ember.nn import functional as F
from ember.nn.functional._core import as_tensor


class PackedSequence(NamedTuple):
    data: Tensor  # (T, B, *) padded, time-major
    lengths: Tensor  # (B,) int32

    def step_mask(self) -> Tensor:
        """(T, B, 1) bool: step t of sequence b is inside it."""
        steps = F.arange(self.data.shape[0], dtype="int32").unsqueeze(1)
        return (steps < self.lengths.unsqueeze(0)).unsqueeze(-1)


def _host_lengths(lengths: Any) -> np.ndarray | None:
    if isinstance(lengths, Tensor):
        try:
            return np.asarray(lengths.numpy()).astype(np.int64)
        except TraceError:  # inside a traced step the lengths are data
            return None
    return np.asarray(lengths, dtype=np.int64)


def pack_padded_sequence(
    input: Any, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    x = as_tensor(input)
    if batch_first:
        x = x.transpose(0, 1)
    host = _host_lengths(lengths)
    if host is not None:
        if host.ndim != 1 or host.shape[0] != x.shape[1]:
            raise ValueError(
                f"pack_padded_sequence: {host.shape[0] if host.ndim else 0} lengths for a "
                f"batch of {x.shape[1]} sequences (input shape {tuple(as_tensor(input).shape)})"
            )
        if (host <= 0).any() or (host > x.shape[0]).any():
            raise ValueError(
                f"pack_padded_sequence: lengths must be in [1, {x.shape[0]}], got {host.tolist()}"
            )
        if enforce_sorted and (np.diff(host) > 0).any():
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability."
            )
        return PackedSequence(x, as_tensor(host.astype(np.int32)))
    return PackedSequence(x, as_tensor(lengths).to("int32"))


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    x = sequence.data
    if padding_value != 0.0:
        x = F.where(sequence.step_mask(), x, padding_value)
    if total_length is None:  # PyTorch's: the longest sequence (inside a trace: all steps)
        host = _host_lengths(sequence.lengths)
        steps = None if host is None else int(host.max())
    else:
        steps = total_length
    if steps is not None and steps < x.shape[0]:
        x = x[:steps]
    elif steps is not None and steps > x.shape[0]:
        extra = [0, 0] * (x.ndim - 1) + [0, steps - x.shape[0]]
        x = F.pad(x, extra, value=padding_value)
    return (x.transpose(0, 1) if batch_first else x), sequence.lengths


def pad_sequence(
    sequences: list,
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    seqs = [as_tensor(s) for s in sequences]
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        gap = longest - s.shape[0]
        where = [gap, 0] if padding_side == "left" else [0, gap]
        padded.append(F.pad(s, [0, 0] * (s.ndim - 1) + where, value=padding_value))
    return F.stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences: list, enforce_sorted: bool = True) -> PackedSequence:
    lengths = [as_tensor(s).shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
]
