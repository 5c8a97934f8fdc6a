"""`F.embedding`, `F.embedding_bag`, `F.one_hot`: lookups composed from `index_select`.

PyTorch's `max_norm` renormalizes the looked-up rows of the weight in place
(under no_grad). A traced graph cannot modify a parameter, so ember renormalizes
the looked-up rows in the forward computation instead: outputs and gradients
match PyTorch, but the stored weight is not rewritten.
`sparse=True` is accepted and gives dense gradients.
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError, TraceError, UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor, constant
from ember.nn.functional.creation import arange
from ember.nn.functional.elementwise import maximum, where
from ember.nn.functional.indexing import index_select
from ember.nn.functional.reduction import norm
from ember.nn.functional.scatter import scatter_add, scatter_reduce

__all__ = ["embedding", "embedding_bag", "one_hot"]

_MODES = ("sum", "mean", "max")


def _weight(op: str, weight) -> Tensor:
    w = as_tensor(weight)
    if w.ndim != 2:
        raise w.builder.error(
            ShapeError(
                f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape {w.shape}"
            )
        )
    return w


def _indices(op: str, input, w: Tensor) -> Tensor:
    idx = as_tensor(input, w.builder)
    if not dtypes.is_integer(idx.dtype):
        raise w.builder.error(
            DTypeError(
                f"{op}: indices must be an integer tensor, got {idx.dtype} with shape {idx.shape}; "
                "fix: cast with .long() or .int()"
            )
        )
    return idx


def _padding_index(padding_idx: int | None, num_embeddings: int) -> int | None:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"padding_idx={padding_idx} must be within num_embeddings={num_embeddings}"
        )
    return padding_idx % num_embeddings


def _rows(w: Tensor, idx: Tensor) -> Tensor:
    """`w[idx]`: shape idx.shape + (embedding_dim,). Out-of-range indices are clamped."""
    flat = index_select(w, 0, idx.reshape(idx.numel()))
    return flat.reshape(idx.shape + (w.shape[1],))


def _inverse_frequency(idx: Tensor, num_embeddings: int, dtype: str) -> Tensor:
    """1 / (how often each index occurs in `idx`), per element of `idx`."""
    flat = idx.reshape(idx.numel())
    zeros = constant(idx.builder, 0.0, dtype, (num_embeddings,))
    ones = constant(idx.builder, 1.0, dtype, flat.shape)
    counts = scatter_add(zeros, 0, flat, ones)
    return (1.0 / index_select(counts, 0, flat)).reshape(idx.shape)


def _lookup(
    w: Tensor,
    idx: Tensor,
    padding_idx: int | None,
    max_norm: float | None,
    norm_type: float,
    scale_grad_by_freq: bool,
) -> Tensor:
    """Rows of `w` with PyTorch's renorm and gradient rules (padding rows get no gradient)."""
    rows = _rows(w, idx)
    value = rows
    if max_norm is not None:
        norms = norm(rows, norm_type, -1, keepdim=True)
        value = rows * where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    scale = None
    if padding_idx is not None:
        scale = (idx != padding_idx).to(w.dtype)
    if scale_grad_by_freq:
        inv = _inverse_frequency(idx, w.shape[0], w.dtype)
        scale = inv if scale is None else scale * inv
    if value is rows and scale is None:
        return rows
    # forward value `value`; gradient to the weight = incoming gradient * scale, as in PyTorch
    # (renormalized rows pass gradients through unscaled: the renorm is an in-place no_grad op)
    delta = rows - rows.detach()
    if scale is not None:
        delta = delta * scale.unsqueeze(-1)
    return value.detach() + delta


def embedding(
    input,
    weight,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Look up rows of `weight` (num_embeddings, embedding_dim) at integer `input`.

    >>> vectors = F.embedding(token_ids, weight)   # (B, T) -> (B, T, D)
    """
    w = _weight("embedding", weight)
    idx = _indices("embedding", input, w)
    pad = _padding_index(padding_idx, w.shape[0])
    return _lookup(w, idx, pad, max_norm, norm_type, scale_grad_by_freq)


def _bag_weights(rows: Tensor, idx: Tensor, pad: int | None, per_sample_weights):
    """Per-element weights (padding 0, else per_sample_weights or 1) and the valid mask."""
    valid = None if pad is None else idx != pad
    m = None if valid is None else valid.to(rows.dtype)
    if per_sample_weights is not None:
        psw = as_tensor(per_sample_weights, rows.builder).to(rows.dtype)
        m = psw if m is None else m * psw
    return m, valid


def _fixed_bags(rows: Tensor, idx: Tensor, mode: str, pad: int | None, psw) -> Tensor:
    """2-D input: bags of equal length L, reduced over dim 1."""
    m, valid = _bag_weights(rows, idx, pad, psw)
    length = idx.shape[1]
    count = None if valid is None else valid.to(rows.dtype).sum(1, keepdim=True)
    if mode == "max":
        if length == 0:
            return constant(rows.builder, 0.0, rows.dtype, (idx.shape[0], rows.shape[-1]))
        if valid is None:
            return rows.amax(1)
        out = where(valid.unsqueeze(-1), rows, float("-inf")).amax(1)
        return where(count > 0, out, 0.0)  # bags of padding only give 0, as in PyTorch
    total = (rows if m is None else rows * m.unsqueeze(-1)).sum(1)
    if mode == "sum":
        return total
    return total / (max(length, 1) if count is None else maximum(count, 1.0))


def _offset_bags(
    rows: Tensor, idx: Tensor, offsets, include_last_offset: bool, mode: str, pad: int | None, psw
) -> Tensor:
    """1-D input split into bags at `offsets` (values known only at run time)."""
    b = rows.builder
    offs = as_tensor(offsets, b)
    if offs.ndim != 1 or not dtypes.is_integer(offs.dtype):
        raise b.error(
            ShapeError(
                f"embedding_bag: offsets must be a 1-D integer tensor, got "
                f"{offs.dtype} with shape {offs.shape}"
            )
        )
    n, dim = rows.shape
    bags = offs.shape[0] - (1 if include_last_offset else 0)
    if bags < 0:
        raise b.error(
            ShapeError("embedding_bag: include_last_offset=True needs at least one offset")
        )
    # bag of element j = (number of offsets <= j) - 1: mark each offset, then cumsum. Offsets
    # equal to n (empty trailing bags) land in an extra slot of `marks`.
    marks = scatter_add(
        constant(b, 0, "int32", (n + 1,)), 0, offs.to("int32"), constant(b, 1, "int32", offs.shape)
    )
    seg = marks[:n].cumsum(0) - 1
    # Elements that belong to no bag go to an extra "discard" bag `bags`, dropped at the end:
    # padding, elements before offsets[0] (-1 here; PyTorch requires offsets[0] == 0), and,
    # with include_last_offset, elements after the last offset (already `bags` here).
    discard = seg < 0
    if pad is not None:
        discard = discard | (idx == pad)
    seg = where(discard, bags, seg)
    seg_rows = seg.unsqueeze(1).broadcast_to((n, dim))
    zeros = constant(b, 0.0, rows.dtype, (bags + 1, dim))
    if mode == "max":  # bags that receive nothing keep the initial 0, as in PyTorch
        out = scatter_reduce(zeros, 0, seg_rows, rows, "amax", include_self=False)
        return out[:bags]
    if psw is not None:
        rows = rows * as_tensor(psw, b).to(rows.dtype).unsqueeze(1)
    total = scatter_add(zeros, 0, seg_rows, rows)[:bags]
    if mode == "sum":
        return total
    counts = scatter_add(
        constant(b, 0.0, rows.dtype, (bags + 1,)), 0, seg, constant(b, 1.0, rows.dtype, (n,))
    )
    return total / maximum(counts[:bags], 1.0).unsqueeze(1)


def embedding_bag(
    input,
    weight,
    offsets=None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights=None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sum, mean or max of embedding rows per bag: 2-D input (B, L), or 1-D input with offsets.

    Entries equal to `padding_idx` are left out of every bag (and of the mean's count);
    empty bags give zeros.
    """
    if mode not in _MODES:
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError(
            "embedding_bag: max mode does not support scaling the gradient by the frequency"
        )
    w = _weight("embedding_bag", weight)
    idx = _indices("embedding_bag", input, w)
    if per_sample_weights is not None:
        if mode != "sum":
            raise w.builder.error(
                UnsupportedOpError(
                    f"embedding_bag: per_sample_weights is only supported for mode='sum' "
                    f"(got mode={mode!r})"
                )
            )
        if tuple(per_sample_weights.shape) != idx.shape:
            raise w.builder.error(
                ShapeError(
                    f"embedding_bag: per_sample_weights of shape {tuple(per_sample_weights.shape)} "
                    f"must have the same shape as the input {idx.shape}"
                )
            )
    pad = _padding_index(padding_idx, w.shape[0])
    rows = _lookup(w, idx, pad, max_norm, norm_type, scale_grad_by_freq)
    if idx.ndim == 2:
        if offsets is not None:
            raise w.builder.error(
                ShapeError(
                    f"embedding_bag: a 2-D input {idx.shape} is a batch of fixed-length bags, so "
                    "offsets has to be None; fix: pass a 1-D input with offsets, or no offsets"
                )
            )
        return _fixed_bags(rows, idx, mode, pad, per_sample_weights)
    if idx.ndim == 1:
        if offsets is None:
            raise w.builder.error(
                ShapeError(
                    f"embedding_bag: a 1-D input {idx.shape} needs offsets (the start of each "
                    "bag); fix: pass offsets, or a 2-D input of fixed-length bags"
                )
            )
        return _offset_bags(rows, idx, offsets, include_last_offset, mode, pad, per_sample_weights)
    raise w.builder.error(
        ShapeError(f"embedding_bag: input has to be 1-D or 2-D, got shape {idx.shape}")
    )


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """`(..., num_classes)` with a 1 at each index: int32 (int64 for int64 input).

    `num_classes` is required: PyTorch's -1 (max + 1) depends on the data.
    Indices outside [0, num_classes) give all-zero rows (PyTorch raises).
    """
    x = as_tensor(tensor)
    if not dtypes.is_integer(x.dtype):
        raise x.builder.error(
            DTypeError(
                f"one_hot: expects an integer (index) tensor, got {x.dtype}; fix: cast with .long()"
            )
        )
    if num_classes < 0:
        raise x.builder.error(
            TraceError(
                "one_hot: num_classes=-1 means max(tensor) + 1, a data-dependent size that is not "
                "known while tracing; fix: pass num_classes explicitly, e.g. "
                "F.one_hot(y, num_classes=10)"
            )
        )
    classes = arange(int(num_classes), dtype=x.dtype)
    out_dtype = "int64" if x.dtype == "int64" else dtypes.DEFAULT_INT
    return (x.unsqueeze(-1) == classes).to(out_dtype)
